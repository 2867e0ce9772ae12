import { Command, Option } from "commander";

import { discoverBazaar } from "../../client/bazaar.ts";
import type { BazaarResource } from "../../client/bazaar.ts";
import { agentClient, contextOf, fetchNetwork, parseAddress, positiveInteger, print } from "../config.ts";
import type { CliContext, CliIo } from "../config.ts";
import { CliUsageError } from "../exitCodes.ts";
import { formatUsdc, parseUsdc, renderFields, renderTable } from "../format.ts";

/** `services` options that only AgentTab's own catalogue (`/v1/services`) understands. */
const CATALOGUE_ONLY = { category: "--category", tag: "--tag", capability: "--capability", provider: "--provider", maxPrice: "--max-price", minReputation: "--min-reputation", sort: "--sort" } as const;

type ServicesOptions = {
  category?: string;
  tag?: string[];
  capability?: string;
  provider?: string;
  maxPrice?: string;
  minReputation?: string;
  sort?: "reputation" | "price";
  limit?: number;
  cursor?: string;
  bazaarUrl?: string;
  query?: string;
  scheme?: string;
  network?: string;
  payTo?: string;
};

/**
 * `services` (discovery, no key needed) and `network` (the chain and contracts behind the API).
 *
 * @example
 * registerServiceCommands(program, io);
 */
export function registerServiceCommands(program: Command, io: CliIo): void {
  program
    .command("services")
    .description("list services, best reputation first (no key needed)")
    .option("--category <category>", "only this category")
    .option("--tag <tag...>", "only services with all these tags")
    .option("--capability <capability>", "only services with this capability")
    .option("--provider <address>", "only this provider's services")
    .option("--max-price <usdc>", "only services costing at most this per call, in USDC (e.g. 0.01)")
    .option("--min-reputation <score>", "only services rated at least this (0 to 1)")
    .addOption(new Option("--sort <order>", "order").choices(["reputation", "price"]))
    .addOption(new Option("--limit <n>", "at most this many").argParser(positiveInteger("--limit")))
    .option("--cursor <cursor>", "the next page (nextCursor of the previous one)")
    .option("--bazaar-url <url>", "read this x402 Bazaar discovery endpoint (…/discovery/resources, …/discovery/search) instead of AgentTab's catalogue")
    .option("--query <text>", "search names, descriptions, tags and capabilities (x402 discovery search; AgentTab's own without --bazaar-url)")
    .option("--scheme <scheme>", "with --bazaar-url or --query: only resources offering this x402 scheme, e.g. exact")
    .option("--network <caip2>", "with --bazaar-url or --query: only resources payable on this network, e.g. eip155:8453")
    .option("--pay-to <address>", "with --bazaar-url or --query: only resources paying this address")
    .action(async (options: ServicesOptions, command: Command) => {
      const ctx = contextOf(command, io);
      if (options.bazaarUrl !== undefined || options.query !== undefined) return discoverFromBazaar(ctx, options);
      if (options.scheme !== undefined || options.network !== undefined || options.payTo !== undefined) {
        throw new CliUsageError("--scheme, --network and --pay-to filter x402 discovery: use them with --bazaar-url or --query.", { code: "option_not_supported" });
      }
      const client = await agentClient(ctx, { keyless: true });
      const page = await client.discover({
        category: options.category,
        tags: options.tag,
        capability: options.capability,
        provider: options.provider === undefined ? undefined : parseAddress(options.provider, { name: "--provider" }),
        maxPrice: options.maxPrice === undefined ? undefined : parseUsdc(options.maxPrice, { name: "--max-price" }),
        minReputation: options.minReputation === undefined ? undefined : Number(options.minReputation),
        sort: options.sort,
        limit: options.limit,
        cursor: options.cursor,
      });
      print(ctx, {
        json: page,
        human: (format) => {
          const rows = page.items.map((s) => [
            s.id,
            s.name,
            s.category,
            s.pricing,
            formatUsdc(s.price),
            formatUsdc(s.maxPrice),
            s.reputation.score === null ? "unrated" : s.reputation.score.toFixed(2),
            String(s.reputation.callsServed),
          ]);
          const table = renderTable([["id", "name", "category", "pricing", "price", "max price", "reputation", "calls"], ...rows], { format, numeric: [4, 5, 7] });
          return page.nextCursor && format === "table" ? `${table}\n\nmore: --cursor ${page.nextCursor}` : table;
        },
      });
    });

  program
    .command("network")
    .description("the chain, contracts, fee and relayer behind the API (no key needed)")
    .action(async (_options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const network = await fetchNetwork(ctx.apiUrl);
      print(ctx, {
        json: network,
        human: (format) =>
          renderFields(
            [
              ["network", `${network.network} (chain ${network.chainId})`],
              ["escrow", network.escrow],
              ["usdc", network.usdc],
              ["reputation", network.reputation],
              ["receipt signer", network.receiptSigner],
              ["relayer", network.relayer ?? "none (no gasless deposits)"],
              ["fee", `${network.feeBps / 100}%`],
              ["withdrawal delay", `${network.withdrawalDelay}s`],
            ],
            { format },
          ),
      });
    });
}

