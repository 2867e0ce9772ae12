import { ApiError } from "../errors.ts";

/** The key of the x402 `bazaar` extension, in a 402's `extensions` and a discovery item's. */
export const BAZAAR = "bazaar";

export const QUERY_METHODS = ["GET", "HEAD", "DELETE"] as const;
export const BODY_METHODS = ["POST", "PUT", "PATCH"] as const;
export type QueryMethod = (typeof QUERY_METHODS)[number];
export type BodyMethod = (typeof BODY_METHODS)[number];
export type HttpMethod = QueryMethod | BodyMethod;
export type BodyType = "json" | "form-data" | "text";

/** What a provider registered about how its service is called: what the `bazaar` extension is built from. */
export type ServiceDiscovery = {
  /** Null: undeclared (POST with an example input, GET without one). */
  httpMethod: HttpMethod | null;
  /** Null: json (body methods only). */
  bodyType: BodyType | null;
  /** The example request: query parameters (query methods) or body (body methods); null when none. */
  exampleInput: unknown;
  /** The example response; null when none. */
  exampleOutput: unknown;
  inputDescription: string;
  outputDescription: string;
};

/** A JSON Schema (draft 2020-12) object, self-contained: no `$ref`, no `$id`. */
export type JsonSchema = Record<string, unknown>;

/**
 * The `bazaar` extension of a service (x402 `extensions.bazaar`): `info` says how to call it (the
 * HTTP method, the query parameters or the body with its type, an example of each, and the output's
 * type and example) and `schema` is a self-contained JSON Schema (draft 2020-12) that `info`
 * validates against, with the provider's input and output descriptions on the parts they describe.
 */
export type BazaarExtension = { info: { input: Record<string, unknown>; output?: { type: string; example: unknown } }; schema: JsonSchema };

const SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";
// Deeper than this, an example's structure is left open ({}): a schema is a guide, not a parser.
const MAX_SCHEMA_DEPTH = 16;

/**
 * The method an example call uses: the declared one, else POST when there is an example input to
 * send as its body, else GET.
 *
 * @example
 * methodOf({ httpMethod: null, exampleInput: { text: "hi" } }); // "POST"
 */
export function methodOf({ httpMethod, exampleInput }: Pick<ServiceDiscovery, "httpMethod" | "exampleInput">): HttpMethod {
  return httpMethod ?? (exampleInput === null || exampleInput === undefined ? "GET" : "POST");
}

export function isQueryMethod(method: HttpMethod): method is QueryMethod {
  return (QUERY_METHODS as readonly string[]).includes(method);
}

/**
 * Refuses discovery fields that cannot make a valid `bazaar` extension, with a 400 and a stable
 * code: a body type on a query method (`invalid_body_type`), or a query method whose example input
 * is not an object of query parameters with string, number or boolean values (`invalid_example`).
 *
 * @throws {ApiError} 400 `invalid_body_type` or `invalid_example`.
 * @example
 * checkServiceDiscovery({ httpMethod: "GET", bodyType: null, exampleInput: { city: "paris" }, … });
 */
export function checkServiceDiscovery(discovery: ServiceDiscovery): void {
  const method = methodOf(discovery);
  if (!isQueryMethod(method)) return;
  if (discovery.bodyType !== null) {
    throw new ApiError({ status: 400, code: "invalid_body_type", message: `A ${method} call sends no body: give bodyType only with POST, PUT or PATCH.` });
  }
  const input = discovery.exampleInput;
  if (input === null || input === undefined) return;
  const scalar = (value: unknown) => typeof value === "string" || typeof value === "number" || typeof value === "boolean";
  if (typeof input !== "object" || Array.isArray(input) || !Object.values(input).every(scalar)) {
    throw new ApiError({
      status: 400,
      code: "invalid_example",
      message: `A ${method} call takes its input as query parameters: exampleInput must be a JSON object of strings, numbers or booleans (or use POST).`,
    });
  }
}

