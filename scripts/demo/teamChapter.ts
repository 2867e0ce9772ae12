import { privateKeyToAccount } from "viem/accounts";
import type { LocalAccount } from "viem";

import { AgentTabClient, ApiRequestError, Team, UpstreamFailedError } from "@agenttab/sdk";

import type { LocalStack } from "../lib/localStack.ts";
import { demoKey } from "./keys.ts";
import type { Narrator } from "./narrator.ts";
import { oneLine, usdc } from "./narrator.ts";
import type { DemoProviders } from "./providers/catalog.ts";

const SCOUT_BUDGET = 100_000n;

/**
 * The multi-agent chapter: the funded agent becomes a team owner, authorizes two delegates
 * on-chain and gives each rules (allowed services, a daily budget, a per-call cap); a member is
 * refused outside its rules. Then a quality gate: the primary sentiment model fails, calls are
 * served by the backup, and the primary is restored once it recovers.
 *
 * @example
 * const calls = await runTeamChapter({ stack, providers, owner: agent, say });
 */
export async function runTeamChapter({ stack, providers, owner, say }: { stack: LocalStack; providers: DemoProviders; owner: LocalAccount; say: Narrator }): Promise<number> {
  let calls = 0;
  const { chainId, escrow } = stack.deployment;

  say.step("A team: the agent authorizes two delegates on-chain and gives each its own rules");
  await stack.fundGas(owner.address);
  say.note("(authorizing a delegate is an on-chain transaction from the owner, so the owner now holds some ETH)");
  const ownerClient = await AgentTabClient.connect({ apiUrl: stack.apiUrl, signer: owner, rpcUrl: stack.rpcUrl });
  const scout = privateKeyToAccount(demoKey("scout"));
  const analyst = privateKeyToAccount(demoKey("analyst"));
  for (const [member, cap] of [[scout, 1_000_000n], [analyst, 2_000_000n]] as const) {
    const delegated = await ownerClient.authorizeDelegate(member.address, { cap });
    say.fact("delegate", `${member.address} capped at ${usdc(cap)} on-chain · tx ${delegated.hash} · ${delegated.gasUsed} gas`);
  }
  const team = await Team.create({ apiUrl: stack.apiUrl, owner, chainId, escrow, name: "research desk" });
  await team.addMember({ member: scout.address, services: ["eth-prices", "sentiment-pro"], dailyBudget: SCOUT_BUDGET, callCap: 60_000n });
  await team.addMember({ member: analyst.address, services: ["*"], dailyBudget: 1_000_000n });
  say.fact("scout", `eth-prices and sentiment-pro only, ${usdc(SCOUT_BUDGET)} a day, at most 0.06 USDC a call`);
  say.fact("analyst", "any service, 1 USDC a day");

  const memberClient = (member: LocalAccount) => AgentTabClient.connect({ apiUrl: stack.apiUrl, signer: member, account: owner.address, rpcUrl: stack.rpcUrl });
  const scoutClient = await memberClient(scout);
  // The proxy trusts a delegation once the indexer has seen it (a delegate may then read its owner's balance).
  for (let tries = 0; ; tries++) {
    try {
      await scoutClient.getBalance();
      break;
    } catch (error) {
      if (tries > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const refusal = async (what: string, attempt: () => Promise<unknown>) => {
    try {
      await attempt();
      calls += 1;
      return false;
    } catch (error) {
      if (!(error instanceof ApiRequestError)) throw error;
      say.fact(`refused (${what})`, `${error.status} ${error.code} · ${oneLine(error)}`);
      return true;
    }
  };
  const prices = await scoutClient.call("eth-prices", { path: "/series?from=2025-03-01&to=2025-03-07" });
  calls += 1;
  say.fact("scout paid", `${usdc(prices.amount)} for eth-prices, drawn on the owner's deposit`);
  await refusal("not allowed", () => scoutClient.call("sma-backtest", { path: "/backtest", method: "POST", body: { fast: 3, slow: 9 } }));
  while (!(await refusal("daily budget", () => scoutClient.call("eth-prices", { path: "/series?from=2025-04-01&to=2025-04-02" })))) {
    // the scout spends until its budget says no
  }

  say.step("A quality gate: sentiment-pro, with sentiment-lite as its backup");
  await team.addQualityGate({ primary: "sentiment-pro", backup: "sentiment-lite", minReliability: 0.8, windowCalls: 5, probeIntervalMs: 400 });
  // Each API instance reloads its gates within a second.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const analystClient = await memberClient(analyst);
  const served: string[] = [];
  const sentiment = async () => {
    try {
      const result = await analystClient.call("sentiment-pro", { path: "/sentiment", method: "POST", body: { text: "bullish growth" } });
      calls += 1;
      const by = result.headers.get("x-acf-served-by") ?? "?";
      served.push(by);
      return { by, amount: result.amount };
    } catch (error) {
      if (!(error instanceof UpstreamFailedError)) throw error;
      served.push("failed");
      return { by: "failed (not charged)", amount: 0n };
    }
  };
  const show = (label: string, first: number) => say.fact(label, served.slice(first).join(" → "));
  let mark = served.length;
  for (let i = 0; i < 3; i++) await sentiment();
  show("healthy", mark);

  providers.sentimentPro.failing = true;
  mark = served.length;
  // One call every 100 ms: the proxy re-reads a primary's record at most every 200 ms.
  for (let i = 0; i < 40 && served.at(-1) !== "sentiment-lite"; i++) {
    await sentiment();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const switched = served.at(-1) === "sentiment-lite";
  // Two more: on a loaded machine one of them may be the gate's probe of the primary (one per
  // 400 ms), which fails while the primary does; the switch itself was seen above.
  for (let i = 0; i < 2; i++) await sentiment();
  show("primary failing", mark);
  if (!switched) throw new Error("the gate never switched to the backup");

  providers.sentimentPro.failing = false;
  mark = served.length;
  for (let i = 0; i < 80 && served.at(-1) !== "sentiment-pro"; i++) {
    await sentiment();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  show("primary recovered", mark);
  if (served.at(-1) !== "sentiment-pro") throw new Error("the gate never switched back to the primary");

  const report = await team.getSpendingReport({ period: "day" });
  say.fact("team spent", `${usdc(report.total)} over ${report.calls} calls`);
  const names = new Map([scout, analyst, owner].map((a, i) => [a.address.toLowerCase(), ["scout", "analyst", "owner"][i] as string]));
  for (const row of report.byMember) say.fact(`  ${names.get(row.member.toLowerCase()) ?? row.member}`, `${usdc(row.total)} · ${row.calls} calls`);
  for (const row of report.byService) say.fact(`  ${row.serviceId}`, `${usdc(row.total)} · ${row.calls} calls`);
  return calls;
}
