/**
 * Gas of settlement and the single-call paths, measured on an in-process Hardhat chain
 * (`npm run bench:gas`). Prints a table and writes bench/results/gas.json.
 *
 * Every batch size runs against a fresh escrow with fresh agents (funded by one deposit each) and
 * ten fresh providers, agent i paying provider i mod 10 (one track each), all ten reported: `settle`
 * is that first batch (track and provider credits are zero-to-non-zero writes), `settleSteadyState`
 * the following week's batch on the same tracks and providers; the same two for 100 delegate-signed
 * claims (`delegateSettle`, `delegateSettleSteadyState`). `token` names the token contract the chain
 * ran, read back from its code.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { createWalletClient, custom, keccak256, toHex } from "viem";
import type { Address, Hash, Hex, LocalAccount, PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { deployAgentTab } from "../scripts/deploy.ts";
import { localUsdcIssuer } from "../scripts/lib/localUsdc.ts";
import { getTokenContractName } from "./lib/tokenContract.ts";
import {
  agentTabEscrowAbi,
  encodeClaims,
  fiatTokenAbi,
  settlementProviders,
  signVoucher,
  transferWithAuthorizationTypes,
  usdcDomain,
} from "@agenttab/sdk";
import type { Claim, Deployment } from "@agenttab/sdk";

// A first batch's claim writes a fresh track (~33k gas), so 500 no longer fits Osaka's 2^24 gas
// per transaction (EIP-7825); 400 does.
const BATCH_SIZES = [1, 10, 100, 400];
const PROVIDERS = 10;
const DELEGATE_CLAIMS = 100;
const DEPOSIT = 1_000_000n; // 1 USDC per agent
const FEE_BPS = 100n;

type Bench = Awaited<ReturnType<typeof startBench>>;
type SettleRow = { claims: number; providers: number; gas: number; gasPerClaim: number };

const account = (label: string): LocalAccount => privateKeyToAccount(keccak256(toHex(label)));

async function startBench() {
  const connection = await network.create();
  const publicClient = (await connection.viem.getPublicClient()) as unknown as PublicClient;
  const [operator] = await connection.viem.getWalletClients();
  if (operator === undefined) throw new Error("Hardhat gave no accounts");
  const mined = async (hash: Promise<Hash>) => {
    const receipt = await publicClient.getTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return receipt;
  };
  // Every deployment's token, read back from the chain's code: gas.json records what was measured.
  const tokens = new Set<string>();
  const deploy = async () => {
    const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS), relayer: operator.account.address });
    tokens.add(await getTokenContractName({ publicClient, token: deployment.usdc }));
    return deployment;
  };
  const walletFor = async (local: LocalAccount) => {
    await connection.provider.request({ method: "hardhat_setBalance", params: [local.address, "0xDE0B6B3A7640000"] });
    return createWalletClient({ account: local, chain: hardhat, transport: custom(connection.provider) });
  };
  const token = () => {
    if (tokens.size !== 1) throw new Error(`the benchmarks ran against ${tokens.size} token contracts (${[...tokens].join(", ")})`);
    return [...tokens][0]!;
  };
  return { connection, publicClient, operator, mined, deploy, walletFor, token };
}

/** Funds each agent's escrow account with one `depositFor` from the operator. */
async function fund(bench: Bench, deployment: Deployment, agents: readonly Address[]) {
  const { operator, mined } = bench;
  const total = DEPOSIT * BigInt(agents.length);
  await localUsdcIssuer({ publicClient: bench.publicClient, usdc: deployment.usdc }).mint(operator.account.address, total);
  await mined(operator.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [deployment.escrow, total] }));
  for (const agent of agents) {
    await mined(operator.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "depositFor", args: [agent, DEPOSIT] }));
  }
}

const providersFor = (label: string) => Array.from({ length: PROVIDERS }, (_, i) => account(`${label} provider ${i}`).address);