/**
 * The service's `bazaar` extension, built from what its provider registered. Without `examples`,
 * it says how to call the service and describes its input and output, but shows no example (and
 * so no example's shape): small enough for any 402.
 *
 * @example
 * const extension = bazaarExtension({ httpMethod: "GET", bodyType: null, exampleInput: { city: "paris" }, exampleOutput: { temp: 12 }, inputDescription: "", outputDescription: "" });
 * // extension.info.input = { type: "http", method: "GET", queryParams: { city: "paris" } }
 */
export function bazaarExtension(discovery: ServiceDiscovery, { examples = true }: { examples?: boolean } = {}): BazaarExtension {
  const method = methodOf(discovery);
  const { inputDescription, outputDescription } = discovery;
  const exampleInput = examples ? discovery.exampleInput : null;
  const exampleOutput = examples ? discovery.exampleOutput : null;
  const described = (schema: JsonSchema, description: string): JsonSchema => (description === "" ? schema : { ...schema, description });

  let input: Record<string, unknown>;
  let inputSchema: JsonSchema;
  if (isQueryMethod(method)) {
    const queryParams = (exampleInput ?? {}) as Record<string, unknown>;
    input = { type: "http", method, ...(exampleInput === null || exampleInput === undefined ? {} : { queryParams }) };
    inputSchema = {
      type: "object",
      properties: {
        type: { type: "string", const: "http" },
        method: { type: "string", enum: [method] },
        queryParams: described(schemaOf(queryParams), inputDescription),
        headers: { type: "object", additionalProperties: { type: "string" } },
      },
      required: ["type", "method"],
      additionalProperties: false,
    };
  } else {
    const bodyType = discovery.bodyType ?? "json";
    const body = exampleInput ?? {};
    input = { type: "http", method, bodyType, body };
    inputSchema = {
      type: "object",
      properties: {
        type: { type: "string", const: "http" },
        method: { type: "string", enum: [method] },
        bodyType: { type: "string", enum: [bodyType] },
        body: described(schemaOf(body), inputDescription),
        queryParams: { type: "object", additionalProperties: { type: "string" } },
        headers: { type: "object", additionalProperties: { type: "string" } },
      },
      required: ["type", "method", "bodyType", "body"],
      additionalProperties: false,
    };
  }

  const hasOutput = exampleOutput !== null && exampleOutput !== undefined;
  const properties: Record<string, unknown> = { input: inputSchema };
  if (hasOutput || outputDescription !== "") {
    properties.output = {
      type: "object",
      properties: {
        type: { type: "string", const: "json" },
        example: described(hasOutput ? schemaOf(exampleOutput) : {}, outputDescription),
      },
      required: ["type"],
    };
  }
  return {
    info: { input, ...(hasOutput ? { output: { type: "json", example: exampleOutput } } : {}) },
    schema: { $schema: SCHEMA_DIALECT, type: "object", properties, required: ["input"] },
  };
}

/**
 * A JSON Schema that an example value satisfies: its types, objects' properties and arrays' items
 * (from the first element). Nothing is marked required: an example shows what may be sent, not
 * what must. Open below a depth of 16.
 *
 * @example
 * schemaOf({ city: "paris", days: 3 }); // { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } }
 */
export function schemaOf(value: unknown, depth = 0): JsonSchema {
  if (depth >= MAX_SCHEMA_DEPTH) return {};
  if (value === null) return { type: "null" };
  switch (typeof value) {
    case "boolean":
      return { type: "boolean" };
    case "number":
      return { type: Number.isInteger(value) ? "integer" : "number" };
    case "string":
      return { type: "string" };
    case "object": {
      if (Array.isArray(value)) return value.length === 0 ? { type: "array" } : { type: "array", items: schemaOf(value[0], depth + 1) };
      const entries = Object.entries(value as Record<string, unknown>);
      return { type: "object", properties: Object.fromEntries(entries.map(([key, item]) => [key, schemaOf(item, depth + 1)])) };
    }
    default:
      return {};
  }
}
