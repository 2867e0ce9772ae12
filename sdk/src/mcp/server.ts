import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod/v3";

import type { AgentTabClient } from "../client/AgentTabClient.ts";
import { formatUsdc } from "../cli/format.ts";
import { ATOMIC_UNITS, address, atomicAmount, registerTool, toolResult } from "./tools.ts";

export { MCP_ERROR_META_KEY } from "./tools.ts";

/** Options of {@link createAgentTabMcpServer}. */
export type AgentTabMcpServerOptions = {
  /**
   * The agent's client: its key pays for `call_service`, up to its `maxSpend` (give it one: the
   * model decides what to call; `agenttab mcp` uses `DEFAULT_MAX_SPEND` unless told otherwise).
   */
  client: AgentTabClient;
  /** Reported to MCP clients in `initialize`. */
  name?: string;
  version?: string;
};

/**
 * The input of `call_service`, shared by the key-holding server and the x402 one.
 *
 * @example
 * registerTool(server, "call_service", { ...config, inputSchema: callServiceInput }, handler);
 */
export const callServiceInput = {
  service_id: z.string().min(1).describe("the id from discover_services"),
  path: z.string().default("/").describe("path and query under the service, e.g. \"/weather?city=paris\""),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
  body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional().describe("a JSON object/array (sent as JSON) or text"),
  headers: z.record(z.string(), z.string()).optional(),
  max_amount: atomicAmount.optional().describe(`refuse, before paying, if the call may cost more than this; ${ATOMIC_UNITS}`),
};

const receiptShape = z.object({
  requestId: z.string(),
  serviceId: z.string().describe("bytes32 of the service id, as signed"),
  provider: z.string(),
  payer: z.string(),
  amount: z.string().describe(ATOMIC_UNITS),
  cumulative: z.string().describe(ATOMIC_UNITS),
  issuedAt: z.string().describe("unix seconds"),
  signature: z.string().describe("the proxy's EIP-712 signature of the receipt"),
});
const totals = { total: z.string().describe(ATOMIC_UNITS), totalUsdc: z.string(), calls: z.number().int(), averagePerCall: z.string().describe(ATOMIC_UNITS) };

/**
 * An MCP server through which any MCP client discovers and pays for AgentTab services with the
 * agent's key: tools `discover_services`, `call_service`, `get_balance`, `get_spending_report`.
 * Amounts are strings of USDC atomic units both ways (with a `…Usdc` decimal rendering in outputs).
 * A refusal is an `isError` result carrying the SDK error's stable `name` and `code`; nothing is
 * charged for it. Connect it to a transport with `serveMcpStdio` or `startMcpHttpServer`.
 *
 * @example
 * const client = new AgentTabClient({ apiUrl, signer, chainId, escrow, maxSpend: 10_000_000n });
 * const server = createAgentTabMcpServer({ client });
 * await server.connect(new StdioServerTransport());
 */