/** Settles one batch of `claims`, reporting every one of `providers` (100 calls served, 1 failed), and returns its gas. */
async function settleGas(bench: Bench, deployment: Deployment, claims: readonly Claim[], label: string, providers: readonly Address[]): Promise<number> {
  const sorted = settlementProviders(providers.map((provider) => ({ provider })));
  const reports = sorted.map((provider) => ({ provider, callsServed: 100, callsFailed: 1 }));
  const receipt = await bench.mined(
    bench.operator.writeContract({
      address: deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "settle",
      args: [keccak256(toHex(label)), encodeClaims(claims, sorted), reports],
    }),
  );
  return Number(receipt.gasUsed);
}

/** Each agent signed one voucher for its whole deposit to provider i mod 10; the batch claims a varying part of it. */
async function ownClaims(deployment: Deployment, agents: readonly LocalAccount[], providers: readonly Address[]): Promise<Claim[]> {
  return Promise.all(
    agents.map(async (agent, i) => {
      const maxCumulative = DEPOSIT;
      const provider = providers[i % providers.length]!;
      const signature = await signVoucher(agent, { chainId: deployment.chainId, escrow: deployment.escrow, account: agent.address, provider, maxCumulative });
      return { account: agent.address, provider, maxCumulative, cumulative: 250_000n + BigInt(i * 997), signature };
    }),
  );
}

/**
 * The first batch of a fresh escrow (every provider credit is a zero-to-non-zero write), then the
 * next week's batch on the same agents and providers (the steady state: every write updates a
 * non-zero slot, and each agent's claim raises its claimed total).
 */
async function benchSettle(bench: Bench, n: number): Promise<{ first: SettleRow; steady: SettleRow }> {
  const deployment = await bench.deploy();
  const agents = Array.from({ length: n }, (_, i) => account(`settle ${n} agent ${i}`));
  await fund(bench, deployment, agents.map((a) => a.address));
  const providers = providersFor(`settle ${n}`);
  const firstClaims = await ownClaims(deployment, agents, providers);
  const first = await settleGas(bench, deployment, firstClaims, `settle ${n}`, providers);
  const nextClaims = firstClaims.map((claim) => ({ ...claim, cumulative: claim.cumulative + 100_000n }));
  const steady = await settleGas(bench, deployment, nextClaims, `settle ${n} week 2`, providers);
  const row = (gas: number) => ({ claims: n, providers: PROVIDERS, gas, gasPerClaim: Math.floor(gas / n) });
  return { first: row(first), steady: row(steady) };
}

/** 100 delegate-signed claims on fresh tracks, then the next week's batch on the same tracks (the steady state). */
async function benchDelegateSettle(bench: Bench): Promise<{ first: SettleRow; steady: SettleRow }> {
  const deployment = await bench.deploy();
  const agents = Array.from({ length: DELEGATE_CLAIMS }, (_, i) => account(`delegating agent ${i}`));
  await fund(bench, deployment, agents.map((a) => a.address));
  const providers = providersFor("delegate settle");
  const claims: Claim[] = [];
  for (const [i, agent] of agents.entries()) {
    const provider = providers[i % PROVIDERS]!;
    const delegate = account(`delegate ${i}`);
    const wallet = await bench.walletFor(agent);
    await bench.mined(
      wallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "authorizeDelegate", args: [delegate.address, DEPOSIT, 0] }),
    );
    const signature = await signVoucher(delegate, { chainId: deployment.chainId, escrow: deployment.escrow, account: agent.address, provider, maxCumulative: DEPOSIT });
    claims.push({ account: agent.address, signer: delegate.address, provider, maxCumulative: DEPOSIT, cumulative: 250_000n + BigInt(i * 997), signature });
  }
  const first = await settleGas(bench, deployment, claims, "delegate settle", providers);
  const nextClaims = claims.map((claim) => ({ ...claim, cumulative: claim.cumulative + 100_000n }));
  const steady = await settleGas(bench, deployment, nextClaims, "delegate settle week 2", providers);
  const row = (gas: number) => ({ claims: DELEGATE_CLAIMS, providers: PROVIDERS, gas, gasPerClaim: Math.floor(gas / DELEGATE_CLAIMS) });
  return { first: row(first), steady: row(steady) };
}

