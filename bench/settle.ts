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
 * (the provider already has earnings). Costs are at a stated Base gas price and ETH price, plus
 * the L1 data fee Base charges each transaction, estimated from its signed bytes with the Fjord
 * formula (bench/lib/l1Fee.ts) at stated L1 prices and Base's fee scalars.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { network } from "hardhat";
import { createWalletClient, custom, hexToBytes, keccak256, maxUint256, toHex } from "viem";
import type { Address, Hash, Hex, LocalAccount, PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { deployAgentTab } from "../scripts/deploy.ts";
import { localUsdcIssuer } from "../scripts/lib/localUsdc.ts";
import { fastLzLength, fjordCostConstants, fjordL1Fee } from "./lib/l1Fee.ts";
import { getSignedTransaction } from "./lib/signedTransaction.ts";
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
const GAS_PRICE_WEI = 10_000_000n; // 0.01 gwei: Base L2 execution gas price
const ETH_USD = 3_000;
/**
 * What the L1 data fee is priced at: assumptions, not measured (the bench runs on loopback only and
 * reads no live chain). Base's GasPriceOracle (0x420000000000000000000000000000000000000F) gives the
 * values in force: `l1BaseFee()`, `blobBaseFee()`, `baseFeeScalar()`, `blobBaseFeeScalar()`.
 */
const L1_BASE_FEE = 1_000_000_000n;
const l1Prices = {
  l1BaseFee: L1_BASE_FEE,
  // EIP-7918 (Fusaka) holds a blob gas at no less than BLOB_BASE_COST / GAS_PER_BLOB = 2^13 / 2^17
  // of the execution base fee: priced at that floor.
  blobBaseFee: (L1_BASE_FEE * 2n ** 13n) / 2n ** 17n,
  baseFeeScalar: 2_269n,
  blobBaseFeeScalar: 1_055_762n,
};
const l1PriceSources = {
  l1BaseFee: "assumed: 1 gwei, a round figure for Ethereum's execution base fee; not measured",
  blobBaseFee: "assumed: the EIP-7918 floor at that base fee, l1BaseFee * 2^13 / 2^17 = 0.0625 gwei; not measured",
  baseFeeScalar:
    "Base mainnet SystemConfig (0x73a79Fab69143498Ed3712e519A88a918e1f4072) basefeeScalar 2269, as set by ethereum-optimism/superchain-ops tasks/eth/029-holocene-system-config-upgrade-and-init-base (VALIDATION.md); not read live, may have changed since",
  blobBaseFeeScalar: "the same SystemConfig's blobbasefeeScalar 1055762, set by the same task; not read live, may have changed since",
};
const usdOfWei = (wei: bigint) => (Number(wei) / 1e18) * ETH_USD;

/** A mined transaction: its gas, and the L1 data fee Base would charge for its signed bytes. */
type SentTransaction = { name: string; gas: number; bytes: number; fastlzSize: number; l1FeeWei: bigint };
/** A week's claims in the `settle` calldata: count, packed bytes, and those bytes' FastLZ length. */
type ClaimBytes = { claims: number; calldataBytes: number; fastlzBytes: number };

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
/** Mines a transaction and prices its signed bytes' L1 data. */
const sent = async (name: string, hash: Promise<Hash>): Promise<SentTransaction> => {
  const receipt = await mined(hash);
  const signed = hexToBytes(await getSignedTransaction(publicClient, receipt.transactionHash));
  const fastlzSize = fastLzLength(signed);
  return { name, gas: Number(receipt.gasUsed), bytes: signed.length, fastlzSize, l1FeeWei: fjordL1Fee({ ...l1Prices, fastlzSize }).l1Fee };
};
const totalOf = (transactions: readonly SentTransaction[]) => ({
  gas: transactions.reduce((sum, t) => sum + t.gas, 0),
  l1FeeWei: transactions.reduce((sum, t) => sum + t.l1FeeWei, 0n),
});
const walletFor = async (local: LocalAccount) => {
  await connection.provider.request({ method: "hardhat_setBalance", params: [local.address, "0xDE0B6B3A7640000"] });
  return createWalletClient({ account: local, chain: hardhat, transport: custom(connection.provider) });
};
/** Funds `to` from the local FiatToken's issuer, its minter. */
const mint = (deployment: Deployment, to: Address, amount: bigint) => localUsdcIssuer({ publicClient, usdc: deployment.usdc }).mint(to, amount);

/**
 * One week's settlement: a claim per (agent, provider) track raised by its 5 calls, grouped by agent
 * as the settlement plans them, in batches of {@link AGENTS_PER_BATCH} agents; the escrow credits
 * each provider its calls less the fee. Returns the week's batches and the size of its claims.
 */
async function weeklySettle(
  deployment: Deployment,
  agents: readonly LocalAccount[],
  providers: readonly Address[],
  week: number,
): Promise<{ batches: SentTransaction[]; claimBytes: ClaimBytes }> {
  const cumulative = PRICE * BigInt(CALLS_PER_TRACK * week);
  const batches: SentTransaction[] = [];
  const claimBytes: ClaimBytes = { claims: 0, calldataBytes: 0, fastlzBytes: 0 };
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
    const encoded = encodeClaims(claims, sorted);
    const packed = hexToBytes(encoded);
    claimBytes.claims += claims.length;
    claimBytes.calldataBytes += packed.length;
    claimBytes.fastlzBytes += fastLzLength(packed);
    batches.push(
      await sent(
        `settle week ${week} batch ${batch}`,
        operator.writeContract({
          address: deployment.escrow,
          abi: agentTabEscrowAbi,
          functionName: "settle",
          args: [keccak256(toHex(`week ${week} batch ${batch}`)), encoded, reports],
        }),
      ),
    );
  }
  return { batches, claimBytes };
}

