import path from "node:path";
import { parseArgs } from "node:util";

import { createPublicClient, createWalletClient, getAddress, http, isAddress, isHex, parseEventLogs } from "viem";
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { base, baseSepolia, hardhat } from "viem/chains";

import { agentTabEscrowAbi, usdcAbi, readDeployment } from "@agenttab/sdk";
import { hardhatDeployerKey } from "../lib/deployConfig.ts";
import { keyFromEnv } from "../lib/keys.ts";

/**
 * Usage text of `npm run payout`.
 *
 * @example
 * if (process.argv.includes("--help")) console.log(payoutUsage);
 */
export const payoutUsage = `Usage: npm run payout -- [flags]

  --rpc URL          JSON-RPC endpoint (AGENTTAB_RPC_URL; default http://127.0.0.1:8545)
  --chain-id N       (AGENTTAB_CHAIN_ID; default 31337); reads deployments/<N>.json
  --to ADDRESS       where the USDC goes (default: the provider itself)
  --amount N         atomic USDC units, 1 USDC = 1000000 (default: everything withdrawable)
  --dry-run          show what would be withdrawn; send nothing
  --confirmations N  blocks to wait for (default 1)

  PROVIDER_PRIVATE_KEY      the provider's key (required except on the local chain 31337,
                            where Hardhat account #0 is the default); or
  PROVIDER_KEYSTORE         a V3 keystore file, its password in PROVIDER_KEYSTORE_PASSWORD
  AGENTTAB_DEPLOYMENTS_DIR  where <chainId>.json is read (default deployments)

Exit codes: 0 paid out (or dry run), 3 nothing to withdraw, 1 failure.`;

/** The payout script's configuration, from flags with environment fallbacks. */
export type PayoutConfig = {
  rpcUrl: string;
  chainId: number;
  /** Undefined when the key is in PROVIDER_KEYSTORE: `runPayout` decrypts it. */
  privateKey: Hex | undefined;
  to: Address | undefined;
  amount: bigint | undefined;
  dryRun: boolean;
  confirmations: number;
  deploymentsDir: string;
};

/** A malformed flag or environment value, or a withdrawal the chain would refuse: exit code 1. */
export class PayoutError extends Error {
  override name = "PayoutError";
}

/** The provider has no credited earnings: exit code 3. */
export class NothingToWithdrawError extends Error {
  override name = "NothingToWithdrawError";
}

/**
 * Parses the payout script's flags and environment. Flags win over the environment.
 *
 * @throws {PayoutError} naming the offending flag or variable.
 * @example
 * parsePayoutConfig({ argv: ["--to", "0x…", "--amount", "2500000"], env: process.env });
 */
export function parsePayoutConfig({ argv, env, root }: { argv: readonly string[]; env: Record<string, string | undefined>; root: string }): PayoutConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        rpc: { type: "string" },
        "chain-id": { type: "string" },
        to: { type: "string" },
        amount: { type: "string" },
        "dry-run": { type: "boolean", default: false },
        confirmations: { type: "string", default: "1" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new PayoutError((error as Error).message);
  }
  const chainIdText = values["chain-id"] ?? env.AGENTTAB_CHAIN_ID ?? "31337";
  if (!/^[0-9]+$/.test(chainIdText)) throw new PayoutError(`--chain-id: ${chainIdText} is not a chain id`);
  const chainId = Number(chainIdText);
  let to: Address | undefined;
  if (values.to !== undefined) {
    if (!isAddress(values.to, { strict: false })) throw new PayoutError(`--to: ${values.to} is not an address`);
    to = getAddress(values.to);
    if (to === "0x0000000000000000000000000000000000000000") throw new PayoutError("--to: the zero address would burn the USDC");
  }
  let amount: bigint | undefined;
  if (values.amount !== undefined) {
    if (!/^[0-9]+$/.test(values.amount)) throw new PayoutError(`--amount: ${values.amount} is not a whole number of atomic units (1 USDC = 1000000)`);
    amount = BigInt(values.amount);
    if (amount === 0n) throw new PayoutError("--amount: must be above 0");
  }
  if (!/^[0-9]+$/.test(values.confirmations)) throw new PayoutError(`--confirmations: ${values.confirmations} is not a whole number`);
  const key = env.PROVIDER_PRIVATE_KEY || (env.PROVIDER_KEYSTORE ? undefined : chainId === 31337 ? hardhatDeployerKey : undefined);
  if (key === undefined && !env.PROVIDER_KEYSTORE) throw new PayoutError(`PROVIDER_PRIVATE_KEY (or PROVIDER_KEYSTORE) is required on chain ${chainId}`);
  if (key !== undefined && !(isHex(key) && key.length === 66)) throw new PayoutError("PROVIDER_PRIVATE_KEY is not a 32-byte hex key");
  return {
    rpcUrl: values.rpc ?? env.AGENTTAB_RPC_URL ?? "http://127.0.0.1:8545",
    chainId,
    privateKey: key,
    to,
    amount,
    dryRun: values["dry-run"],
    confirmations: Number(values.confirmations),
    deploymentsDir: env.AGENTTAB_DEPLOYMENTS_DIR ?? path.join(root, "deployments"),
  };
}

/** The chain side of a payout: a reader, the provider's wallet, the escrow and USDC. */
export type PayoutChain = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  escrow: Address;
  usdc: Address;
};

