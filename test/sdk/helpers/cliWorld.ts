import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { bytesToHex, keccak256 } from "viem";

import { testAccount } from "../../indexer/helpers/actions.ts";
import { startEchoStack } from "./echoStack.ts";

const BIN = path.resolve(import.meta.dirname, "../../../sdk/src/cli/main.ts");
export const CLI_PRICE = 25_000n;
export const CLI_DEPOSIT = 1_000_000n;

export type Run = { code: number; stdout: string; stderr: string };

/** Runs the real `agenttab` bin with node, with only the environment given (plus PATH). */
export function agenttab(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The key of a test account by its label (`testAccount(label)`'s). */
export const keyOf = (label: string) => keccak256(bytesToHex(new TextEncoder().encode(label)));

/** The accounts the CLI tests share: a funded agent, a poor one, and the echo service's provider. */
export const cliAccounts = {
  agent: testAccount("cli agent"),
  poor: testAccount("cli poor agent"),
  provider: testAccount("cli provider"),
};

export type CliWorld = Awaited<ReturnType<typeof startCliWorld>>;

/**
 * The real stack the CLI tests run the bin against: the echo service at CLI_PRICE, the agent
 * funded with CLI_DEPOSIT and the poor agent with 0.1 USDC, and a temporary folder.
 */
export async function startCliWorld() {
  const tmp = await mkdtemp(path.join(tmpdir(), "agenttab-cli-"));
  const { agent, poor, provider } = cliAccounts;
  const world = await startEchoStack({ price: CLI_PRICE, provider: provider.address, funded: [{ account: agent, amount: CLI_DEPOSIT }, { account: poor, amount: 100_000n }] });
  return {
    ...world,
    tmp,
    /** The environment of the bin signing as the test account `label`. */
    envFor: (label: string, extra: Record<string, string> = {}) => ({ AGENTTAB_API_URL: world.apiUrl, AGENTTAB_PRIVATE_KEY: keyOf(label), ...extra }),
    charged: async (account: `0x${string}`) => (await world.ledger(account)).charged,
    async stop() {
      await world.stop();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
