import { privateKeyToAccount } from "viem/accounts";

import { AgentTabClient, InsufficientBalanceError, PriceExceedsMaxError, ProviderClient } from "@agenttab/sdk";

import { settle } from "../settle/run.ts";
import type { LocalStack } from "../lib/localStack.ts";
import { demoKey } from "./keys.ts";
import type { Narrator } from "./narrator.ts";
import { oneLine, usdc } from "./narrator.ts";
import type { DemoProviders } from "./providers/catalog.ts";
import { registerDemoServices } from "./register.ts";
import { runTeamChapter } from "./teamChapter.ts";


/** What the story ends with, for the caller (and the smoke test) to check. */
export type StoryOutcome = {
  calls: number;
  spent: bigint;
  settledBatches: number;
  providerWithdrawn: bigint;
};

const FIRST_DEPOSIT = 1_000_000n;
const TOP_UP = 2_000_000n;

/**
 * The scripted agent: deposits without gas, discovers services, pays for calls, is refused a call
 * above its per-call cap, runs out of balance, tops up, goes on; then the weekly settlement runs
 * and a provider withdraws. In between, a team of delegates with budgets and a quality gate
 * switching to a backup and back (teamChapter.ts). Every step narrated with amounts, transaction hashes and gas.
 *
 * @example
 * await runStory({ stack, providers, say: createNarrator() });
 */
