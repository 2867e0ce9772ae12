import type { AddressInfo } from "node:net";

import type { LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Team, authorizationHeader, signIn, signTeamChange } from "@agenttab/sdk";
import type { TeamChangeKind, TeamChangeMessages } from "@agenttab/sdk";

import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import { awaitFreshWindow } from "./helpers/clockWindow.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader } from "./helpers/payments.ts";

const PRICE = 100_000n;
const DELEGATE_CAP = 1_000n * PRICE;

describe("api: agent teams — members spend one owner's deposit within signed budgets", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let baseUrl: string;
  let forwarded = 0;
  const provider = testAccount("teams provider");
  // `owner` funds the team; `scout` and `writer` are its members for the rule tests, `racers` for
  // the race. `frugal` owns a second, thinly funded team whose members race for its balance.
  const owner = testAccount("teams owner");
  const scout = testAccount("teams scout");
  const writer = testAccount("teams writer");
  const racers = [testAccount("teams racer 1"), testAccount("teams racer 2"), testAccount("teams racer 3")];
  const frugal = testAccount("teams frugal owner");
  const frugalMembers = [testAccount("teams frugal member 1"), testAccount("teams frugal member 2")];
  const stranger = testAccount("teams stranger");
  let team: Team;

  const teamOf = (signer: LocalAccount) => new Team({ apiUrl: baseUrl, owner: signer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow });
  const deadline = () => BigInt(Math.floor(Date.now() / 1000) + 300);

  /** Sends a team change signed by `signer` (the owner unless a test says otherwise). */
  async function sendChange<kind extends TeamChangeKind>(
    signer: LocalAccount,
    { method, path, kind, message, body }: { method: string; path: string; kind: kind; message: TeamChangeMessages[kind]; body: Record<string, unknown> },
  ) {
    const { chainId, escrow } = stack.chain.deployment;
    const signature = await signTeamChange(signer, { chainId, escrow, kind, message });
    return stack.app.inject({
      method: method as "PUT",
      url: path,
      payload: { ...body, nonce: message.nonce.toString(), deadline: message.deadline.toString(), signature },
    });
  }

  async function call(member: LocalAccount, serviceId: string, account = owner.address) {
    const payment = await voucherHeader(stack.chain.deployment, { signer: member, account, provider: provider.address, maxCumulative: DELEGATE_CAP });
    const res = await fetch(`${baseUrl}/v1/proxy/${serviceId}/run`, { headers: { "payment-signature": payment } });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null, headers: res.headers };
  }

  async function ledgerOf(account: string) {
    const [row] = await stack.app.sql<{ charged: string; reserved: string }[]>`SELECT charged, reserved FROM ledger_accounts WHERE account = ${account.toLowerCase()}`;
    return { charged: BigInt(row?.charged ?? 0), reserved: BigInt(row?.reserved ?? 0) };
  }

  async function chargedBy(account: string, signer: string) {
    const [row] = await stack.app.sql<{ total: string; calls: number }[]>`
      SELECT coalesce(sum(amount), 0) AS total, count(*)::int AS calls FROM charges WHERE account = ${account.toLowerCase()} AND signer = ${signer.toLowerCase()}`;
    return { total: BigInt(row?.total ?? 0), calls: row?.calls ?? 0 };
  }

  beforeAll(async () => {
    // Daily budgets reset at 00:00 UTC: a run that straddled it would see a member's budget refill.
    await awaitFreshWindow(86_400_000, 180_000);
    // A slow upstream keeps concurrent calls in flight together, so their reservations race.
    upstream = await startUpstream((_req, res) => {
      forwarded++;
      setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'), 50);
    });
    stack = await startApiStack({ rateLimit: { max: 10_000, windowMs: 60_000 } });
    await listService(stack, { id: "alpha", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await listService(stack, { id: "beta", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;

    await depositAs(stack.chain, owner, 100n * PRICE);
    await depositAs(stack.chain, frugal, 5n * PRICE);
    for (const member of [scout, writer, ...racers]) await escrowAs(stack.chain, owner, "authorizeDelegate", [member.address, DELEGATE_CAP, 0]);
    for (const member of frugalMembers) await escrowAs(stack.chain, frugal, "authorizeDelegate", [member.address, DELEGATE_CAP, 0]);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: frugal.address }), (a) => a?.balance === 5n * PRICE);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: frugal.address, delegate: frugalMembers[1]!.address }), (d) => d?.active === true);
  }, 320_000); // setup, plus up to 3 min waiting out midnight UTC

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("creates a team and adds members through the SDK, each change signed by the owner", async () => {
    team = await Team.create({ apiUrl: baseUrl, owner, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, name: "research" });
    await team.addMember({ member: scout.address, services: ["alpha"], dailyBudget: 5n * PRICE });
    await team.addMember({ member: writer.address, services: ["*"], dailyBudget: 5n * PRICE, callCap: PRICE });
    await team.setBudget({ member: writer.address, dailyBudget: 6n * PRICE, callCap: PRICE });

    const token = await signIn(owner, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow });
    const res = await stack.app.inject({ method: "GET", url: `/v1/teams/${owner.address}`, headers: { authorization: authorizationHeader(token) } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      owner: owner.address.toLowerCase(),
      name: "research",
      members: [
        { member: scout.address.toLowerCase(), services: ["alpha"], dailyBudget: (5n * PRICE).toString(), callCap: null, spentToday: "0" },
        { member: writer.address.toLowerCase(), services: ["*"], dailyBudget: (6n * PRICE).toString(), callCap: PRICE.toString(), spentToday: "0" },
      ],
      gates: [],
    });
    // Someone else's sign-in reads nothing.
    const other = await signIn(stranger, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow });
    const forbidden = await stack.app.inject({ method: "GET", url: `/v1/teams/${owner.address}`, headers: { authorization: authorizationHeader(other) } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toMatchObject({ code: "forbidden" });
  });

  it("refuses changes that are mis-signed, replayed, out of date or malformed, and applies none of them", async () => {
    const path = `/v1/teams/${owner.address}/members/${scout.address}/budget`;
    const nonce = BigInt(Date.now()) * 1_000n + 999n;
    const budget = (dailyBudget: bigint, n: bigint, d = deadline()) =>
      ({ owner: owner.address, member: scout.address, dailyBudget, callCap: 0n, nonce: n, deadline: d }) as const;
    const bodyOf = (m: { dailyBudget: bigint; callCap: bigint }) => ({ dailyBudget: m.dailyBudget.toString(), callCap: m.callCap.toString() });

    // Signed by a member instead of the owner.
    const forged = budget(100n * PRICE, nonce);
    const mis = await sendChange(scout, { method: "PUT", path, kind: "TeamMemberBudget", message: forged, body: bodyOf(forged) });
    expect([mis.statusCode, mis.json().code]).toEqual([401, "invalid_signature"]);
    // Signed by the owner, but the body says more than the signature covers.
    const signed = budget(4n * PRICE, nonce);
    const tampered = await sendChange(owner, { method: "PUT", path, kind: "TeamMemberBudget", message: signed, body: bodyOf({ ...signed, dailyBudget: 100n * PRICE }) });
    expect([tampered.statusCode, tampered.json().code]).toEqual([401, "invalid_signature"]);
    // The genuine change applies once; its replay and any older nonce are refused.
    const applied = await sendChange(owner, { method: "PUT", path, kind: "TeamMemberBudget", message: signed, body: bodyOf(signed) });
    expect(applied.statusCode).toBe(200);
    const replay = await sendChange(owner, { method: "PUT", path, kind: "TeamMemberBudget", message: signed, body: bodyOf(signed) });
    expect([replay.statusCode, replay.json().code]).toEqual([409, "stale_nonce"]);
    const older = budget(50n * PRICE, nonce - 1n);
    const stale = await sendChange(owner, { method: "PUT", path, kind: "TeamMemberBudget", message: older, body: bodyOf(older) });
    expect([stale.statusCode, stale.json().code]).toEqual([409, "stale_nonce"]);
    const expired = budget(50n * PRICE, nonce + 1n, BigInt(Math.floor(Date.now() / 1000) - 10));
    const late = await sendChange(owner, { method: "PUT", path, kind: "TeamMemberBudget", message: expired, body: bodyOf(expired) });
    expect([late.statusCode, late.json().code]).toEqual([400, "deadline_expired"]);
    const bad = await stack.app.inject({ method: "PUT", url: path, payload: { dailyBudget: "-1", callCap: "0", nonce: "1", deadline: "1", signature: `0x${"11".repeat(65)}` } });
    expect([bad.statusCode, bad.json().code]).toEqual([400, "invalid_amount"]);
    // A second team for the same owner, a member or team that does not exist.
    const again = await sendChange(owner, {
      method: "POST",
      path: "/v1/teams",
      kind: "TeamCreation",
      message: { owner: owner.address, name: "again", nonce: nonce + 2n, deadline: deadline() },
      body: { owner: owner.address, name: "again" },
    });
    expect([again.statusCode, again.json().code]).toEqual([409, "team_exists"]);
    const ghost = await sendChange(owner, {
      method: "DELETE",
      path: `/v1/teams/${owner.address}/members/${stranger.address}`,
      kind: "TeamMemberRemoval",
      message: { owner: owner.address, member: stranger.address, nonce: nonce + 3n, deadline: deadline() },
      body: {},
    });
    expect([ghost.statusCode, ghost.json().code]).toEqual([404, "member_not_found"]);
    const noTeam = await sendChange(stranger, {
      method: "PUT",
      path: `/v1/teams/${stranger.address}/members/${scout.address}/budget`,
      kind: "TeamMemberBudget",
      message: { owner: stranger.address, member: scout.address, dailyBudget: 1n, callCap: 0n, nonce: 1n, deadline: deadline() },
      body: { dailyBudget: "1", callCap: "0" },
    });
    expect([noTeam.statusCode, noTeam.json().code]).toEqual([404, "team_not_found"]);

    const [member] = await stack.app.sql`SELECT daily_budget FROM team_members WHERE owner = ${owner.address.toLowerCase()} AND member = ${scout.address.toLowerCase()}`;
    expect(member?.daily_budget).toBe((4n * PRICE).toString());
    // The refused removal did not consume its nonce: the next change with the one after applies.
    await team.setBudget({ member: scout.address, dailyBudget: 5n * PRICE });
  });

  it("refuses a service the member may not call and a call above its per-call cap, before anything is reserved or forwarded", async () => {
    const before = { forwarded, ledger: await ledgerOf(owner.address) };
    const notAllowed = await call(scout, "beta");
    expect(notAllowed.status).toBe(403);
    expect(notAllowed.body).toMatchObject({ code: "service_not_allowed", details: { limit: "services", serviceId: "beta" } });

    await team.setBudget({ member: scout.address, dailyBudget: 5n * PRICE, callCap: PRICE / 2n });
    const capped = await call(scout, "alpha");
    expect(capped.status).toBe(403);
    expect(capped.body).toMatchObject({ code: "member_call_cap_exceeded", details: { limit: "callCap", callCap: (PRICE / 2n).toString(), required: PRICE.toString() } });

    expect(forwarded).toBe(before.forwarded);
    expect(await ledgerOf(owner.address)).toEqual(before.ledger);

    // Within its rules the member's call goes through, and the writer may call anything.
    await team.setBudget({ member: scout.address, dailyBudget: 5n * PRICE });
    expect((await call(scout, "alpha")).status).toBe(200);
    expect((await call(writer, "beta")).status).toBe(200);
  });

  it("refuses a removed member's calls while it is still a delegate, unlists it, and revives it when re-added", async () => {
    const token = await signIn(owner, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow });
    const listed = async () => {
      const res = await stack.app.inject({ method: "GET", url: `/v1/teams/${owner.address}`, headers: { authorization: authorizationHeader(token) } });
      expect(res.statusCode).toBe(200);
      return (res.json() as { members: { member: string; services: string[] }[] }).members;
    };
    await team.removeMember({ member: scout.address });
    expect((await listed()).map((m) => m.member)).toEqual([writer.address.toLowerCase()]);

    // Still the owner's on-chain delegate, but no longer free of the team's limits: refused, not
    // forwarded, not reserved or charged, whether or not the service was allowed before.
    const before = { forwarded, ledger: await ledgerOf(owner.address), scout: await chargedBy(owner.address, scout.address) };
    for (const serviceId of ["alpha", "beta"]) {
      const refused = await call(scout, serviceId);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ code: "member_removed", details: { member: scout.address } });
    }
    expect(forwarded).toBe(before.forwarded);
    expect(await ledgerOf(owner.address)).toEqual(before.ledger);
    expect(await chargedBy(owner.address, scout.address)).toEqual(before.scout);
    // A removed member is gone for changes other than re-adding it.
    await expect(team.setBudget({ member: scout.address, dailyBudget: 50n * PRICE })).rejects.toMatchObject({ status: 404, code: "member_not_found" });
    await expect(team.removeMember({ member: scout.address })).rejects.toMatchObject({ status: 404, code: "member_not_found" });

    // Re-added (a new signed TeamMember), it is listed and spends again under the new rules.
    await team.addMember({ member: scout.address, services: ["beta"], dailyBudget: 5n * PRICE });
    expect((await listed()).find((m) => m.member === scout.address.toLowerCase())).toMatchObject({ services: ["beta"] });
    expect((await call(scout, "beta")).status).toBe(200);
    expect((await call(scout, "alpha")).body).toMatchObject({ code: "service_not_allowed" });
    expect(await chargedBy(owner.address, scout.address)).toEqual({ total: before.scout.total + PRICE, calls: before.scout.calls + 1 });
  });

  it("races several members: each gets exactly its daily budget's worth, no more, and the ledger adds up to the unit", async () => {
    const budgets = [3n, 4n, 2n].map((k) => k * PRICE);
    for (const [i, racer] of racers.entries()) await team.addMember({ member: racer.address, services: ["alpha", "beta"], dailyBudget: budgets[i]! });
    const before = await ledgerOf(owner.address);

    const PER_MEMBER = 8;
    const results = await Promise.all(racers.flatMap((racer, i) => Array.from({ length: PER_MEMBER }, (_, j) => call(racer, j % 2 === 0 ? "alpha" : "beta").then((r) => ({ i, ...r })))));
    for (const [i, racer] of racers.entries()) {
      const mine = results.filter((r) => r.i === i);
      const allowed = Number(budgets[i]! / PRICE);
      expect(mine.filter((r) => r.status === 200)).toHaveLength(allowed);
      for (const refused of mine.filter((r) => r.status !== 200)) {
        expect(refused.status).toBe(403);
        expect(refused.body).toMatchObject({ code: "member_budget_exceeded", details: { limit: "dailyBudget", dailyBudget: budgets[i]!.toString() } });
      }
      expect(await chargedBy(owner.address, racer.address)).toEqual({ total: budgets[i], calls: allowed });
    }
    const after = await ledgerOf(owner.address);
    expect(after).toEqual({ charged: before.charged + budgets.reduce((a, b) => a + b, 0n), reserved: 0n });
    const [sums] = await stack.app.sql<{ charges: string; tracks: string }[]>`
      SELECT (SELECT coalesce(sum(amount), 0) FROM charges WHERE account = ${owner.address.toLowerCase()}) AS charges,
             (SELECT coalesce(sum(charged), 0) FROM spend_tracks WHERE account = ${owner.address.toLowerCase()}) AS tracks`;
    expect(BigInt(sums!.charges)).toBe(after.charged);
    expect(BigInt(sums!.tracks)).toBe(after.charged);
  });

  it("races members of a thinly funded team: the owner's balance binds first, and is never overdrawn", async () => {
    const frugalTeam = await Team.create({ apiUrl: baseUrl, owner: frugal, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, name: "frugal" });
    for (const member of frugalMembers) await frugalTeam.addMember({ member: member.address, services: ["*"], dailyBudget: 4n * PRICE });

    const results = await Promise.all(frugalMembers.flatMap((member, i) => Array.from({ length: 6 }, () => call(member, "alpha", frugal.address).then((r) => ({ i, ...r })))));
    // 5 calls' worth of balance, 8 of budgets: exactly 5 succeed, neither member past its 4.
    expect(results.filter((r) => r.status === 200)).toHaveLength(5);
    for (const i of [0, 1]) expect(results.filter((r) => r.i === i && r.status === 200).length).toBeLessThanOrEqual(4);
    for (const refused of results.filter((r) => r.status !== 200)) {
      expect([402, 403]).toContain(refused.status);
      expect(["insufficient_funds", "member_budget_exceeded"]).toContain(refused.body?.code);
    }
    expect(await ledgerOf(frugal.address)).toEqual({ charged: 5n * PRICE, reserved: 0n });
  });

  it("reports the team's spending in total, per member and per service", async () => {
    const report = await team.getSpendingReport({ period: "day" });
    const [totals] = await stack.app.sql<{ total: string; calls: number }[]>`
      SELECT coalesce(sum(amount), 0) AS total, count(*)::int AS calls FROM charges WHERE account = ${owner.address.toLowerCase()}`;
    expect(report.total).toBe(BigInt(totals!.total));
    expect(report.calls).toBe(totals!.calls);
    const byMember = new Map(report.byMember.map((m) => [m.member, m.total]));
    expect(byMember.get(racers[0]!.address.toLowerCase() as `0x${string}`)).toBe(3n * PRICE);
    expect(byMember.get(racers[1]!.address.toLowerCase() as `0x${string}`)).toBe(4n * PRICE);
    expect(byMember.get(racers[2]!.address.toLowerCase() as `0x${string}`)).toBe(2n * PRICE);
    expect(byMember.get(writer.address.toLowerCase() as `0x${string}`)).toBe(PRICE);
    expect(report.byMember.reduce((sum, m) => sum + m.total, 0n)).toBe(report.total);
    expect(report.byService.map((s) => s.serviceId).sort()).toEqual(["alpha", "beta"]);
    expect(report.byService.reduce((sum, s) => sum + s.total, 0n)).toBe(report.total);
    // The frugal team's spending is its own.
    const frugalReport = await teamOf(frugal).getSpendingReport({ period: "week" });
    expect(frugalReport.total).toBe(5n * PRICE);
    await expect(teamOf(stranger).getSpendingReport()).resolves.toMatchObject({ total: 0n });
  });
});
