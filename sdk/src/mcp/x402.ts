import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload } from "@x402/core/types";

import type { AgentTabClient } from "../client/AgentTabClient.ts";
import { ApiRequestError, apiErrorFromResponse } from "../client/errors.ts";
import { apiUrlOf, readBody } from "../client/http.ts";
import { receiptFromPaymentResponse } from "../client/payment.ts";
import { formatUsdc, toJson } from "../cli/format.ts";
import { callServiceInput, registerDiscoverServicesTool } from "./server.ts";
import { errorResult, registerTool } from "./tools.ts";

/**
 * Where an x402 MCP client puts its payment: `params._meta["x402/payment"]` of `tools/call`, an
 * x402 v2 `PaymentPayload` (here with the `agenttab-voucher` scheme).
 *
 * @example
 * await mcp.callTool({ name: "call_service", arguments: { service_id: "echo" }, _meta: { [X402_PAYMENT_META_KEY]: payload } });
 */
export const X402_PAYMENT_META_KEY = "x402/payment";

/**
 * Where a paid tool result carries the settlement: `_meta["x402/payment-response"]`, the x402
 * `SettleResponse` whose `extensions.agenttab.receipt` is the proxy's signed receipt.
 *
 * @example
 * const settle = result._meta?.[X402_PAYMENT_RESPONSE_META_KEY];
 */
export const X402_PAYMENT_RESPONSE_META_KEY = "x402/payment-response";

/** Options of {@link createX402McpServer}. */
export type X402McpServerOptions = {
  apiUrl: string;
  /** Discovery only: any client (a keyless one is enough). */
  client: Pick<AgentTabClient, "discover" | "discoverBazaar">;
  fetch?: typeof globalThis.fetch;
  name?: string;
  version?: string;
};

/**
 * An MCP server holding no key, whose `call_service` tool is paid by the MCP client itself with the
 * x402 MCP transport: called without payment it answers an `isError` result whose
 * `structuredContent` is the proxy's x402 `PaymentRequired` (also as JSON text); called again with
 * a `PaymentPayload` in `_meta["x402/payment"]` it forwards that as PAYMENT-SIGNATURE to the proxy
 * and returns the response with the `SettleResponse` (and receipt) in
 * `_meta["x402/payment-response"]`. A refused payment is the `PaymentRequired` again, carrying the
 * proxy's `error` (`voucher_too_low`, `wrong_provider` naming the provider to sign for,
 * `insufficient_funds`, …); nothing is charged for it.
 *
 * @example
 * const server = createX402McpServer({ apiUrl, client: keylessClient });
 * await server.connect(new StdioServerTransport());
 */
export function createX402McpServer({ apiUrl, client, fetch = globalThis.fetch.bind(globalThis), name = "agenttab-x402", version = "0.1.0" }: X402McpServerOptions): McpServer {
  const server = new McpServer(
    { name, version },
    {
      instructions:
        "AgentTab services, paid per call by you with x402. Find one with discover_services. call_service without payment returns the x402 PaymentRequired (scheme agenttab-voucher); sign a voucher for the provider in payTo, on the escrow in extra.escrow, and call again with the PaymentPayload in _meta[\"x402/payment\"]. Amounts are strings of USDC atomic units: 1 USDC = \"1000000\".",
    },
  );
  registerDiscoverServicesTool(server, client);
  registerTool(
    server,
    "call_service",
    {
      title: "Call a paid service (x402)",
      description:
        "Call an AgentTab service, paid with x402: without _meta[\"x402/payment\"] the result is the PaymentRequired to satisfy; with it, the service's response, the amount charged (USDC atomic units) and the signed receipt in _meta[\"x402/payment-response\"].",
      inputSchema: callServiceInput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    async (args, meta) => {
      try {
        return await paidCall({ apiUrl, fetch, args, payment: meta[X402_PAYMENT_META_KEY] });
      } catch (error) {
        return errorResult(error);
      }
    },
  );
  return server;
}

async function paidCall({
  apiUrl,
  fetch,
  args,
  payment,
}: {
  apiUrl: string;
  fetch: typeof globalThis.fetch;
  args: { service_id: string; path: string; method: string; body?: unknown; headers?: Record<string, string>; max_amount?: string };
  payment: unknown;
}): Promise<CallToolResult> {
  let paymentHeader: string | undefined;
  if (payment !== undefined) {
    try {
      paymentHeader = encodePaymentSignatureHeader(payment as PaymentPayload);
    } catch {
      throw new ApiRequestError({ status: 400, body: { code: "invalid_payment_header", message: `_meta["${X402_PAYMENT_META_KEY}"] is not an x402 PaymentPayload` } });
    }
  }
  const path = args.path.startsWith("/") ? args.path : `/${args.path}`;
  const json = args.body !== undefined && typeof args.body !== "string";
  const response = await fetch(apiUrlOf(apiUrl, `/v1/proxy/${encodeURIComponent(args.service_id)}${path}`), {
    method: args.method,
    headers: {
      ...(json ? { "content-type": "application/json" } : {}),
      ...args.headers,
      ...(args.max_amount === undefined ? {} : { "x-payment-max-amount": args.max_amount }),
      ...(paymentHeader === undefined ? {} : { "payment-signature": paymentHeader }),
    },
    ...(args.body === undefined ? {} : { body: json ? JSON.stringify(args.body) : (args.body as string) }),
  });
  const data = await readBody(response);
  const required = response.status === 402 ? response.headers.get("payment-required") : null;
  if (required) {
    const paymentRequired = decodePaymentRequiredHeader(required);
    return { isError: true, content: [{ type: "text", text: JSON.stringify(paymentRequired) }], structuredContent: paymentRequired as unknown as Record<string, unknown> };
  }
  const paymentResponse = response.headers.get("payment-response");
  const receipt = receiptFromPaymentResponse(paymentResponse);
  if (paymentResponse === null || receipt === undefined) throw apiErrorFromResponse({ status: response.status, body: data, retryAfter: response.headers.get("retry-after") });
  const amount = BigInt(response.headers.get("x-acf-amount") ?? receipt.amount);
  const requestId = response.headers.get("x-acf-request-id") ?? receipt.requestId;
  const structured = { serviceId: args.service_id, status: response.status, data, amount, amountUsdc: formatUsdc(amount), requestId, receipt };
  return {
    content: [{ type: "text", text: `HTTP ${response.status}, charged ${formatUsdc(amount)} USDC (request ${requestId}):\n${typeof data === "string" ? data : JSON.stringify(data)}` }],
    structuredContent: JSON.parse(toJson(structured)) as Record<string, unknown>,
    _meta: { [X402_PAYMENT_RESPONSE_META_KEY]: decodePaymentResponseHeader(paymentResponse) },
  };
}
