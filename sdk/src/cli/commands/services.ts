import { Command, Option } from "commander";

import { agentClient, contextOf, fetchNetwork, parseAddress, positiveInteger, print } from "../config.ts";
import type { CliIo } from "../config.ts";
import { formatUsdc, parseUsdc, renderFields, renderTable } from "../format.ts";

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
    .action(async (options: { category?: string; tag?: string[]; capability?: string; provider?: string; maxPrice?: string; minReputation?: string; sort?: "reputation" | "price"; limit?: number; cursor?: string }, command: Command) => {
      const ctx = contextOf(command, io);
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
