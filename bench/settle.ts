/**
 * What a weekly batch costs against paying each call on-chain (`npm run bench:settle`), measured on
 * an in-process Hardhat chain. Prints a table and writes bench/results/settle.json.
 *
 * The week: 100 agents across 10 providers, each agent making 50 calls of 0.01 USDC (5 to each
 * provider): 5,000 calls. A voucher names its provider, so each (agent, provider) pair is its own
 * track and the week is 1,000 claims of 5 calls each. AgentTab claims them in a few `settle`
 * batches (a transaction may not exceed 2^24 gas), measured on the first week and in the steady
 * state (the tracks and providers were already settled the week before), and each provider then
 * withdraws once. The alternatives pay every call on its own: a plain USDC `transfer` from the agent to the
 * provider (both already holding USDC), or an x402 `exact` payment through `settleExactPayment`
 * (the provider already has earnings). Costs are at a stated Base gas price and ETH price; the L1
 * data fee a Base transaction also pays is left out.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { createWalletClient, custom, keccak256, maxUint256, toHex } from "viem";
import type { Address, Hash, Hex, LocalAccount, PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { deployAgentTab } from "../scripts/deploy.ts";
import { localUsdcIssuer } from "../scripts/lib/localUsdc.ts";
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

const AGENTS = 100;
const PROVIDERS = 10;
const CALLS_PER_AGENT = 50; // a week's calls, spread evenly over the providers
const PRICE = 10_000n; // 0.01 USDC
const FEE_BPS = 100n;
const DEPOSIT = 5_000_000n; // 5 USDC: several weeks of calls
const CALLS = AGENTS * CALLS_PER_AGENT;
const CALLS_PER_TRACK = CALLS_PER_AGENT / PROVIDERS; // one track per (agent, provider)
const CLAIMS = AGENTS * PROVIDERS;
/**
 * Claims per `settle` transaction. Osaka caps a transaction at 2^24 gas (EIP-7825), and a first
 * week's claim (a fresh track slot) costs about 30k, so the week goes out in batches of whole agents.
 */
const AGENTS_PER_BATCH = 50;
const BATCHES = Math.ceil(AGENTS / AGENTS_PER_BATCH);

/** The stated assumptions for the cost columns. */
const GAS_PRICE_GWEI = 0.01; // Base L2 execution gas price
const ETH_USD = 3_000;
const usdOf = (gas: number) => gas * GAS_PRICE_GWEI * 1e-9 * ETH_USD;

const account = (label: string): LocalAccount => privateKeyToAccount(keccak256(toHex(label)));

const connection = await network.create();
const publicClient = (await connection.viem.getPublicClient()) as unknown as PublicClient;
const operator = await connection.viem.getWalletClients().then(([first]) => {
  if (first === undefined) throw new Error("Hardhat gave no accounts");
  return first;
});

const mined = async (hash: Promise<Hash>) => {
  const receipt = await publicClient.getTransactionReceipt({ hash: await hash });
  if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
  return receipt;
};
const walletFor = async (local: LocalAccount) => {
  await connection.provider.request({ method: "hardhat_setBalance", params: [local.address, "0xDE0B6B3A7640000"] });
  return createWalletClient({ account: local, chain: hardhat, transport: custom(connection.provider) });
};
/** Funds `to` from the local FiatToken's issuer, its minter. */
const mint = (deployment: Deployment, to: Address, amount: bigint) => localUsdcIssuer({ publicClient, usdc: deployment.usdc }).mint(to, amount);

/**
 * One week's settlement: a claim per (agent, provider) track raised by its 5 calls, grouped by agent
 * as the settlement plans them, in batches of {@link AGENTS_PER_BATCH} agents; the escrow credits
 * each provider its calls less the fee. Returns the gas of all the week's batches.
 */
async function weeklySettle(deployment: Deployment, agents: readonly LocalAccount[], providers: readonly Address[], week: number): Promise<number> {
  const cumulative = PRICE * BigInt(CALLS_PER_TRACK * week);
  let gas = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    const batchAgents = agents.slice(batch * AGENTS_PER_BATCH, (batch + 1) * AGENTS_PER_BATCH);
    const claims: Claim[] = [];
    for (const agent of batchAgents) {
      for (const provider of providers) {
        const voucher = { chainId: deployment.chainId, escrow: deployment.escrow, account: agent.address, provider, maxCumulative: cumulative };
        claims.push({ account: agent.address, provider, maxCumulative: cumulative, cumulative, signature: await signVoucher(agent, voucher) });
      }
    }
    const sorted = settlementProviders(claims);
    const callsServed = batchAgents.length * CALLS_PER_TRACK;
    const reports = sorted.map((provider) => ({ provider, callsServed, callsFailed: 0 }));
    const receipt = await mined(
      operator.writeContract({
        address: deployment.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settle",
        args: [keccak256(toHex(`week ${week} batch ${batch}`)), encodeClaims(claims, sorted), reports],
      }),
    );
    gas += Number(receipt.gasUsed);
  }
  return gas;
}