/** The AgentTab week: settle (first and steady state), the providers' withdrawals, a top-up deposit. */
async function benchAgentTab() {
  const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS), relayer: operator.account.address });
  const token = await getTokenContractName({ publicClient, token: deployment.usdc });
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
  const withdraw = async (provider: LocalAccount, i: number) => {
    const wallet = await walletFor(provider);
    const earnings = await publicClient.readContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider.address] });
    return sent(
      `withdrawEarnings provider ${i}`,
      wallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "withdrawEarnings", args: [provider.address, earnings / 2n] }),
    );
  };
  const firstWithdrawals: SentTransaction[] = [];
  for (const [i, p] of providers.entries()) firstWithdrawals.push(await withdraw(p, i));
  const steady = await weeklySettle(deployment, agents, providerAddresses, 2);
  const withdrawals: SentTransaction[] = [];
  for (const [i, p] of providers.entries()) withdrawals.push(await withdraw(p, i));

  // An agent topping up its account (allowance given once, account already funded).
  const agent = agents[0]!;
  const wallet = await walletFor(agent);
  await mint(deployment, agent.address, 2n * DEPOSIT);
  await mined(wallet.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [deployment.escrow, maxUint256] }));
  await mined(wallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [DEPOSIT] }));
  const topUp = await sent("top-up deposit", wallet.writeContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [DEPOSIT] }));
  return { token, first, firstWithdrawals, steady, withdrawals, withdrawal: Math.round(totalOf(withdrawals).gas / PROVIDERS), topUp };
}

/** One 0.01 USDC `transfer` from an agent to a provider, both already holding USDC. */
async function benchTransfer(): Promise<SentTransaction> {
  const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS), relayer: operator.account.address });
  const payer = account("bench transfer agent");
  const provider = account("bench transfer provider").address;
  await mint(deployment, payer.address, DEPOSIT);
  await mint(deployment, provider, DEPOSIT);
  const wallet = await walletFor(payer);
  let transfer: SentTransaction | undefined;
  for (let i = 0; i < 2; i++) {
    transfer = await sent("USDC transfer", wallet.writeContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "transfer", args: [provider, PRICE] }));
  }
  return transfer!;
}

