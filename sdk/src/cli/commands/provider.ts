import { Command, Option } from "commander";

import type { ProviderService } from "../../provider/types.ts";
import { ProviderClient } from "../../provider/ProviderClient.ts";
import { contextOf, loadSigner, parseAddress, print } from "../config.ts";
import type { CliContext, CliIo } from "../config.ts";
import { CliUsageError } from "../exitCodes.ts";
import { formatUsdc, parseUsdc, renderFields, renderTable } from "../format.ts";
import { transactionFields, withSpinner } from "./escrow.ts";

type ServiceOptions = {
  id: string;
  name: string;
  category: string;
  upstream: string;
  price: string;
  pricing: "fixed" | "metered";
  maxPrice?: string;
  usageHeader?: string;
  description?: string;
  tag: string[];
  capability: string[];
  exampleInput?: string;
  exampleOutput?: string;
};

const repeatable = (value: string, previous: string[]) => [...previous, value];

/**
 * `provider register|update|delist|services|earnings|payout`: a provider lists its API (signed
 * with its key), sees what it earned and withdraws it on-chain.
 *
 * @example
 * registerProviderCommands(program, io);
 */
export function registerProviderCommands(program: Command, io: CliIo): void {
  const provider = program.command("provider").description("run services as a provider: list them, see earnings, withdraw them");

  for (const [name, description] of [
    ["register", "list a service (signed with the provider's key); the proxy forwards paid calls to --upstream"],
    ["update", "change a listed service: sign its full description again (a higher nonce; relists a delisted one)"],
  ] as const) {
    serviceOptions(provider.command(name).description(description)).action(async (options: ServiceOptions, command: Command) => {
      const ctx = contextOf(command, io);
      const service = serviceOf(options);
      const client = await providerClient(ctx);
      const registered = name === "register" ? await client.register(service) : await client.update(service);
      print(ctx, {
        json: registered,
        human: (format) =>
          renderFields(
            [
              [registered.created ? "registered" : "updated", registered.id],
              ["provider", registered.provider],
              ["pricing", registered.pricing],
              ["price", `${formatUsdc(registered.price)} USDC`],
              ["max price", `${formatUsdc(registered.maxPrice)} USDC`],
              ["nonce", registered.nonce.toString()],
            ],
            { format },
          ),
      });
    });
  }

  provider
    .command("delist")
    .description("take a service out of discovery; calls to it are refused (410)")
    .argument("<id>", "the service id")
    .action(async (id: string, _options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const delisted = await (await providerClient(ctx)).delist(id);
      print(ctx, { json: delisted, human: (format) => renderFields([["delisted", delisted.id], ["nonce", delisted.nonce.toString()]], { format }) });
    });

  provider
    .command("services")
    .description("the provider's listed services")
    .action(async (_options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const services = await (await providerClient(ctx)).listServices();
      print(ctx, {
        json: { items: services },
        human: (format) =>
          renderTable(
            [["id", "name", "pricing", "price", "max price", "calls"], ...services.map((s) => [s.id, s.name, s.pricing, formatUsdc(s.price), formatUsdc(s.maxPrice), String(s.reputation.callsServed)])],
            { format, numeric: [3, 4, 5] },
          ),
      });
    });

  provider
    .command("earnings")
    .description("what the provider earned (net of the fee): pending settlement, settled, withdrawable on-chain, withdrawn")
    .action(async (_options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const earnings = await (await providerClient(ctx)).getEarnings();
      print(ctx, {
        json: earnings,
        human: (format) =>
          renderFields(
            [
              ["provider", earnings.provider],
              ["pending", `${formatUsdc(earnings.pending)} USDC (${earnings.pendingCalls} calls not yet settled)`],
              ["settled", `${formatUsdc(earnings.settled)} USDC`],
              ["withdrawable", `${formatUsdc(earnings.withdrawable)} USDC`],
              ["withdrawn", `${formatUsdc(earnings.withdrawn)} USDC`],
            ],
            { format },
          ),
      });
    });

  provider
    .command("payout")
    .description("withdraw settled earnings on-chain (the provider's key sends it and pays the gas; needs --rpc)")
    .option("--amount <usdc>", "how much, in USDC (default: everything withdrawable)")
    .option("--to <address>", "where the USDC goes (default: the provider's own address)")
    .action(async (options: { amount?: string; to?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const amount = options.amount === undefined ? undefined : parseUsdc(options.amount, { name: "--amount" });
      if (amount === 0n) throw new CliUsageError("--amount must be above 0");
      const to = options.to === undefined ? undefined : parseAddress(options.to, { name: "--to" });
      const client = await providerClient(ctx);
      const result = await withSpinner(ctx, "Withdrawing earnings", () => client.withdraw({ ...(amount === undefined ? {} : { amount }), ...(to === undefined ? {} : { to }) }));
      print(ctx, {
        json: result,
        human: (format) =>
          renderFields([["paid out", `${formatUsdc(result.amount)} USDC`], ["to", result.to], ["remaining", `${formatUsdc(result.remaining)} USDC`], ...transactionFields(result)], { format }),
      });
    });
}

function serviceOptions(command: Command): Command {
  return command
    .requiredOption("--id <id>", "the service id: lowercase letters, digits and dashes, 3 to 64 long")
    .requiredOption("--name <name>", "display name")
    .requiredOption("--category <category>", "e.g. data, ai, search")
    .requiredOption("--upstream <url>", "where the proxy forwards calls (never shown to agents)")
    .requiredOption("--price <usdc>", "per call (fixed) or per unit (metered), in USDC")
    .addOption(new Option("--pricing <pricing>", "fixed per call, or metered from an upstream usage header").choices(["fixed", "metered"]).default("fixed"))
    .option("--max-price <usdc>", "metered: the most one call may cost, in USDC")
    .option("--usage-header <name>", "metered: the upstream response header reporting the units used")
    .option("--description <text>", "what it does")
    .option("--tag <tag>", "a tag (repeatable)", repeatable, [] as string[])
    .option("--capability <capability>", "a capability (repeatable)", repeatable, [] as string[])
    .option("--example-input <json>", "an example request body, as JSON text")
    .option("--example-output <json>", "an example response body, as JSON text");
}

function serviceOf(options: ServiceOptions): ProviderService {
  const price = parseUsdc(options.price, { name: "--price" });
  if (options.pricing === "metered" && (options.maxPrice === undefined || options.usageHeader === undefined)) {
    throw new CliUsageError("--pricing metered needs --max-price and --usage-header");
  }
  return {
    serviceId: options.id,
    name: options.name,
    category: options.category,
    upstreamUrl: options.upstream,
    pricing: options.pricing,
    price,
    ...(options.maxPrice === undefined ? {} : { maxPrice: parseUsdc(options.maxPrice, { name: "--max-price" }) }),
    ...(options.usageHeader === undefined ? {} : { usageHeader: options.usageHeader }),
    ...(options.description === undefined ? {} : { description: options.description }),
    tags: options.tag,
    capabilities: options.capability,
    ...(options.exampleInput === undefined ? {} : { exampleInput: options.exampleInput }),
    ...(options.exampleOutput === undefined ? {} : { exampleOutput: options.exampleOutput }),
  };
}

async function providerClient(ctx: CliContext): Promise<ProviderClient> {
  return ProviderClient.connect({ apiUrl: ctx.apiUrl, signer: await loadSigner(ctx), ...(ctx.rpcUrl === undefined ? {} : { rpcUrl: ctx.rpcUrl }) });
}