/** The AgentTab week: settle (first and steady state), the providers' withdrawals, a top-up deposit. */
async function benchAgentTab() {
  const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS), relayer: operator.account.address });
  const agents = Array.from({ length: AGENTS }, (_, i) => account(`bench settle agent ${i}`));
  const providers = Array.from({ length: PROVIDERS }, (_, i) => account(`bench settle provider ${i}`));
  const total = DEPOSIT * BigInt(AGENTS);
  await mint(deployment, operator.account.address, total);
  await mined(operator.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [deployment.escrow, total] }));
  for (const agent of agents) {
    await mined(operator.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "depositFor", args: [agent.address, DEPOSIT] }));
  }
  const providerAddresses = providers.map((p) => p.address);
  const first = await weeklySettle(deployment, agents, providerAddresses, 1);
  // Week 1's credits are withdrawn in part (the first withdrawals), so that week 2's are the steady state.
  const withdraw = async (provider: LocalAccount) => {
    const wallet = await walletFor(provider);
    const earnings = await publicClient.readContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider.address] });
    const receipt = await mined(wallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "withdrawEarnings", args: [provider.address, earnings / 2n] }));
    return Number(receipt.gasUsed);
  };
  let firstWithdrawals = 0;
  for (const p of providers) firstWithdrawals += await withdraw(p);
  const steady = await weeklySettle(deployment, agents, providerAddresses, 2);
  let withdrawals = 0;
  for (const p of providers) withdrawals += await withdraw(p);

  // An agent topping up its account (allowance given once, account already funded).
  const agent = agents[0]!;
  const wallet = await walletFor(agent);
  await mint(deployment, agent.address, 2n * DEPOSIT);
  await mined(wallet.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [deployment.escrow, maxUint256] }));
  await mined(wallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [DEPOSIT] }));
  const topUp = Number((await mined(wallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [DEPOSIT] }))).gasUsed);
  return { first, firstWithdrawals, steady, withdrawals, withdrawal: Math.round(withdrawals / PROVIDERS), topUp };
}

/** One 0.01 USDC `transfer` from an agent to a provider, both already holding USDC. */
async function benchTransfer(): Promise<number> {
  const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS), relayer: operator.account.address });
  const payer = account("bench transfer agent");
  const provider = account("bench transfer provider").address;
  await mint(deployment, payer.address, DEPOSIT);
  await mint(deployment, provider, DEPOSIT);
  const wallet = await walletFor(payer);
  let gas = 0;
  for (let i = 0; i < 2; i++) {
    gas = Number((await mined(wallet.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "transfer", args: [provider, PRICE] }))).gasUsed);
  }
  return gas;
}

/** One 0.01 USDC x402 `exact` payment through the escrow to a provider that already has earnings. */
async function benchExact(): Promise<number> {
  const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS), relayer: operator.account.address });
  const payer = account("bench exact agent");
  const provider = account("bench exact provider").address;
  await mint(deployment, payer.address, DEPOSIT);
  let gas = 0;
  for (const round of [1, 2]) {
    const authorization = {
      from: payer.address,
      to: deployment.escrow,
      value: PRICE,
      validAfter: 0n,
      validBefore: 4_102_444_800n, // fixed, so that the calldata (and the gas) does not depend on the clock
      nonce: keccak256(toHex(`bench exact payment ${round}`)) as Hex,
    };
    const signature = await payer.signTypedData({
      domain: usdcDomain({ chainId: deployment.chainId, usdc: deployment.usdc }),
      types: transferWithAuthorizationTypes,
      primaryType: "TransferWithAuthorization",
      message: authorization,
    });
    const receipt = await mined(
      operator.writeContract({
        address: deployment.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settleExactPayment",
        args: [{ ...authorization, provider, fee: (PRICE * FEE_BPS) / 10_000n }, signature],
      }),
    );
    gas = Number(receipt.gasUsed);
  }
  return gas;
}

const agentTab = await benchAgentTab();
const transfer = await benchTransfer();
const exact = await benchExact();

