import { Type } from "typebox";

import { AddressString, Amount, ServiceId, SignatureHex, UnixSeconds, Uint256 } from "../services/schemas.ts";

/** What every signed team change carries besides its message (the owner is in the path, or the body on creation). */
const SignedFields = { nonce: Uint256, deadline: UnixSeconds, signature: SignatureHex };

export const TeamParams = Type.Object({ address: AddressString });
export const MemberParams = Type.Object({ address: AddressString, member: AddressString });
export const GateParams = Type.Object({ address: AddressString, primary: ServiceId });

/** `POST /v1/teams`: the `TeamCreation` message (sdk/src/teamTypedData.ts) and its signature. */
export const CreateTeamBody = Type.Object({ owner: AddressString, name: Type.String({ minLength: 1, maxLength: 100 }), ...SignedFields }, { additionalProperties: false });

/** Service ids a member may call; "*" = any. */
const AllowedServices = Type.Array(Type.Union([ServiceId, Type.Literal("*")]), { minItems: 1, maxItems: 64, uniqueItems: true });

/** `PUT /v1/teams/:address/members/:member`: a `TeamMember` message; `callCap` "0" = none. */
export const MemberBody = Type.Object({ services: AllowedServices, dailyBudget: Amount, callCap: Amount, ...SignedFields }, { additionalProperties: false });

/** `PUT /v1/teams/:address/members/:member/budget`: a `TeamMemberBudget` message. */
export const BudgetBody = Type.Object({ dailyBudget: Amount, callCap: Amount, ...SignedFields }, { additionalProperties: false });

/** `DELETE …/members/:member` and `DELETE …/gates/:primary`: a removal message. */
export const RemovalBody = Type.Object(SignedFields, { additionalProperties: false });

/** `PUT /v1/teams/:address/gates/:primary`: a `QualityGate` message. */
export const GateBody = Type.Object(
  {
    backup: ServiceId,
    minReliabilityBps: Type.Integer({ minimum: 0, maximum: 10_000 }),
    maxLatencyMs: Type.Integer({ minimum: 1, maximum: 600_000 }),
    windowCalls: Type.Integer({ minimum: 1, maximum: 1_000 }),
    probeIntervalMs: Type.Integer({ minimum: 100, maximum: 86_400_000 }),
    ...SignedFields,
  },
  { additionalProperties: false },
);

const Member = Type.Object({
  member: Type.String(),
  services: Type.Array(Type.String()),
  dailyBudget: Type.String(),
  callCap: Type.Union([Type.String(), Type.Null()]),
});

const Gate = Type.Object({
  primary: Type.String(),
  backup: Type.String(),
  minReliabilityBps: Type.Integer(),
  maxLatencyMs: Type.Integer(),
  windowCalls: Type.Integer(),
  probeIntervalMs: Type.Integer(),
});

export const TeamCreated = Type.Object({ owner: Type.String(), name: Type.String(), nonce: Type.String() });
export const MemberResponse = Type.Object({ owner: Type.String(), ...Member.properties });
export const GateResponse = Type.Object({ owner: Type.String(), ...Gate.properties });
export const Removed = Type.Object({ owner: Type.String(), removed: Type.String() });

export const TeamView = Type.Object({
  owner: Type.String(),
  name: Type.String(),
  nonce: Type.String(),
  createdAt: Type.String(),
  members: Type.Array(Type.Object({ ...Member.properties, spentToday: Type.String() })),
  gates: Type.Array(
    Type.Object({
      ...Gate.properties,
      reliability: Type.Object({
        calls: Type.Integer(),
        successes: Type.Integer(),
        scoreBps: Type.Integer(),
        medianLatencyMs: Type.Union([Type.Integer(), Type.Null()]),
        degraded: Type.Boolean(),
      }),
    }),
  ),
});

const Totals = { total: Type.String(), calls: Type.Integer() };
export const TeamSpendingResponse = Type.Object({
  owner: Type.String(),
  from: Type.String(),
  to: Type.String(),
  ...Totals,
  byMember: Type.Array(Type.Object({ member: Type.String(), ...Totals })),
  byService: Type.Array(Type.Object({ serviceId: Type.String(), ...Totals })),
});
