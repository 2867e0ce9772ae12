import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
// The MCP SDK resolves its own zod (3.25): zod 4 schemas from our copy lose their descriptions and
// patterns in its JSON Schema output (separate metadata registries), v3-API schemas keep them.
import { z } from "zod/v3";

import { failureOf } from "../cli/exitCodes.ts";
import { ReceiptRejectedError } from "../client/errors.ts";
import { toJson } from "../cli/format.ts";

/**
 * Where an `isError` tool result carries the SDK error: `{ name, code, message, charged: "0" }`
 * (no `charged` for a `ReceiptRejectedError`: the call went through, and what it cost is unproven).
 *
 * @example
 * const result = await mcpClient.callTool({ name: "call_service", arguments: { service_id: "nope" } });
 * if (result.isError) console.log(result._meta?.[MCP_ERROR_META_KEY]);
 */
export const MCP_ERROR_META_KEY = "agenttab/error";

/**
 * How every amount is described to the model: a string of USDC atomic units.
 *
 * @example
 * z.string().describe(`charged, ${ATOMIC_UNITS}`)
 */
export const ATOMIC_UNITS = "USDC atomic units as a decimal string (6 decimals: \"1000000\" = 1 USDC, \"10000\" = 0.01 USDC)";
/**
 * A tool input holding USDC atomic units as a decimal string.
 *
 * @example
 * inputSchema: { max_amount: atomicAmount.optional() }
 */
export const atomicAmount = z.string().regex(/^[0-9]{1,30}$/, "a whole number of USDC atomic units, e.g. \"10000\" for 0.01 USDC");
/**
 * A tool input holding an address.
 *
 * @example
 * inputSchema: { provider: address.optional() }
 */
export const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "a 0x-prefixed 20-byte address");
/** A tool's zod shape (v3 API, see above). */
export type Shape = Record<string, z.ZodTypeAny>;

/**
 * `server.registerTool` with our zod's types: the MCP SDK's generics are written against its own
 * zod copy and do not accept ours at the type level (they do at run time). Arguments are parsed
 * again with our zod, which applies defaults and gives the handler exact types; the handler also
 * gets the request's `_meta` (where x402 carries a payment).
 *
 * @example
 * registerTool(server, "get_balance", { title, description, inputSchema: {}, outputSchema, annotations }, async () => toolResult(...));
 */
export function registerTool<input extends Shape>(
  server: McpServer,
  name: string,
  config: { title: string; description: string; inputSchema: input; outputSchema?: Shape; annotations: ToolAnnotations },
  handler: (args: z.infer<z.ZodObject<input>>, meta: Record<string, unknown>) => Promise<CallToolResult>,
): void {
  const schema = z.object(config.inputSchema);
  const register = server.registerTool.bind(server) as unknown as (
    name: string,
    config: object,
    callback: (args: unknown, extra: { _meta?: Record<string, unknown> }) => Promise<CallToolResult>,
  ) => unknown;
  register(name, config, (args, extra) => handler(schema.parse(args), extra._meta ?? {}));
}

/**
 * Runs a tool body: its text and structured output (bigints as strings) on success; on failure an
 * `isError` result with the error's stable name and code, so the model can react (top up, raise
 * max_amount, pick another service) instead of the protocol failing.
 *
 * @example
 * return toolResult(async () => ({ text: "done", structured: { amount: 25_000n } }));
 */
export async function toolResult(run: () => Promise<{ text: string; structured: Record<string, unknown> }>): Promise<CallToolResult> {
  try {
    const { text, structured } = await run();
    return { content: [{ type: "text", text }], structuredContent: JSON.parse(toJson(structured)) as Record<string, unknown> };
  } catch (error) {
    return errorResult(error);
  }
}

/**
 * The `isError` result for a thrown error: its stable name and code in the text and in
 * `_meta["agenttab/error"]`.
 *
 * @example
 * catch (error) { return errorResult(error); }
 */
export function errorResult(error: unknown): CallToolResult {
  const { name, code, message } = failureOf(error);
  const unproven = error instanceof ReceiptRejectedError;
  return {
    isError: true,
    content: [{ type: "text", text: `${name} (${code}): ${message}${unproven ? "" : " Nothing was charged."}` }],
    // Not structuredContent: clients validate that against the tool's (success) output schema.
    _meta: { [MCP_ERROR_META_KEY]: unproven ? { name, code, message } : { name, code, message, charged: "0" } },
  };
}