/** One 0.01 USDC x402 `exact` payment through the escrow to a provider that already has earnings. */
async function benchExact(): Promise<SentTransaction> {
  const { deployment } = await deployAgentTab({ publicClient, walletClient: operator }, { feeBps: Number(FEE_BPS), relayer: operator.account.address });
  const payer = account("bench exact agent");
  const provider = account("bench exact provider").address;
  await mint(deployment, payer.address, DEPOSIT);
  let exact: SentTransaction | undefined;
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
    exact = await sent(
      "settleExactPayment",
      operator.writeContract({
        address: deployment.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settleExactPayment",
        args: [{ ...authorization, provider, fee: (PRICE * FEE_BPS) / 10_000n }, signature],
      }),
    );
  }
  return exact!;
}

const agentTab = await benchAgentTab();
const transfer = await benchTransfer();
const exact = await benchExact();

const first = totalOf(agentTab.first.batches);
const steady = totalOf(agentTab.steady.batches);
const firstWithdrawals = totalOf(agentTab.firstWithdrawals);
const withdrawals = totalOf(agentTab.withdrawals);
const times = (t: SentTransaction, n: number) => ({ gas: t.gas * n, l1FeeWei: t.l1FeeWei * BigInt(n) });
const plus = (...parts: { gas: number; l1FeeWei: bigint }[]) => ({ gas: parts.reduce((s, p) => s + p.gas, 0), l1FeeWei: parts.reduce((s, p) => s + p.l1FeeWei, 0n) });

/** A way to pay the week's calls: gas, execution cost, L1 data fee and their sum, in all and per call. */
const row = (name: string, transactions: number, { gas, l1FeeWei }: { gas: number; l1FeeWei: bigint }) => {
  const executionWei = BigInt(gas) * GAS_PRICE_WEI;
  const totalWei = executionWei + l1FeeWei;
  return {
    name,
    transactions,
    gas,
    gasPerCall: Math.round(gas / CALLS),
    usd: Number(usdOfWei(executionWei).toFixed(4)),
    usdPerCall: Number(usdOfWei(executionWei / BigInt(CALLS)).toPrecision(3)),
    l1FeeWei: l1FeeWei.toString(),
    l1Usd: Number(usdOfWei(l1FeeWei).toFixed(4)),
    usdWithL1: Number(usdOfWei(totalWei).toFixed(4)),
    usdPerCallWithL1: Number(usdOfWei(totalWei / BigInt(CALLS)).toPrecision(3)),
  };
};
const rows = [
  row("AgentTab settle (first week)", BATCHES, first),
  row("AgentTab first week + 10 provider withdrawals", BATCHES + PROVIDERS, plus(first, firstWithdrawals)),
  row("AgentTab settle (steady week)", BATCHES, steady),
  row("AgentTab settle + 10 provider withdrawals", BATCHES + PROVIDERS, plus(steady, withdrawals)),
  row("… and a top-up deposit by every agent", BATCHES + PROVIDERS + AGENTS, plus(steady, withdrawals, times(agentTab.topUp, AGENTS))),
  row("USDC transfer per call", CALLS, times(transfer, CALLS)),
  row("x402 exact per call (settleExactPayment)", CALLS, times(exact, CALLS)),
];
/** The goal's figure: gas per paid call of the steady week, the settlement plus each provider withdrawing once. */
const gasPerCall = Math.round(plus(steady, withdrawals).gas / CALLS);