/** `services --bazaar-url URL` / `services --query TEXT`: one page of an x402 Bazaar discovery endpoint. */
async function discoverFromBazaar(ctx: CliContext, options: ServicesOptions): Promise<void> {
  for (const [option, flag] of Object.entries(CATALOGUE_ONLY)) {
    if (options[option as keyof typeof CATALOGUE_ONLY] !== undefined) {
      throw new CliUsageError(`${flag} filters AgentTab's own catalogue; an x402 discovery endpoint takes --query, --scheme, --network, --pay-to.`, {
        code: "option_not_supported",
      });
    }
  }
  const bazaarUrl = options.bazaarUrl ?? ctx.apiUrl;
  if (!URL.canParse(bazaarUrl) || !/^https?:$/.test(new URL(bazaarUrl).protocol)) throw new CliUsageError(`--bazaar-url must be an http(s) URL, got "${bazaarUrl}"`);
  const page = await discoverBazaar({
    bazaarUrl,
    query: options.query,
    scheme: options.scheme,
    network: options.network,
    payTo: options.payTo === undefined ? undefined : parseAddress(options.payTo, { name: "--pay-to" }),
    limit: options.limit,
    cursor: options.cursor,
  }).catch((error: unknown) => {
    // A listing's cursor is an offset: anything else is the caller's mistake, not the endpoint's.
    if (error instanceof RangeError) throw new CliUsageError(error.message, { code: "invalid_cursor" });
    throw error;
  });
  print(ctx, {
    json: page,
    human: (format) => {
      const rows = page.resources.map((resource) => [resource.resource, nameOf(resource), offersOf(resource), reputationOf(resource)]);
      const table = renderTable([["resource", "name", "offers (atomic units)", "reputation"], ...rows], { format });
      return page.nextCursor && format === "table" ? `${table}\n\nmore: --cursor ${page.nextCursor}` : table;
    },
  });
}

function nameOf(resource: BazaarResource): string {
  const name = resource.serviceName ?? resource.metadata?.name;
  return typeof name === "string" ? name : "";
}

/** Each offer as `scheme amount@network`, e.g. `exact 25000@eip155:8453`. */
function offersOf(resource: BazaarResource): string {
  return resource.accepts.map((offer) => `${offer.scheme} ${offer.amount}@${offer.network}`).join(", ");
}

/** AgentTab's reputation score when the endpoint gives one. */
function reputationOf(resource: BazaarResource): string {
  const score = (resource.metadata?.reputation as { score?: unknown } | undefined)?.score;
  return typeof score === "number" ? score.toFixed(2) : "";
}
