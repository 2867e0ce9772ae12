import { readFile } from "node:fs/promises";

import { Option } from "commander";
import type { Command } from "commander";
import { getAddress, isAddress, zeroAddress } from "viem";
import type { Address, Hex, LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { AgentTabClient } from "../client/AgentTabClient.ts";
import { getApiNetwork } from "../client/network.ts";
import type { ApiNetwork } from "../client/network.ts";
import type { AgentTabClientSigner } from "../client/types.ts";
import { CliUsageError } from "./exitCodes.ts";
import { formatUsdc, parseUsdc, toJson } from "./format.ts";
import type { OutputFormat } from "./format.ts";
import { decryptKeystore } from "./keystore.ts";

/**
 * Where the CLI talks to by default: `npm run api` on this machine.
 *
 * @example
 * const apiUrl = process.env.AGENTTAB_API_URL ?? DEFAULT_API_URL;
 */
export const DEFAULT_API_URL = "http://127.0.0.1:8787";

/**
 * The total (USDC atomic units: 10 USDC) that `agenttab call` and `agenttab mcp` sign vouchers for
 * at most, summed over the providers they pay, unless `--max-spend` or AGENTTAB_MAX_SPEND raises it.
 *
 * @example
 * const { maxSpend } = spendingLimits(ctx, { flag: undefined }); // DEFAULT_MAX_SPEND without flag or env
 */
export const DEFAULT_MAX_SPEND = 10_000_000n;

/**
 * `--max-spend <usdc>`, for the commands that sign vouchers (see {@link spendingLimits}).
 *
 * @example
 * program.command("call").addOption(maxSpendOption());
 */
export function maxSpendOption(): Option {
  return new Option(
    "--max-spend <usdc>",
    `never sign vouchers for more than this in total, in USDC: what this key was charged through AgentTab by each provider it pays, plus the call (default ${formatUsdc(DEFAULT_MAX_SPEND).replace(/\.?0+$/, "")}; env AGENTTAB_MAX_SPEND)`,
  );
}

/**
 * `--account <address>` (env AGENTTAB_ACCOUNT), for the commands that sign vouchers: pay from this
 * escrow account with a delegate's key (the account's owner authorized it with `delegate add`).
 *
 * @example
 * program.command("call").addOption(accountOption());
 */
export function accountOption(): Option {
  return new Option("--account <address>", "pay from this escrow account as its delegate (default: the key's own account)")
    .env("AGENTTAB_ACCOUNT")
    .argParser((text: string) => getAddress(parseAddress(text, { name: "--account" })));
}

/**
 * The limits of a command that signs vouchers: `maxSpend` from `--max-spend`, else
 * AGENTTAB_MAX_SPEND, else {@link DEFAULT_MAX_SPEND}; `maxCatchUp` the same amount. A CLI run (or
 * an MCP server) starts with no record of what the key was charged before, so the proxy's charged
 * total (its corrective 402) is believed up to `maxSpend`, which then bounds what a faulty proxy
 * could get signed.
 *
 * @example
 * const client = await agentClient(ctx, spendingLimits(ctx, { flag: options.maxSpend }));
 */
export function spendingLimits(ctx: CliContext, { flag }: { flag: string | undefined }): { maxSpend: bigint; maxCatchUp: bigint } {
  const env = ctx.env.AGENTTAB_MAX_SPEND?.trim();
  const maxSpend =
    flag !== undefined ? parseUsdc(flag, { name: "--max-spend" }) : env ? parseUsdc(env, { name: "AGENTTAB_MAX_SPEND" }) : DEFAULT_MAX_SPEND;
  return { maxSpend, maxCatchUp: maxSpend };
}

/** The options every command inherits (`agenttab --help` lists them with their environment variables). */
export type GlobalOptions = {
  api: string;
  rpc?: string;
  keystore?: string;
  json?: boolean;
  format?: OutputFormat;
};

/** The process's environment and streams, passed in so tests and embedders can swap them. */
export type CliIo = { env: NodeJS.ProcessEnv; stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream };

/** What a command runs with: the resolved options, where output goes, and the environment. */
export type CliContext = {
  apiUrl: string;
  rpcUrl: string | undefined;
  keystore: string | undefined;
  format: OutputFormat;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
};

/**
 * The context of a command from its (and its parents') options: `--json` wins, then `--format`,
 * then a table on a terminal and tab-separated lines in a pipe.
 *
 * @example
 * .action(async (options, command) => { const ctx = contextOf(command); ... })
 */
export function contextOf(command: Command, io: CliIo): CliContext {
  const options = command.optsWithGlobals<GlobalOptions>();
  const format: OutputFormat = options.json ? "json" : (options.format ?? (io.stdout.isTTY ? "table" : "tsv"));
  return { apiUrl: options.api, rpcUrl: options.rpc, keystore: options.keystore, format, ...io };
}

/**
 * Prints a command's result: `json` (bigints as strings) on stdout with `--json`, otherwise the
 * human rendering.
 *
 * @example
 * print(ctx, { json: balance, human: (format) => renderFields(rows, { format }) });
 */
export function print(ctx: CliContext, { json, human }: { json: unknown; human: (format: "table" | "tsv") => string }): void {
  const text = ctx.format === "json" ? toJson(json) : human(ctx.format);
  ctx.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/**
 * The signing key: the `--keystore` file (V3 JSON, password in AGENTTAB_KEYSTORE_PASSWORD), else
 * AGENTTAB_PRIVATE_KEY. There is deliberately no flag for a raw key: it would land in shell history.
 *
 * @example
 * const account = await loadSigner(ctx);
 */
export async function loadSigner(ctx: CliContext): Promise<LocalAccount> {
  if (ctx.keystore !== undefined) {
    const password = ctx.env.AGENTTAB_KEYSTORE_PASSWORD;
    if (password === undefined) throw new CliUsageError("Set AGENTTAB_KEYSTORE_PASSWORD to decrypt the keystore.", { code: "keystore_password_missing" });
    let text: string;
    try {
      text = await readFile(ctx.keystore, "utf8");
    } catch (error) {
      throw new CliUsageError(`Cannot read the keystore ${ctx.keystore} (${(error as NodeJS.ErrnoException).code ?? "unreadable"}).`, { code: "keystore_unreadable" });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliUsageError(`The keystore ${ctx.keystore} is not JSON.`, { code: "keystore_invalid" });
    }
    return privateKeyToAccount(await decryptKeystore(parsed, password));
  }
  const raw = ctx.env.AGENTTAB_PRIVATE_KEY?.trim();
  if (!raw) throw new CliUsageError("No key: set AGENTTAB_PRIVATE_KEY or pass --keystore FILE.", { code: "missing_key" });
  const key = (raw.startsWith("0x") ? raw : `0x${raw}`) as Hex;
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new CliUsageError("AGENTTAB_PRIVATE_KEY is not a 32-byte hex private key.", { code: "invalid_key" });
  try {
    return privateKeyToAccount(key);
  } catch {
    throw new CliUsageError("AGENTTAB_PRIVATE_KEY is not a valid secp256k1 private key.", { code: "invalid_key" });
  }
}

/**
 * Reads `GET /v1/network` from the API (no retry: a command should fail fast and say why).
 *
 * @example
 * const { chainId, escrow } = await fetchNetwork("http://127.0.0.1:8787");
 */
export function fetchNetwork(apiUrl: string): Promise<ApiNetwork> {
  return getApiNetwork({ apiUrl, retry: { attempts: 0 } });
}

/** A signer for commands that read public data only: it has no key and refuses to sign. */
const readOnlySigner: AgentTabClientSigner = {
  address: zeroAddress,
  signTypedData: () => Promise.reject(new CliUsageError("This command needs a key: set AGENTTAB_PRIVATE_KEY or pass --keystore FILE.", { code: "missing_key" })),
};

/**
 * An agent's client configured from the API alone (`AgentTabClient.connect`), with `--rpc` for
 * what it sends on-chain itself, and the limits of {@link spendingLimits} when it pays. With
 * `keyless`, a client that can only read public data (discovery) and needs no key.
 *
 * @example
 * const client = await agentClient(ctx);
 * const balance = await client.getBalance();
 */
export async function agentClient(
  ctx: CliContext,
  { keyless = false, account, maxSpend, maxCatchUp }: { keyless?: boolean; account?: Address; maxSpend?: bigint; maxCatchUp?: bigint } = {},
): Promise<AgentTabClient> {
  const signer = keyless ? readOnlySigner : await loadSigner(ctx);
  return AgentTabClient.connect({
    apiUrl: ctx.apiUrl,
    signer,
    ...(ctx.rpcUrl === undefined ? {} : { rpcUrl: ctx.rpcUrl }),
    ...(account === undefined ? {} : { account }),
    ...(maxSpend === undefined ? {} : { maxSpend }),
    ...(maxCatchUp === undefined ? {} : { maxCatchUp }),
  });
}

/**
 * An address argument, checked (exit 2 when malformed).
 *
 * @example
 * const delegate = parseAddress(text, { name: "delegate" });
 */
export function parseAddress(text: string, { name = "address" }: { name?: string } = {}): Address {
  if (!isAddress(text, { strict: false })) throw new CliUsageError(`${name} is not an address: "${text}"`);
  return text as Address;
}

/**
 * A positive integer option (`--limit 20`), checked (exit 2 otherwise).
 *
 * @example
 * new Option("--limit <n>").argParser(positiveInteger("--limit"))
 */
export function positiveInteger(name: string): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) throw new CliUsageError(`${name} must be a positive integer, got "${text}"`);
    return value;
  };
}
