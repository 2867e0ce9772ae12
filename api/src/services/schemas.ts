import { Type } from "typebox";
import type { Static } from "typebox";

/** A service id: the provider's slug, e.g. "weather-api". */
export const ServiceId = Type.String({ pattern: "^[a-z0-9][a-z0-9-]{2,63}$", description: "lowercase letters, digits and dashes, 3–64 long" });
/** Categories, tags and capabilities: short lowercase tokens. */
export const Token = Type.String({ pattern: "^[a-z0-9][a-z0-9._-]{0,47}$" });
/** USDC atomic units as a decimal string (range-checked to 2^128 − 1 by the handler). */
export const Amount = Type.String({ pattern: "^(0|[1-9][0-9]{0,38})$", description: "USDC atomic units, decimal" });
export const Uint256 = Type.String({ pattern: "^(0|[1-9][0-9]{0,77})$", description: "decimal" });
export const UnixSeconds = Type.String({ pattern: "^[0-9]{1,20}$", description: "Unix seconds, decimal" });
export const AddressString = Type.String({ pattern: "^0x[0-9a-fA-F]{40}$" });
export const SignatureHex = Type.String({ pattern: "^0x[0-9a-fA-F]{130}$", description: "65-byte ECDSA signature" });
export const Pricing = Type.Union([Type.Literal("fixed"), Type.Literal("metered")]);
const TokenList = Type.Array(Token, { maxItems: 16, uniqueItems: true });
/** JSON text, as signed; "" when absent. */
const ExampleText = Type.String({ maxLength: 16_384 });

/**
 * How the service is called, for x402 discovery (the `bazaar` extension of its 402 and its listing).
 * Not part of the signed message: it describes the service, and neither routes nor prices a call.
 */
export const ServiceDiscoveryFields = Type.Object(
  {
    /** The method of an example call; default POST with an example input, else GET. */
    httpMethod: Type.Optional(Type.Union([
      Type.Literal("GET"),
      Type.Literal("HEAD"),
      Type.Literal("DELETE"),
      Type.Literal("POST"),
      Type.Literal("PUT"),
      Type.Literal("PATCH"),
    ])),
    /** How a POST, PUT or PATCH sends its example input; default json. */
    bodyType: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("form-data"), Type.Literal("text")])),
    /** The path under /v1/proxy/<id> that discovery lists as the resource; default "/". */
    resourcePath: Type.Optional(Type.String({ pattern: "^/[^?#]*$", maxLength: 512 })),
    inputDescription: Type.Optional(Type.String({ maxLength: 2_000 })),
    outputDescription: Type.Optional(Type.String({ maxLength: 2_000 })),
  },
  { additionalProperties: false },
);
export type ServiceDiscoveryFields = Static<typeof ServiceDiscoveryFields>;

/** What a signed request carries besides its message: who signed it, until when, and the signature. */
const SignedFields = {
  provider: AddressString,
  nonce: Uint256,
  deadline: UnixSeconds,
  signature: SignatureHex,
};

/**
 * `POST /v1/services`: the `ServiceRegistration` message (sdk/src/apiTypedData.ts) plus the
 * signature. Omitted optional fields are signed as "" or []. `discovery` is not signed.
 */
export const RegisterServiceBody = Type.Object(
  {
    serviceId: ServiceId,
    name: Type.String({ minLength: 1, maxLength: 100 }),
    description: Type.Optional(Type.String({ maxLength: 2_000 })),
    category: Token,
    tags: Type.Optional(TokenList),
    capabilities: Type.Optional(TokenList),
    upstreamUrl: Type.String({ minLength: 1, maxLength: 2_048 }),
    pricing: Pricing,
    price: Amount,
    maxPrice: Amount,
    usageHeader: Type.Optional(Type.String({ pattern: "^([A-Za-z0-9][A-Za-z0-9-]{0,63})?$" })),
    exampleInput: Type.Optional(ExampleText),
    exampleOutput: Type.Optional(ExampleText),
    discovery: Type.Optional(ServiceDiscoveryFields),
    ...SignedFields,
  },
  { additionalProperties: false },
);
export type RegisterServiceBody = Static<typeof RegisterServiceBody>;

export const ServiceParams = Type.Object({ serviceId: ServiceId });

/** `DELETE /v1/services/:serviceId`: the `ServiceDelisting` message's nonce and deadline, signed. */
export const DelistServiceBody = Type.Object(SignedFields, { additionalProperties: false });

const ReputationView = Type.Object({
  /** 0–1; null when the service has no settled calls and no feedback yet (unrated). */
  score: Type.Union([Type.Number(), Type.Null()]),
  callsServed: Type.Integer(),
  callsFailed: Type.Integer(),
  feedbackCount: Type.Integer(),
});

/** A service as anyone may see it. Never the upstream URL: that is the provider's own endpoint. */
const serviceProperties = {
  id: Type.String(),
  provider: Type.String(),
  name: Type.String(),
  description: Type.String(),
  category: Type.String(),
  tags: Type.Array(Type.String()),
  capabilities: Type.Array(Type.String()),
  pricing: Pricing,
  price: Type.String(),
  maxPrice: Type.String(),
  usageHeader: Type.Union([Type.String(), Type.Null()]),
  exampleInput: Type.Unknown(),
  exampleOutput: Type.Unknown(),
  /** How it is called, as registered (defaults resolved), and the `bazaar` extension built from it. */
  discovery: Type.Object({
    httpMethod: Type.String(),
    bodyType: Type.Union([Type.String(), Type.Null()]),
    resourcePath: Type.String(),
    inputDescription: Type.String(),
    outputDescription: Type.String(),
    bazaar: Type.Unknown(),
  }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
};

export const ServiceView = Type.Object({ ...serviceProperties, reputation: ReputationView });
export type ServiceView = Static<typeof ServiceView>;

/** What registration answers: the service as listed, with its status and the nonce now stored. */
export const RegisteredService = Type.Object({ ...serviceProperties, status: Type.Literal("active"), nonce: Type.String() });

export const DelistedService = Type.Object({ id: Type.String(), status: Type.Literal("delisted"), nonce: Type.String() });

export const ListServicesQuery = Type.Object(
  {
    category: Type.Optional(Token),
    /** Comma-separated; a service must have every one. */
    tags: Type.Optional(Type.String({ pattern: "^[a-z0-9][a-z0-9._-]{0,47}(,[a-z0-9][a-z0-9._-]{0,47}){0,15}$" })),
    capability: Type.Optional(Token),
    provider: Type.Optional(AddressString),
    /** For metered services, compared with the per-call maximum. */
    max_price: Type.Optional(Amount),
    /** Excludes unrated services. */
    min_reputation: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    sort: Type.Optional(Type.Union([Type.Literal("reputation"), Type.Literal("price")])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,512}$" })),
  },
  { additionalProperties: false },
);
export type ListServicesQuery = Static<typeof ListServicesQuery>;

export const ServiceList = Type.Object({
  items: Type.Array(ServiceView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const ErrorResponse = Type.Object({
  code: Type.String(),
  message: Type.String(),
  reason: Type.Optional(Type.String()),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