export function createAgentTabMcpServer({ client, name = "agenttab", version = "0.1.0" }: AgentTabMcpServerOptions): McpServer {
  const server = new McpServer(
    { name, version },
    {
      instructions:
        "AgentTab pays for third-party APIs per call from the agent's USDC escrow. Find a service with discover_services, then call it with call_service (set max_amount to cap the price). Amounts are strings of USDC atomic units: 1 USDC = \"1000000\".",
    },
  );

  registerDiscoverServicesTool(server, client);

  registerTool(
    server,
    "call_service",
    {
      title: "Call a paid service",
      description:
        "Call an AgentTab service through the paying proxy. Signs a voucher from the agent's escrow for at most the service's price; returns the response, the amount charged (USDC atomic units) and the proxy's signed receipt. Refused calls and failed upstreams are not charged.",
      inputSchema: callServiceInput,
      outputSchema: {
        serviceId: z.string(),
        status: z.number().int().describe("the service's HTTP status"),
        data: z.unknown().describe("the response body: JSON when it is JSON, text otherwise"),
        amount: z.string().describe(`charged, ${ATOMIC_UNITS}`),
        amountUsdc: z.string(),
        latencyMs: z.number(),
        requestId: z.string(),
        receipt: receiptShape,
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    async (args) =>
      toolResult(async () => {
        const result = await client.call(args.service_id, {
          path: args.path,
          method: args.method,
          body: args.body,
          headers: args.headers,
          maxAmount: args.max_amount === undefined ? undefined : BigInt(args.max_amount),
        });
        const structured = {
          serviceId: args.service_id,
          status: result.status,
          data: result.data,
          amount: result.amount,
          amountUsdc: formatUsdc(result.amount),
          latencyMs: result.latencyMs,
          requestId: result.requestId,
          receipt: result.receipt,
        };
        const data = typeof result.data === "string" ? result.data : JSON.stringify(result.data);
        return { text: `HTTP ${result.status}, charged ${formatUsdc(result.amount)} USDC (request ${result.requestId}):\n${data}`, structured };
      }),
  );

  registerTool(
    server,
    "get_balance",
    {
      title: "Escrow balance",
      description: "The agent's escrow balance in USDC atomic units: on-chain balance, unsettled charges, reserved for calls in flight, pending withdrawal, and what new calls may spend (available).",
      inputSchema: {},
      outputSchema: {
        account: z.string(),
        deposited: z.string(),
        balance: z.string(),
        withdrawing: z.string(),
        withdrawalUnlockAt: z.string().nullable(),
        unsettled: z.string(),
        reserved: z.string(),
        pending: z.string(),
        available: z.string().describe(`what new calls may spend, ${ATOMIC_UNITS}`),
        availableUsdc: z.string(),
      },
      annotations: { readOnlyHint: true },
    },
    async () =>
      toolResult(async () => {
        const balance = await client.getBalance();
        return {
          text: `Available ${formatUsdc(balance.available)} USDC of ${formatUsdc(balance.balance)} USDC on-chain (${formatUsdc(balance.unsettled)} unsettled, ${formatUsdc(balance.reserved)} reserved, ${formatUsdc(balance.withdrawing)} withdrawing).`,
          structured: { ...balance, availableUsdc: formatUsdc(balance.available) },
        };
      }),
  );

  registerTool(
    server,
    "get_spending_report",
    {
      title: "Spending report",
      description: "What the agent spent over a window, in total and by service (USDC atomic units): the day, week or month up to now, or from/to (ISO 8601); 30 days by default.",
      inputSchema: {
        period: z.enum(["day", "week", "month"]).optional(),
        from: z.string().datetime({ offset: true }).optional().describe("ISO 8601 start (ignored with period)"),
        to: z.string().datetime({ offset: true }).optional().describe("ISO 8601 end (ignored with period)"),
      },
      outputSchema: {
        account: z.string(),
        from: z.string(),
        to: z.string(),
        ...totals,
        byService: z.array(z.object({ serviceId: z.string(), ...totals })),
      },
      annotations: { readOnlyHint: true },
    },
    async (args) =>
      toolResult(async () => {
        const report = await client.getSpendingReport(args.period ? { period: args.period } : { from: args.from, to: args.to });
        const byService = report.byService.map((s) => ({ ...s, totalUsdc: formatUsdc(s.total) }));
        const lines = byService.map((s) => `  ${s.serviceId}: ${s.totalUsdc} USDC over ${s.calls} calls`);
        return {
          text: [`Spent ${formatUsdc(report.total)} USDC over ${report.calls} calls from ${report.from} to ${report.to}.`, ...lines].join("\n"),
          structured: { ...report, totalUsdc: formatUsdc(report.total), byService },
        };
      }),
  );

  return server;
}

/**
 * Registers `discover_services` (public: it needs no key) on an MCP server.
 *
 * @example
 * registerDiscoverServicesTool(server, client);
 */
export function registerDiscoverServicesTool(server: McpServer, client: Pick<AgentTabClient, "discover" | "discoverBazaar">): void {
  registerTool(
    server,
    "discover_services",
    {
      title: "Discover paid services",
      description:
        "List AgentTab services an agent can pay for per call, best reputation first (or cheapest first with sort=price). Prices are USDC atomic units. " +
        "With query, search them (names, descriptions, tags, capabilities; ranked by relevance and reputation); with bazaar_url, list or search any x402 Bazaar " +
        "discovery endpoint instead: those results come back in resources[], each with its x402 payment requirements (accepts) and how to call it.",
      inputSchema: {
        query: z.string().min(1).max(256).optional().describe("search text, e.g. \"weather forecast\" (x402 discovery search)"),
        bazaar_url: z.string().url().optional().describe("an x402 Bazaar discovery endpoint's base URL, to look beyond AgentTab; its results are in resources[]"),
        scheme: z.string().optional().describe("with query or bazaar_url: only resources offering this x402 scheme, e.g. \"exact\""),
        network: z.string().optional().describe("with query or bazaar_url: only resources payable on this CAIP-2 network, e.g. \"eip155:8453\""),
        pay_to: z.string().optional().describe("with query or bazaar_url: only resources paying this address"),
        category: z.string().optional().describe("only this category, e.g. \"data\""),
        tags: z.array(z.string()).optional().describe("only services having all these tags"),
        capability: z.string().optional(),
        provider: address.optional().describe("only this provider's services"),
        max_price: atomicAmount.optional().describe(`only services costing at most this per call, ${ATOMIC_UNITS}`),
        min_reputation: z.number().min(0).max(1).optional().describe("only services rated at least this (0 to 1)"),
        sort: z.enum(["reputation", "price"]).optional(),
        limit: z.number().int().min(1).max(100).optional(),
        cursor: z.string().optional().describe("nextCursor of the previous page"),
      },
      outputSchema: {
        services: z.array(
          z.object({
            id: z.string(),
            name: z.string(),
            description: z.string(),
            category: z.string(),
            tags: z.array(z.string()),
            capabilities: z.array(z.string()),
            pricing: z.enum(["fixed", "metered"]),
            price: z.string().describe(`per call (metered: per unit), ${ATOMIC_UNITS}`),
            priceUsdc: z.string(),
            maxPrice: z.string().describe(`the most one call may cost, ${ATOMIC_UNITS}`),
            reputation: z.object({ score: z.number().nullable(), callsServed: z.number(), callsFailed: z.number(), feedbackCount: z.number() }),
            // Any JSON the provider registered (an object, an array, a number, a text…); null when none.
            exampleInput: z.unknown().describe("an example request body, as JSON; null when none"),
            exampleOutput: z.unknown().describe("an example response body, as JSON; null when none"),
          }),
        ),
        resources: z
          .array(
            z.object({
              resource: z.string().describe("the URL to call"),
              name: z.string().nullable(),
              description: z.string().nullable(),
              tags: z.array(z.string()),
              accepts: z.array(z.record(z.string(), z.unknown())).describe(`x402 payment requirements: scheme, network, amount (atomic units of asset), asset, payTo, extra`),
              input: z.unknown().describe("how to call it (the bazaar extension's info.input: method, query parameters or body), null when not given"),
              output: z.unknown().describe("what it answers (info.output: type, example), null when not given"),
              metadata: z.unknown().describe("what the endpoint adds; AgentTab: serviceId, reputation, paidCalls"),
            }),
          )
          .optional()
          .describe("x402 discovery results (with query or bazaar_url)"),
        nextCursor: z.string().nullable(),
      },
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async (args) =>
      toolResult(async () => {
        if (args.query !== undefined || args.bazaar_url !== undefined) return discoverResources(client, args);
        const page = await client.discover({
          category: args.category,
          tags: args.tags,
          capability: args.capability,
          provider: args.provider as `0x${string}` | undefined,
          maxPrice: args.max_price === undefined ? undefined : BigInt(args.max_price),
          minReputation: args.min_reputation,
          sort: args.sort,
          limit: args.limit,
          cursor: args.cursor,
        });
        const services = page.items.map((s) => ({
          id: s.id,
          name: s.name,
          description: s.description,
          category: s.category,
          tags: s.tags,
          capabilities: s.capabilities,
          pricing: s.pricing,
          price: s.price,
          priceUsdc: formatUsdc(s.price),
          maxPrice: s.maxPrice,
          reputation: s.reputation,
          exampleInput: s.exampleInput,
          exampleOutput: s.exampleOutput,
        }));
        const text =
          services.length === 0 ? "No services match." : services.map((s) => `${s.id}: ${s.name} — ${s.priceUsdc} USDC per call (${s.pricing}), ${s.category}${s.description ? `: ${s.description}` : ""}`).join("\n");
        return { text, structured: { services, nextCursor: page.nextCursor } };
      }),
  );
}

/** `discover_services` with `query` or `bazaar_url`: one page of x402 discovery results. */
async function discoverResources(
  client: Pick<AgentTabClient, "discoverBazaar">,
  args: { query?: string | undefined; bazaar_url?: string | undefined; scheme?: string | undefined; network?: string | undefined; pay_to?: string | undefined; limit?: number | undefined; cursor?: string | undefined },
): Promise<{ text: string; structured: Record<string, unknown> }> {
  const page = await client.discoverBazaar({
    ...(args.bazaar_url === undefined ? {} : { bazaarUrl: args.bazaar_url }),
    query: args.query,
    scheme: args.scheme,
    network: args.network,
    payTo: args.pay_to,
    limit: args.limit,
    cursor: args.cursor,
  });
  const resources = page.resources.map((item) => {
    const info = ((item.extensions?.bazaar as { info?: { input?: unknown; output?: unknown } } | undefined) ?? {}).info;
    const name = item.serviceName ?? item.metadata?.name;
    return {
      resource: item.resource,
      name: typeof name === "string" ? name : null,
      description: item.description ?? null,
      tags: item.tags ?? [],
      accepts: item.accepts,
      input: info?.input ?? null,
      output: info?.output ?? null,
      metadata: item.metadata ?? null,
    };
  });
  const text =
    resources.length === 0
      ? "No resources match."
      : resources.map((r) => `${r.resource}${r.name ? ` (${r.name})` : ""}: ${r.accepts.map((offer) => `${offer.scheme} ${offer.amount} on ${offer.network}`).join(", ")}${r.description ? ` — ${r.description}` : ""}`).join("\n");
  return { text, structured: { services: [], resources, nextCursor: page.nextCursor } };
}