/** A first deposit (approve already done) into a fresh account. */
async function benchDeposit(bench: Bench): Promise<number> {
  const deployment = await bench.deploy();
  const agent = account("depositing agent");
  const wallet = await bench.walletFor(agent);
  const { usdc, escrow } = deployment;
  await localUsdcIssuer({ publicClient: bench.publicClient, usdc }).mint(agent.address, DEPOSIT);
  await bench.mined(wallet.writeContract({ address: usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, DEPOSIT] }));
  const receipt = await bench.mined(wallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [DEPOSIT] }));
  return Number(receipt.gasUsed);
}

/** An x402 exact payment to a provider that already has earnings (the steady state). */
async function benchExactPayment(bench: Bench): Promise<number> {
  const deployment = await bench.deploy();
  const payer = account("exact payer");
  const provider = account("exact provider").address;
  await localUsdcIssuer({ publicClient: bench.publicClient, usdc: deployment.usdc }).mint(payer.address, 2n * DEPOSIT);
  const validBefore = 4_102_444_800n; // fixed, so that the calldata (and the gas) does not depend on the clock
  let gas = 0;
  for (const round of [1, 2]) {
    const authorization = {
      from: payer.address,
      to: deployment.escrow,
      value: DEPOSIT,
      validAfter: 0n,
      validBefore,
      nonce: keccak256(toHex(`exact payment ${round}`)) as Hex,
    };
    const signature = await payer.signTypedData({
      domain: usdcDomain({ chainId: deployment.chainId, usdc: deployment.usdc }),
      types: transferWithAuthorizationTypes,
      primaryType: "TransferWithAuthorization",
      message: authorization,
    });
    const receipt = await bench.mined(
      bench.operator.writeContract({
        address: deployment.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settleExactPayment",
        args: [{ ...authorization, provider, fee: (DEPOSIT * FEE_BPS) / 10_000n }, signature],
      }),
    );
    gas = Number(receipt.gasUsed);
  }
  return gas;
}

const bench = await startBench();
const settle: SettleRow[] = [];
const settleSteadyState: SettleRow[] = [];
for (const n of BATCH_SIZES) {
  const { first, steady } = await benchSettle(bench, n);
  settle.push(first);
  settleSteadyState.push(steady);
}
const { first: delegateSettle, steady: delegateSettleSteadyState } = await benchDelegateSettle(bench);
const exactPayment = { gas: await benchExactPayment(bench) };
const deposit = { gas: await benchDeposit(bench) };

const pad = (value: string | number, width: number) => String(value).padStart(width);
console.log(`${pad("batch", 16)} ${pad("claims", 7)} ${pad("providers", 9)} ${pad("gas", 11)} ${pad("gas/claim", 10)}`);
const rows = [
  ...settle.map((row) => ["settle (first)", row] as const),
  ...settleSteadyState.map((row) => ["settle (steady)", row] as const),
  ["delegateSettle", delegateSettle] as const,
  ["delegate (steady)", delegateSettleSteadyState] as const,
];
for (const [name, row] of rows) {
  console.log(`${pad(name, 16)} ${pad(row.claims, 7)} ${pad(row.providers, 9)} ${pad(row.gas.toLocaleString("en-US"), 11)} ${pad(row.gasPerClaim.toLocaleString("en-US"), 10)}`);
}
const largest = BATCH_SIZES[BATCH_SIZES.length - 1]!;
for (const [name, series] of [["first", settle], ["steady", settleSteadyState]] as const) {
  const [at100, atLargest] = [series.find((r) => r.claims === 100), series.find((r) => r.claims === largest)];
  if (at100 && atLargest) {
    const marginal = Math.floor((atLargest.gas - at100.gas) / (largest - 100));
    console.log(`marginal gas per claim, ${name} (100 → ${largest} claims): ${marginal.toLocaleString("en-US")}`);
  }
}
console.log(`token: ${bench.token()}`);
console.log(`exactPayment ${exactPayment.gas.toLocaleString("en-US")} gas; deposit ${deposit.gas.toLocaleString("en-US")} gas`);

const out = path.join(import.meta.dirname, "results", "gas.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify({ token: bench.token(), settle, settleSteadyState, delegateSettle, delegateSettleSteadyState, exactPayment, deposit }, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
await bench.connection.close();