export type PayoutReport = {
  status: "paid" | "dry-run";
  provider: Address;
  to: Address;
  amount: bigint;
  /** earningsOf(provider) before and after (the same on a dry run). */
  withdrawableBefore: bigint;
  withdrawableAfter: bigint;
  txHash?: Hex;
  blockNumber?: bigint;
  gasUsed?: bigint;
};

const usdc = (atomic: bigint) => `${atomic / 1_000_000n}.${(atomic % 1_000_000n).toString().padStart(6, "0")}`;

/**
 * Withdraws the provider's credited earnings: `withdrawEarnings(to, amount)` from the provider's
 * own wallet, `to` the provider itself and `amount` everything withdrawable unless given. Checks
 * the amount against `earningsOf` and simulates the call first, so nothing is sent that would
 * revert; waits for `confirmations` blocks and reads the new balance.
 *
 * @throws {NothingToWithdrawError} when `earningsOf(provider)` is 0.
 * @throws {PayoutError} when `amount` is above what is withdrawable, or the call would revert.
 */
export async function payout(
  chain: PayoutChain,
  options: { to?: Address | undefined; amount?: bigint | undefined; dryRun?: boolean; confirmations?: number; log?: (line: string) => void },
): Promise<PayoutReport> {
  const { publicClient, walletClient, escrow } = chain;
  const log = options.log ?? (() => {});
  const provider = walletClient.account.address;
  const to = options.to ?? provider;
  const earnings = () => publicClient.readContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider] });
  const before = await earnings();
  if (before === 0n) throw new NothingToWithdrawError(`nothing to withdraw: ${provider} has no credited earnings on escrow ${escrow}`);
  const amount = options.amount ?? before;
  if (amount > before) throw new PayoutError(`--amount ${amount} (${usdc(amount)} USDC) is above the ${before} (${usdc(before)} USDC) withdrawable by ${provider}`);

  log(`provider      ${provider}`);
  log(`withdrawable  ${usdc(before)} USDC`);
  log(`${options.dryRun ? "would send" : "sending"}    ${usdc(amount)} USDC to ${to}${to === provider ? " (the provider)" : ""}${amount === before ? "" : `, leaving ${usdc(before - amount)} USDC`}`);

  let request;
  try {
    ({ request } = await publicClient.simulateContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "withdrawEarnings", args: [to, amount], account: walletClient.account }));
  } catch (error) {
    throw new PayoutError(`withdrawEarnings would revert: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message.split("\n")[0]}`, { cause: error });
  }
  if (options.dryRun) {
    log("dry run: nothing sent");
    return { status: "dry-run", provider, to, amount, withdrawableBefore: before, withdrawableAfter: before };
  }

  const txHash = await walletClient.writeContract(request);
  log(`tx            ${txHash}`);
  const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash, confirmations: Math.max(1, options.confirmations ?? 1) });
  if (receipt.status !== "success") throw new PayoutError(`transaction ${txHash} reverted`);
  const [event] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "EarningsWithdrawn", logs: receipt.logs });
  const after = event?.args.balance ?? (await earnings());
  log(`mined         block ${receipt.blockNumber}, gas used ${receipt.gasUsed}`);
  log(`withdrawable  ${usdc(after)} USDC left; ${to} holds ${usdc(await publicClient.readContract({ address: chain.usdc, abi: usdcAbi, functionName: "balanceOf", args: [to] }))} USDC`);
  return { status: "paid", provider, to, amount, withdrawableBefore: before, withdrawableAfter: after, txHash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
}

/** The exit code: 0 paid out or dry run, 3 nothing to withdraw, 1 any other failure. */
export function exitCodeOfError(error: unknown): number {
  return error instanceof NothingToWithdrawError ? 3 : 1;
}

/**
 * Runs the payout script: parses the flags and environment, reads the deployment, checks the RPC
 * is the chain it says, and pays out.
 *
 * @example
 * const report = await runPayout({ argv: ["--rpc", url, "--to", cold], env: { PROVIDER_PRIVATE_KEY: key } });
 */
export async function runPayout({
  argv,
  env,
  root = path.join(import.meta.dirname, "..", ".."),
  log = console.log,
}: {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  root?: string;
  log?: (line: string) => void;
}): Promise<PayoutReport> {
  const config = parsePayoutConfig({ argv, env, root });
  const deployment = await readDeployment(config.chainId, { dir: config.deploymentsDir });
  const viemChain = ([hardhat, base, baseSepolia] as Chain[]).find((c) => c.id === config.chainId);
  const transport = http(config.rpcUrl);
  const publicClient = createPublicClient({ chain: viemChain, transport, pollingInterval: config.chainId === 31337 ? 50 : 2_000 });
  let privateKey: Hex;
  try {
    privateKey = config.privateKey ?? ((await keyFromEnv(env, { keyVariable: "PROVIDER_PRIVATE_KEY", keystoreVariable: "PROVIDER_KEYSTORE" })) as Hex);
  } catch (error) {
    throw new PayoutError((error as Error).message);
  }
  const walletClient = createWalletClient({ account: privateKeyToAccount(privateKey), chain: viemChain, transport });
  const actual = await publicClient.getChainId();
  if (actual !== config.chainId) throw new PayoutError(`${config.rpcUrl} is chain ${actual}, not ${config.chainId}`);
  return payout(
    { publicClient: publicClient as PublicClient, walletClient, escrow: deployment.escrow, usdc: deployment.usdc },
    { to: config.to, amount: config.amount, dryRun: config.dryRun, confirmations: config.confirmations, log },
  );
}