const perClaim = (week: { batches: SentTransaction[]; claimBytes: ClaimBytes }) => {
  const { claims, calldataBytes, fastlzBytes } = week.claimBytes;
  const { gas, l1FeeWei } = totalOf(week.batches);
  return {
    claims,
    calldataBytes: Math.round((calldataBytes / claims) * 10) / 10,
    fastlzBytes: Math.round((fastlzBytes / claims) * 10) / 10,
    transactionFastlzBytes: Math.round((week.batches.reduce((s, b) => s + b.fastlzSize, 0) / claims) * 10) / 10,
    gas: Math.round(gas / claims),
    l1FeeWei: (l1FeeWei / BigInt(claims)).toString(),
  };
};
const claimsFirstWeek = perClaim(agentTab.first);
const claimsSteadyWeek = perClaim(agentTab.steady);
/** Issue 17's goal for an own-account claim's packed bytes, before compression. */
const CLAIM_BYTES_GOAL = 100;

const pad = (value: string | number, width: number) => String(value).padStart(width);
const fmt = (n: number) => n.toLocaleString("en-US");
console.log(
  `A week: ${AGENTS} agents × ${CALLS_PER_AGENT} calls of 0.01 USDC across ${PROVIDERS} providers = ${fmt(CALLS)} calls, ${fmt(CLAIMS)} claims (one per agent and provider), on ${agentTab.token}`,
);
console.log(
  `Cost at ${Number(GAS_PRICE_WEI) / 1e9} gwei (Base L2 execution gas) and ETH = $${fmt(ETH_USD)}; L1 data fee (Fjord) at L1 base fee ${Number(l1Prices.l1BaseFee) / 1e9} gwei, blob base fee ${Number(l1Prices.blobBaseFee) / 1e9} gwei, scalars ${l1Prices.baseFeeScalar} / ${l1Prices.blobBaseFeeScalar}.\n`,
);
console.log(`${"".padEnd(46)} ${pad("txs", 5)} ${pad("gas", 12)} ${pad("gas/call", 9)} ${pad("L2 USD", 9)} ${pad("L1 USD", 8)} ${pad("USD/call", 10)} ${pad("+L1/call", 10)}`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(46)} ${pad(fmt(r.transactions), 5)} ${pad(fmt(r.gas), 12)} ${pad(fmt(r.gasPerCall), 9)} ${pad(`$${r.usd.toFixed(4)}`, 9)} ${pad(`$${r.l1Usd.toFixed(4)}`, 8)} ${pad(`$${r.usdPerCall}`, 10)} ${pad(`$${r.usdPerCallWithL1}`, 10)}`,
  );
}
console.log(`\n${"transaction".padEnd(30)} ${pad("gas", 10)} ${pad("bytes", 7)} ${pad("fastlz", 7)} ${pad("L1 fee (wei)", 16)}`);
const reported = [...agentTab.first.batches, agentTab.firstWithdrawals[0]!, ...agentTab.steady.batches, agentTab.withdrawals[0]!, agentTab.topUp, transfer, exact];
for (const t of reported) console.log(`${t.name.padEnd(30)} ${pad(fmt(t.gas), 10)} ${pad(fmt(t.bytes), 7)} ${pad(fmt(t.fastlzSize), 7)} ${pad(fmt(Number(t.l1FeeWei)), 16)}`);
console.log(
  `\nper claim (steady week): ${claimsSteadyWeek.calldataBytes} bytes packed (goal ≤ ${CLAIM_BYTES_GOAL}), ${claimsSteadyWeek.fastlzBytes} FastLZ bytes; ${fmt(claimsSteadyWeek.gas)} gas; L1 fee ${fmt(Number(claimsSteadyWeek.l1FeeWei))} wei`,
);
console.log(
  `first week's settle (fresh tracks and providers, ${BATCHES} batches): ${fmt(first.gas)} gas; one withdrawal ${fmt(agentTab.withdrawal)}; one top-up deposit ${fmt(agentTab.topUp.gas)}; one transfer ${fmt(transfer.gas)}; one exact payment ${fmt(exact.gas)}`,
);
const [steadyRow, withWithdrawals, transferRow, exactRow] = [rows[2]!, rows[3]!, rows[5]!, rows[6]!];
console.log(
  `settle + withdrawals use ${(transferRow.gas / withWithdrawals.gas).toFixed(1)}× less gas than a transfer per call, ${(exactRow.gas / withWithdrawals.gas).toFixed(1)}× less than x402 exact per call (settle alone: ${(transferRow.gas / steadyRow.gas).toFixed(1)}× / ${(exactRow.gas / steadyRow.gas).toFixed(1)}×); ${fmt(Math.round(steady.gas / CLAIMS))} gas per claim; ${fmt(gasPerCall)} gas per paid call (goal ≤ 1,000)`,
);