const row = (name: string, transactions: number, gas: number) => ({
  name,
  transactions,
  gas,
  gasPerCall: Math.round(gas / CALLS),
  usd: Number(usdOf(gas).toFixed(4)),
  usdPerCall: Number(usdOf(gas / CALLS).toPrecision(3)),
});
const rows = [
  row("AgentTab settle (first week)", BATCHES, agentTab.first),
  row("AgentTab first week + 10 provider withdrawals", BATCHES + PROVIDERS, agentTab.first + agentTab.firstWithdrawals),
  row("AgentTab settle (steady week)", BATCHES, agentTab.steady),
  row("AgentTab settle + 10 provider withdrawals", BATCHES + PROVIDERS, agentTab.steady + agentTab.withdrawals),
  row("… and a top-up deposit by every agent", BATCHES + PROVIDERS + AGENTS, agentTab.steady + agentTab.withdrawals + AGENTS * agentTab.topUp),
  row("USDC transfer per call", CALLS, CALLS * transfer),
  row("x402 exact per call (settleExactPayment)", CALLS, CALLS * exact),
];

const pad = (value: string | number, width: number) => String(value).padStart(width);
const fmt = (n: number) => n.toLocaleString("en-US");
console.log(
  `A week: ${AGENTS} agents × ${CALLS_PER_AGENT} calls of 0.01 USDC across ${PROVIDERS} providers = ${fmt(CALLS)} calls, ${fmt(CLAIMS)} claims (one per agent and provider)`,
);
console.log(`Cost at ${GAS_PRICE_GWEI} gwei (Base L2 execution gas) and ETH = $${fmt(ETH_USD)}; L1 data fees excluded.\n`);
console.log(`${"".padEnd(42)} ${pad("txs", 5)} ${pad("gas", 12)} ${pad("gas/call", 9)} ${pad("USD", 9)} ${pad("USD/call", 10)}`);
for (const r of rows) {
  console.log(`${r.name.padEnd(42)} ${pad(fmt(r.transactions), 5)} ${pad(fmt(r.gas), 12)} ${pad(fmt(r.gasPerCall), 9)} ${pad(`$${r.usd.toFixed(4)}`, 9)} ${pad(`$${r.usdPerCall}`, 10)}`);
}
const [steadyRow, withWithdrawals, transferRow, exactRow] = [rows[2]!, rows[3]!, rows[5]!, rows[6]!];
console.log(
  `\nfirst week's settle (fresh tracks and providers, ${BATCHES} batches): ${fmt(agentTab.first)} gas; one withdrawal ${fmt(agentTab.withdrawal)}; one top-up deposit ${fmt(agentTab.topUp)}; one transfer ${fmt(transfer)}; one exact payment ${fmt(exact)}`,
);
console.log(
  `settle + withdrawals use ${(transferRow.gas / withWithdrawals.gas).toFixed(1)}× less gas than a transfer per call, ${(exactRow.gas / withWithdrawals.gas).toFixed(1)}× less than x402 exact per call (settle alone: ${(transferRow.gas / steadyRow.gas).toFixed(1)}× / ${(exactRow.gas / steadyRow.gas).toFixed(1)}×); ${fmt(Math.round(agentTab.steady / CLAIMS))} gas per claim`,
);

const out = path.join(import.meta.dirname, "results", "settle.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  `${JSON.stringify(
    {
      week: { agents: AGENTS, providers: PROVIDERS, callsPerAgent: CALLS_PER_AGENT, calls: CALLS, claims: CLAIMS, callsPerClaim: CALLS_PER_TRACK, batches: BATCHES, priceAtomic: PRICE.toString(), feeBps: Number(FEE_BPS) },
      assumptions: { gasPriceGwei: GAS_PRICE_GWEI, ethUsd: ETH_USD, l1DataFee: "excluded", chain: "in-process Hardhat (default hardfork), FiatToken v2.2 behind its proxy" },
      perWeek: { settleFirstWeek: agentTab.first, settleSteadyWeek: agentTab.steady, settleFirstPerClaim: Math.round(agentTab.first / CLAIMS), settleSteadyPerClaim: Math.round(agentTab.steady / CLAIMS), firstWithdrawals: agentTab.firstWithdrawals, steadyWithdrawals: agentTab.withdrawals },
      perTransaction: { withdrawEarnings: agentTab.withdrawal, topUpDeposit: agentTab.topUp, usdcTransfer: transfer, exactPayment: exact },
      rows,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
await connection.close();