export async function runStory({ stack, providers, say }: { stack: LocalStack; providers: DemoProviders; say: Narrator }): Promise<StoryOutcome> {
  const agent = privateKeyToAccount(demoKey("agent"));
  let calls = 0;

  say.step("Providers list their services (signed registrations)");
  const registered = await registerDemoServices({ stack, providers });
  for (const { service, owner } of registered) {
    say.fact(service.serviceId, `${service.pricing === "fixed" ? usdc(service.price) : `${usdc(service.price)} per day simulated, at most ${usdc(service.maxPrice)}`} · provider ${owner.address}`);
  }

  say.step("An agent with USDC and no ETH deposits gaslessly (EIP-3009, relayed by the API)");
  await stack.mint(agent.address, FIRST_DEPOSIT + TOP_UP);
  const eth = await stack.publicClient.getBalance({ address: agent.address });
  say.fact("agent", `${agent.address} holds ${usdc(FIRST_DEPOSIT + TOP_UP)} and ${eth} wei of ETH`);
  const client = await AgentTabClient.connect({ apiUrl: stack.apiUrl, signer: agent, rpcUrl: stack.rpcUrl });
  const deposit = await client.deposit(FIRST_DEPOSIT, { method: "authorization", waitForIndexer: true });
  say.fact("deposited", `${usdc(FIRST_DEPOSIT)} · tx ${deposit.hash} · ${deposit.gasUsed} gas paid by the relayer`);
  say.fact("available", usdc((await client.getBalance()).available));

  say.step("Discovery: sentiment services by tag, best reputation first");
  const found = await client.discover({ tags: ["sentiment"], sort: "reputation" });
  for (const s of found.items) say.fact(s.id, `${usdc(s.price)} · reputation ${s.reputation.score ?? "unrated (no settled calls or feedback yet)"} · ${s.description}`);
  const finance = await client.discover({ category: "finance" });
  say.fact("category finance", finance.items.map((s) => s.id).join(", "));

  say.step("Paid calls (a voucher per call; the proxy meters, forwards and signs a receipt)");
  const paid = async (serviceId: string, parameters: Parameters<AgentTabClient["call"]>[1]) => {
    const result = await client.call<Record<string, unknown>>(serviceId, parameters);
    calls += 1;
    const valid = await client.verifyReceipt(result.receipt);
    say.fact(serviceId, `${usdc(result.amount)} in ${result.latencyMs} ms · receipt ${valid ? "verified" : "INVALID"} · cumulative ${usdc(result.receipt.cumulative)}`);
    return result;
  };
  const mood = await paid("sentiment-pro", { path: "/sentiment", method: "POST", body: { text: "ETH looks strong: a great rally, not a crash" } });
  say.note(`→ ${JSON.stringify({ score: mood.data.score, label: mood.data.label })}`);
  const series = await paid("eth-prices", { path: "/series?from=2025-06-01&to=2025-06-30" });
  say.note(`→ ${(series.data.days as unknown[]).length} daily closes from ${String(series.data.from)} to ${String(series.data.to)}`);
  const backtest = await paid("sma-backtest", { path: "/backtest", method: "POST", body: { fast: 10, slow: 30, from: "2025-01-01", to: "2025-06-30" }, maxAmount: 400_000n });
  say.note(`→ ${String(backtest.data.strategy)}: ${String(backtest.data.returnPct)}% vs buy-and-hold ${String(backtest.data.buyAndHoldPct)}% (metered: ${String(backtest.data.days)} days)`);

  say.step("A call above the agent's per-call cap is refused before anything is signed");
  try {
    await client.call("sma-backtest", { path: "/backtest", method: "POST", body: { fast: 5, slow: 20 }, maxAmount: 100_000n });
    throw new Error("the proxy accepted a call above the agent's cap");
  } catch (error) {
    if (!(error instanceof PriceExceedsMaxError)) throw error;
    say.fact(error.name, oneLine(error));
  }

  say.step("The agent keeps calling until its balance runs out");
  for (;;) {
    try {
      await paid("eth-prices", { path: "/series?from=2025-12-01" });
    } catch (error) {
      if (!(error instanceof InsufficientBalanceError)) throw error;
      say.fact(error.name, oneLine(error));
      break;
    }
  }
  say.fact("available", usdc((await client.getBalance()).available));

  say.step("It tops up (EIP-2612 permit, relayed) and carries on");
  const topUp = await client.deposit(TOP_UP, { method: "permit", waitForIndexer: true });
  say.fact("deposited", `${usdc(TOP_UP)} · tx ${topUp.hash} · ${topUp.gasUsed} gas paid by the relayer`);
  await paid("sentiment-pro", { path: "/sentiment", method: "POST", body: { text: "steady growth, no losses" } });

  calls += await runTeamChapter({ stack, providers, owner: agent, say });

  say.step("The weekly settlement: every voucher becomes one on-chain batch");
  const chain = { publicClient: stack.publicClient, walletClient: stack.deployer, chainId: stack.deployment.chainId, escrow: stack.deployment.escrow };
  const report = await settle({ sql: stack.app.sql, chain, confirmations: 1 });
  for (const batch of report.batches) {
    say.fact("batch", `${batch.claims} claims on ${batch.agents} account(s), ${usdc(batch.debited)} (fee ${usdc(batch.fee)}) · tx ${batch.txHash} · ${batch.gasUsed} gas`);
    for (const payout of batch.payouts) say.fact("  credited", `${payout.provider} ${usdc(payout.amount)}`);
  }
  say.fact("status", report.status);

  say.step("Discovery again: reputation now counts the calls each settlement reported served and failed");
  let rated = await client.discover({ tags: ["sentiment"], sort: "reputation" });
  for (let tries = 0; rated.items.some((s) => s.reputation.score === null) && tries < 100; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    rated = await client.discover({ tags: ["sentiment"], sort: "reputation" });
  }
  for (const s of rated.items) say.fact(s.id, `reputation ${s.reputation.score?.toFixed(3) ?? "unrated"} · ${s.reputation.callsServed} served, ${s.reputation.callsFailed} failed`);
  const reliable = await client.discover({ tags: ["sentiment"], minReputation: 0.5 });
  say.fact("minReputation 0.5", reliable.items.map((s) => s.id).join(", ") || "none");

  say.step("A provider withdraws its earnings on-chain");
  const owner = registered.find((r) => r.service.serviceId === "eth-prices")?.owner;
  if (owner === undefined) throw new Error("no eth-prices provider");
  const provider = await ProviderClient.connect({ apiUrl: stack.apiUrl, signer: owner, rpcUrl: stack.rpcUrl });
  // The API shows earnings once the indexer has seen the settlement.
  let earnings = await provider.getEarnings();
  for (let tries = 0; earnings.withdrawable === 0n && tries < 100; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    earnings = await provider.getEarnings();
  }
  say.fact("earnings", `settled ${usdc(earnings.settled)}, withdrawable ${usdc(earnings.withdrawable)}`);
  const withdrawal = await provider.withdraw();
  say.fact("withdrawn", `${usdc(withdrawal.amount)} to ${withdrawal.to} · tx ${withdrawal.hash} · ${withdrawal.gasUsed} gas`);

  say.step("The agent's spending report");
  const spending = await client.getSpendingReport({ period: "day" });
  say.fact("total", `${usdc(spending.total)} over ${spending.calls} calls (average ${usdc(spending.averagePerCall)})`);
  for (const row of spending.byService) say.fact(row.serviceId, `${usdc(row.total)} · ${row.calls} calls`);

  return { calls, spent: spending.total, settledBatches: report.batches.length, providerWithdrawn: withdrawal.amount };
}