const jsonTransaction = (t: SentTransaction) => ({ ...t, l1FeeWei: t.l1FeeWei.toString() });
const out = path.join(import.meta.dirname, "results", "settle.json");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  `${JSON.stringify(
    {
      token: agentTab.token,
      week: { agents: AGENTS, providers: PROVIDERS, callsPerAgent: CALLS_PER_AGENT, calls: CALLS, claims: CLAIMS, callsPerClaim: CALLS_PER_TRACK, batches: BATCHES, priceAtomic: PRICE.toString(), feeBps: Number(FEE_BPS) },
      assumptions: {
        gasPriceGwei: Number(GAS_PRICE_WEI) / 1e9,
        ethUsd: ETH_USD,
        chain: `in-process Hardhat (default hardfork), ${agentTab.token} behind its proxy; transactions are the local chain's (chain id 31337, Hardhat's fee fields), a few bytes off Base's`,
        l1DataFee: {
          formula: "Fjord (OP Stack): estimatedSizeScaled = max(minTransactionSize * 1e6, intercept + fastlzCoef * fastlzSize); l1Fee = estimatedSizeScaled * (baseFeeScalar * l1BaseFee * 16 + blobBaseFeeScalar * blobBaseFee) / 1e12",
          constants: Object.fromEntries(Object.entries(fjordCostConstants).map(([k, v]) => [k, v.toString()])),
          fastlzSizeOf: "the signed serialized transaction, rebuilt from the node's record and checked against its hash",
          l1BaseFeeWei: l1Prices.l1BaseFee.toString(),
          blobBaseFeeWei: l1Prices.blobBaseFee.toString(),
          baseFeeScalar: l1Prices.baseFeeScalar.toString(),
          blobBaseFeeScalar: l1Prices.blobBaseFeeScalar.toString(),
          sources: l1PriceSources,
        },
      },
      gasPerCall,
      perWeek: {
        settleFirstWeek: first.gas,
        settleSteadyWeek: steady.gas,
        settleFirstPerClaim: Math.round(first.gas / CLAIMS),
        settleSteadyPerClaim: Math.round(steady.gas / CLAIMS),
        firstWithdrawals: firstWithdrawals.gas,
        steadyWithdrawals: withdrawals.gas,
      },
      perClaim: { goalCalldataBytes: CLAIM_BYTES_GOAL, firstWeek: claimsFirstWeek, steadyWeek: claimsSteadyWeek },
      perTransaction: { withdrawEarnings: agentTab.withdrawal, topUpDeposit: agentTab.topUp.gas, usdcTransfer: transfer.gas, exactPayment: exact.gas },
      transactions: {
        settleFirstWeek: agentTab.first.batches.map(jsonTransaction),
        firstWithdrawals: agentTab.firstWithdrawals.map(jsonTransaction),
        settleSteadyWeek: agentTab.steady.batches.map(jsonTransaction),
        steadyWithdrawals: agentTab.withdrawals.map(jsonTransaction),
        topUpDeposit: jsonTransaction(agentTab.topUp),
        usdcTransfer: jsonTransaction(transfer),
        exactPayment: jsonTransaction(exact),
      },
      rows,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
await connection.close();
