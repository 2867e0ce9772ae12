import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { getAddress, parseEventLogs } from "viem";
import type { Address, Hex, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { agentTabEscrowAbi, decodeClaimsLog, serializeDeployment, verifyVoucher } from "@agenttab/sdk";

import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import { settle } from "../../scripts/settle/run.ts";
import type { SettleReport } from "../../scripts/settle/run.ts";
import type { SettleChain } from "../../scripts/settle/chain.ts";
import { planEntries } from "../../scripts/settle/plan.ts";
import { simulateEntries } from "../../scripts/settle/simulate.ts";
import { crashAt, SimulatedCrash } from "./crash.ts";
import type { CrashPoint } from "./crash.ts";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService, voucherHeader } from "../api/helpers/payments.ts";
import { depositAs, escrowAs, testAccount } from "../indexer/helpers/actions.ts";

const DEPOSIT = 5_000_000n;
const alice = testAccount("settle alice");
const bob = testAccount("settle bob");
const carol = testAccount("settle carol");
const carolDelegate = testAccount("settle carol's delegate");
const dave = testAccount("settle dave");
const agents = [alice, bob, carol, dave];
const providers = [testAccount("settle provider 1").address, testAccount("settle provider 2").address, testAccount("settle provider 3").address];
// Prices whose 1% has a fraction: each provider's fee on its batch gross (rounded down once) is
// above the sum of its charges' fees rounded down one by one.
// A provider whose calls only fail in some week: its failures still reach the chain that week.
const failingProvider = testAccount("settle provider 4, always failing").address;
const services = [
  { id: "weather", provider: providers[0] as Address, price: 25_050n },
  { id: "search", provider: providers[1] as Address, price: 40_030n },
  { id: "ocr", provider: providers[2] as Address, price: 10_001n },
];

describe("settle: the weekly batch on the real stack", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let chain: SettleChain;
  const spent = new Map<string, bigint>();
  const gasUsed: bigint[] = [];
  const events: { event: string; fields?: Record<string, unknown> }[] = [];

  const read = <F extends "accountOf" | "delegationOf" | "claimedOf" | "earningsOf" | "accruedFees" | "feeBps">(functionName: F, args: readonly unknown[]) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName, args } as never) as Promise<any>;

  /** One paid call through the proxy, with a voucher for what this signer was charged on the service's provider's track plus the price. */
  const pay = async (signer: LocalAccount, serviceIndex: number, account: Address = signer.address) => {
    const service = services[serviceIndex]!;
    const key = `${account}:${signer.address}:${service.provider}`;
    const next = (spent.get(key) ?? 0n) + service.price;
    const payment = await voucherHeader(stack.chain.deployment, { signer, account, provider: service.provider, maxCumulative: next });
    let res = await stack.app.inject({ method: "GET", url: `/v1/proxy/${service.id}/q`, headers: { "payment-signature": payment } });
    // Right after a settlement the proxy waits for the index to catch up (seconds on a loaded machine).
    for (const deadline = Date.now() + 30_000; res.statusCode === 503 && res.json().code === "index_stale" && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      res = await stack.app.inject({ method: "GET", url: `/v1/proxy/${service.id}/q`, headers: { "payment-signature": payment } });
    }
    expect(res.statusCode, res.body).toBe(200);
    spent.set(key, next);
  };

  /** A round of paid calls: every agent (and carol's delegate) on every service, agents in parallel. */
  const round = async (callsEach = 2) => {
    const signers: [LocalAccount, Address][] = [...agents.map((a): [LocalAccount, Address] => [a, a.address]), [carolDelegate, carol.address]];
    await Promise.all(
      signers.map(async ([signer, account]) => {
        for (let i = 0; i < callsEach; i++) for (let s = 0; s < services.length; s++) await pay(signer, s, account);
      }),
    );
  };

  const run = ({ crash }: { crash?: CrashPoint } = {}) =>
    settle({ sql: stack.app.sql, chain, confirmations: 1, log: (event, fields) => events.push({ event, fields }), ...(crash ? { hooks: crashAt(crash) } : {}) });

  const keep = (report: SettleReport) => {
    for (const b of report.batches) if (b.gasUsed !== undefined) gasUsed.push(b.gasUsed);
    return report;
  };

  /** Chain and ledger agree to the unit. `open` lists signers whose tracks are expected to stay unsettled. */
  const expectBalanced = async (open: { account: Address; signer: Address }[] = []) => {
    const isOpen = (account: string, signer: string) => open.some((o) => o.account.toLowerCase() === account && o.signer.toLowerCase() === signer);
    const tracks = await stack.app.sql<{ account: Address; signer: Address; provider: Address; charged: string }[]>`
      SELECT account, signer, provider, charged::text FROM spend_tracks`;
    let claimedTotal = 0n;
    for (const t of tracks) {
      const track = `${t.account}/${t.signer}/${t.provider}`;
      const claimed: bigint = await read("claimedOf", [t.account, t.signer, t.provider]);
      const [settled] = await stack.app.sql<{ sum: string }[]>`
        SELECT coalesce(sum(amount), 0)::text AS sum FROM charges
        WHERE account = ${t.account} AND signer = ${t.signer} AND provider = ${t.provider} AND settlement_batch IS NOT NULL`;
      expect(claimed, `claimed on ${track}`).toBe(BigInt(settled!.sum));
      if (!isOpen(t.account, t.signer)) expect(claimed, `claimed == charged on ${track}`).toBe(BigInt(t.charged));
      claimedTotal += claimed;
    }
    // The account's claimed total is every track's, its own and its delegates'.
    for (const a of agents) {
      const [own] = await stack.app.sql<{ sum: string }[]>`
        SELECT coalesce(sum(amount), 0)::text AS sum FROM charges WHERE account = ${a.address.toLowerCase()} AND settlement_batch IS NOT NULL`;
      expect((await read("accountOf", [a.address])).claimed, `claimed from ${a.address}`).toBe(BigInt(own!.sum));
    }
    let debits = 0n;
    for (const a of agents) debits += DEPOSIT - (await read("accountOf", [a.address])).balance;
    expect(debits).toBe(claimedTotal);
    let credits = 0n;
    for (const p of [...providers, failingProvider]) {
      const earned: bigint = await read("earningsOf", [p]);
      const [row] = await stack.app.sql<{ sum: string }[]>`
        SELECT coalesce(sum(amount - fee), 0)::text AS sum FROM charges WHERE provider = ${p.toLowerCase()} AND settlement_batch IS NOT NULL`;
      expect(earned, `earnings of ${p}`).toBe(BigInt(row!.sum));
      credits += earned;
    }
    const fees: bigint = await read("accruedFees", []);
    const [feeRow] = await stack.app.sql<{ sum: string }[]>`SELECT coalesce(sum(fee), 0)::text AS sum FROM charges WHERE settlement_batch IS NOT NULL`;
    expect(fees).toBe(BigInt(feeRow!.sum));
    expect(debits).toBe(credits + fees);
    // Batch by batch, provider by provider: the escrow's credit and fee are what the ledger says.
    const batches = await stack.app.sql<{ batch_id: Hex; tx_hash: Hex }[]>`SELECT batch_id, tx_hash FROM settlement_batches WHERE status = 'marked' ORDER BY seq`;
    for (const b of batches) {
      const onChain = await providerFeesOf(b.tx_hash, b.batch_id);
      const ledger = await ledgerFeesOf(b.batch_id);
      expect(onChain, `batch ${b.batch_id}`).toEqual(ledger);
    }
    // Every marked charge belongs to a batch the ledger marked, and nothing else is left unsettled.
    const [stray] = await stack.app.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM charges c LEFT JOIN settlement_batches b ON b.batch_id = c.settlement_batch
      WHERE c.settlement_batch IS NOT NULL AND b.status IS DISTINCT FROM 'marked'`;
    expect(stray!.n).toBe(0);
    const unsettled = await stack.app.sql<{ account: string; signer: string }[]>`SELECT DISTINCT account, signer FROM charges WHERE settlement_batch IS NULL`;
    for (const u of unsettled) expect(isOpen(u.account, u.signer), `unsettled ${u.account}/${u.signer}`).toBe(true);
  };

  /** Per provider of a mined batch, from its transaction: gross (its claims in BatchSettled), fee and credit (ProviderCredited). */
  const providerFeesOf = async (txHash: Hex, batchId: Hex) => {
    const receipt = await stack.chain.publicClient.getTransactionReceipt({ hash: txHash });
    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs }).filter((l) => l.args.batchId === batchId);
    const out: Record<string, { gross: bigint; fee: bigint; credited: bigint }> = {};
    for (const claim of decodeClaimsLog(settled!.args.claims)) {
      const line = (out[claim.provider.toLowerCase()] ??= { gross: 0n, fee: 0n, credited: 0n });
      line.gross += claim.amount;
    }
    for (const credit of parseEventLogs({ abi: agentTabEscrowAbi, eventName: "ProviderCredited", logs: receipt.logs })) {
      if (credit.args.batchId !== batchId || credit.args.amount === 0n) continue;
      const line = out[credit.args.provider.toLowerCase()]!;
      line.credited = credit.args.amount;
      line.fee = line.gross - credit.args.amount;
    }
    return out;
  };

  /** Per provider of a marked batch, from the ledger: Σ amount, Σ fee and Σ (amount − fee) of its charges. */
  const ledgerFeesOf = async (batchId: Hex) => {
    const rows = await stack.app.sql<{ provider: string; gross: string; fee: string }[]>`
      SELECT provider, sum(amount)::text AS gross, sum(fee)::text AS fee FROM charges WHERE settlement_batch = ${batchId} GROUP BY provider`;
    return Object.fromEntries(rows.map((r) => [r.provider, { gross: BigInt(r.gross), fee: BigInt(r.fee), credited: BigInt(r.gross) - BigInt(r.fee) }]));
  };

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url?.includes("fail")) {
        res.writeHead(503).end("down");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
    stack = await startApiStack();
    chain = { publicClient: stack.chain.publicClient, walletClient: stack.chain.deployer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow };
    for (const s of services) await listService(stack, { id: s.id, provider: s.provider, upstreamUrl: upstream.url, price: s.price });
    await listService(stack, { id: "always-down", provider: failingProvider, upstreamUrl: upstream.url, price: 10_000n });
    for (const a of agents) await depositAs(stack.chain, a, DEPOSIT);
    await escrowAs(stack.chain, carol, "authorizeDelegate", [carolDelegate.address, 2_000_000n, 0]);
    for (const a of agents) await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: a.address }), (x) => x?.balance === DEPOSIT);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: carol.address, delegate: carolDelegate.address }), (d) => d?.active === true);
  }, 120_000);

  afterAll(async () => {
    console.log(`settle gas used per batch: ${gasUsed.join(", ")}`);
    await stack?.stop();
    await upstream?.close();
  });

  it("settles many paid calls of several agents and providers in one batch, balanced to the unit", async () => {
    await round(3);
    // A failed call is not charged, and is reported to the chain as the provider's failure.
    const payment = await voucherHeader(stack.chain.deployment, {
      signer: dave,
      provider: services[0]!.provider,
      maxCumulative: spent.get(`${dave.address}:${dave.address}:${services[0]!.provider}`)! + services[0]!.price,
    });
    expect((await stack.app.inject({ method: "GET", url: "/v1/proxy/weather/fail", headers: { "payment-signature": payment } })).statusCode).toBe(502);

    const dry = await settle({ sql: stack.app.sql, chain, dryRun: true });
    expect(dry.status).toBe("dry-run");
    expect(dry.plans).toHaveLength(1);
    const [marked] = await stack.app.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM settlement_batches`;
    expect(marked!.n).toBe(0);

    const report = keep(await run());
    expect(report.status).toBe("settled");
    expect(report.batches).toHaveLength(1);
    const batch = report.batches[0]!;
    // One claim per track: 5 signers, each on 3 providers.
    expect(batch).toMatchObject({ agents: 4, claims: 15, recovered: false });
    expect(batch.payouts.map((p) => p.callsServed)).toEqual([15, 15, 15]);
    expect(batch.payouts.find((p) => p.provider === services[0]!.provider)?.callsFailed).toBe(1);
    await expectBalanced();
    expect(await read("earningsOf", [failingProvider])).toBe(0n);

    const again = await run();
    expect(again.status).toBe("nothing");
    expect(again.batches).toEqual([]);
  });

  it("reports the failed calls of a provider that was paid nothing this week, crediting it nothing more", async () => {
    // A failure counts only with a paid call of the account to that service behind it: one paid
    // (and settled) in an earlier week, then this week's call to it fails.
    const paid = await voucherHeader(stack.chain.deployment, { signer: alice, provider: failingProvider, maxCumulative: 10_000n });
    expect((await stack.app.inject({ method: "GET", url: "/v1/proxy/always-down/q", headers: { "payment-signature": paid } })).statusCode).toBe(200);
    expect((await run()).status).toBe("settled");
    await round(1);
    const payment = await voucherHeader(stack.chain.deployment, { signer: alice, provider: failingProvider, maxCumulative: 20_000n });
    let failed = await stack.app.inject({ method: "GET", url: "/v1/proxy/always-down/fail", headers: { "payment-signature": payment } });
    // Right after a settlement the proxy waits for the index to catch up.
    for (const deadline = Date.now() + 30_000; failed.statusCode === 503 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      failed = await stack.app.inject({ method: "GET", url: "/v1/proxy/always-down/fail", headers: { "payment-signature": payment } });
    }
    expect(failed.statusCode, failed.body).toBe(502);
    const report = keep(await run());
    expect(report.status).toBe("settled");
    const line = report.batches[0]!.payouts.find((p) => p.provider === failingProvider);
    expect(line).toMatchObject({ gross: 0n, fee: 0n, amount: 0n, callsServed: 0, callsFailed: 1 });
    const receipt = await stack.chain.publicClient.getTransactionReceipt({ hash: report.batches[0]!.txHash! });
    const credited = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "ProviderCredited", logs: receipt.logs }).find((l) => l.args.provider === failingProvider);
    expect(credited?.args).toMatchObject({ amount: 0n, callsServed: 0n, callsFailed: 1n });
    // Credited in the earlier week only: 10,000 less its 1 % fee.
    expect(await read("earningsOf", [failingProvider])).toBe(9_900n);
    // Reported once: the next run has nothing to say about it.
    expect((await run()).status).toBe("nothing");
    await expectBalanced();
  });

  it("credits each provider exactly what its vouchers' charges came to less its own fee, the ledger's fees adding up to it to the unit", async () => {
    // Two calls of 25 050 at 1%: 250.5 each. The escrow takes floor(50 100 · 1%) = 501 from the
    // provider, one unit more than the charges' fees rounded down one by one.
    await pay(alice, 0);
    await pay(alice, 0);
    await pay(carolDelegate, 0, carol.address);
    await pay(carolDelegate, 1, carol.address);
    await pay(bob, 1);
    await pay(bob, 2);
    await pay(bob, 2);
    const feeBps = BigInt(await read("feeBps", []));
    const earnedBefore = await Promise.all(providers.map((p) => read("earningsOf", [p]) as Promise<bigint>));
    const report = keep(await run());
    expect(report.status).toBe("settled");
    expect(report.batches).toHaveLength(1);
    const batch = report.batches[0]!;
    // One claim per (account, signer, provider) track.
    expect(batch).toMatchObject({ agents: 3, claims: 5 });

    const charges = await stack.app.sql<{ request_id: string; account: Address; signer: Address; provider: Address; amount: string; fee: string }[]>`
      SELECT request_id::text, account, signer, provider, amount::text, fee::text FROM charges WHERE settlement_batch = ${batch.batchId} ORDER BY request_id`;
    expect(charges).toHaveLength(7);
    let roundedUp = 0;
    for (const [i, provider] of providers.entries()) {
      const own = charges.filter((c) => c.provider === provider.toLowerCase());
      const gross = own.reduce((sum, c) => sum + BigInt(c.amount), 0n);
      const fee = (gross * feeBps) / 10_000n;
      // What the escrow credited is what the provider's charges came to, less its fee.
      expect((await read("earningsOf", [provider])) - earnedBefore[i]!, `credited to ${provider}`).toBe(gross - fee);
      expect(batch.payouts.find((p) => p.provider === provider)).toMatchObject({ gross, fee, amount: gross - fee, callsServed: own.length });
      // The charges' fees add up to that fee exactly: each is its floor, or one more, the extra
      // units on the first charges by request id.
      expect(own.reduce((sum, c) => sum + BigInt(c.fee), 0n), `fees of ${provider}'s charges`).toBe(fee);
      const floors = own.map((c) => (BigInt(c.amount) * feeBps) / 10_000n);
      const extra = Number(fee - floors.reduce((sum, f) => sum + f, 0n));
      expect(own.map((c) => BigInt(c.fee))).toEqual(floors.map((f, k) => f + (k < extra ? 1n : 0n)));
      roundedUp += extra;
      // Every charge paid the provider its track's voucher names.
      for (const c of own) {
        const [track] = await stack.app.sql<{ voucher_max: string; voucher_signature: Hex }[]>`
          SELECT voucher_max::text, voucher_signature FROM spend_tracks WHERE account = ${c.account} AND signer = ${c.signer} AND provider = ${c.provider}`;
        const voucher = { chainId: chain.chainId, escrow: chain.escrow, account: getAddress(c.account), signer: getAddress(c.signer), maxCumulative: BigInt(track!.voucher_max) };
        expect(await verifyVoucher({ ...voucher, provider, signature: track!.voucher_signature })).toBe(true);
        const other = providers.find((p) => p !== provider)!;
        expect(await verifyVoucher({ ...voucher, provider: other, signature: track!.voucher_signature })).toBe(false);
      }
    }
    // The prices make the per-provider rounding matter: the ledger's floors alone would fall short.
    expect(roundedUp).toBeGreaterThan(0);
    expect(await providerFeesOf(batch.txHash!, batch.batchId)).toEqual(await ledgerFeesOf(batch.batchId));
    await expectBalanced();
  });

  it("splits into several batches under a gas limit", async () => {
    await round(1);
    const report = keep(await settle({ sql: stack.app.sql, chain, maxGas: 110_000n }));
    expect(report.status).toBe("settled");
    expect(report.batches.length).toBeGreaterThan(1);
    await expectBalanced();
  });

  it("sends a week with more tracks than one batch may carry in several batches, each account's tracks in one of them", async () => {
    await round(1);
    const planned = await settle({ sql: stack.app.sql, chain, dryRun: true });
    const claims = planned.plans.reduce((n, p) => n + p.entries.length, 0);
    expect(claims).toBeGreaterThan(4);
    const report = keep(await settle({ sql: stack.app.sql, chain, maxClaimsPerBatch: 4 }));
    expect(report.status).toBe("settled");
    expect(report.batches.length).toBeGreaterThanOrEqual(Math.ceil(claims / 4));
    for (const plan of report.plans) expect(plan.entries.length).toBeLessThanOrEqual(4);
    const batchesOf = new Map<string, Set<string>>();
    for (const plan of report.plans) {
      for (const e of plan.entries) batchesOf.set(e.account, (batchesOf.get(e.account) ?? new Set()).add(plan.batchId));
    }
    // An account with at most 4 tracks never straddles two batches.
    for (const [account, ids] of batchesOf) {
      const tracks = report.plans.flatMap((p) => p.entries).filter((e) => e.account === account).length;
      if (tracks <= 4) expect(ids.size, account).toBe(1);
    }
    await expectBalanced();
  });

  for (const point of ["afterRecord", "afterSend", "afterMined", "beforeMark"] as const) {
    it(`recovers from a crash ${point}: nothing settled twice, nothing lost`, async () => {
      await round(1);
      await expect(run({ crash: point })).rejects.toBeInstanceOf(SimulatedCrash);
      // The proxy keeps charging while the settler is down.
      await pay(alice, 0);
      const report = keep(await run());
      expect(report.status).toBe("settled");
      expect(report.batches[0]).toMatchObject({ recovered: point !== "afterRecord" });
      await expectBalanced();
      expect((await run()).status).toBe("nothing");
      await expectBalanced();
    });
  }

  it("sends again a batch whose transaction vanished, and discards and re-plans one the chain refuses", async () => {
    await round(1);
    await expect(run({ crash: "afterRecord" })).rejects.toBeInstanceOf(SimulatedCrash);
    // As if sent, but the node never kept the transaction (dropped from the mempool).
    await stack.app.sql`UPDATE settlement_batches SET status = 'sent', tx_hash = ${`0x${"ab".repeat(32)}`} WHERE status = 'planned'`;
    const resent = keep(await run());
    expect(resent.status).toBe("settled");
    expect(resent.batches).toHaveLength(1);
    await expectBalanced();

    await round(1);
    await expect(run({ crash: "afterRecord" })).rejects.toBeInstanceOf(SimulatedCrash);
    // A recorded batch the chain refuses now (here: its provider reports are no longer ascending).
    const [open] = await stack.app.sql<{ batch_id: string }[]>`
      UPDATE settlement_batches
      SET plan = jsonb_set(plan, '{payouts}', (SELECT jsonb_agg(p ORDER BY i DESC) FROM jsonb_array_elements(plan->'payouts') WITH ORDINALITY AS r(p, i)))
      WHERE status = 'planned' RETURNING batch_id`;
    events.length = 0;
    const replanned = keep(await run());
    expect(replanned.status).toBe("settled");
    expect(events.find((e) => e.event === "batch_discarded")?.fields).toMatchObject({ batchId: open!.batch_id });
    const [row] = await stack.app.sql<{ status: string }[]>`SELECT status FROM settlement_batches WHERE batch_id = ${open!.batch_id}`;
    expect(row!.status).toBe("discarded");
    expect(replanned.batches).toHaveLength(1);
    await expectBalanced();
  });

  it("settles what a revoked delegate spent (issue 13); once the grace has passed, leaves its claim out and reports it while the rest settles", async () => {
    await round(1);
    await escrowAs(stack.chain, carol, "revokeDelegate", [carolDelegate.address]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: carol.address, delegate: carolDelegate.address }), (d) => d?.active === false);

    // Revoked after spending: the escrow still takes the claim, so the providers who served it are paid.
    const { entries } = await planEntries(stack.app.sql, chain);
    expect(entries.some((e) => e.signer === carolDelegate.address)).toBe(true);
    expect((await simulateEntries(chain, entries)).excluded).toEqual([]);
    const settled = keep(await run());
    expect(settled.status).toBe("settled");
    expect(settled.excluded).toEqual([]);
    await expectBalanced();
    // And new spending stopped at once.
    const refused = await stack.app.inject({
      method: "GET",
      url: "/v1/proxy/weather/q",
      headers: {
        "payment-signature": await voucherHeader(stack.chain.deployment, { signer: carolDelegate, account: carol.address, provider: services[0]!.provider, maxCumulative: 10n ** 9n }),
      },
    });
    expect(refused.json()).toMatchObject({ code: "delegate_not_authorized" });

    // Authorized again, it spends, is revoked, and nobody settles for longer than the grace.
    await escrowAs(stack.chain, carol, "authorizeDelegate", [carolDelegate.address, 2_000_000n, 0]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: carol.address, delegate: carolDelegate.address }), (d) => d?.active === true);
    await pay(carolDelegate, 0, carol.address);
    await escrowAs(stack.chain, carol, "revokeDelegate", [carolDelegate.address]);
    await stack.chain.publicClient.request({ method: "evm_increaseTime" as never, params: [stack.chain.deployment.withdrawalDelay + 1] as never });
    await stack.chain.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    await Promise.all(agents.map((a) => pay(a, 0))); // the others keep paying
    const { entries: late } = await planEntries(stack.app.sql, chain);
    const simulated = await simulateEntries(chain, late);
    expect(simulated.excluded).toEqual([expect.objectContaining({ signer: carolDelegate.address, reason: "DelegateNotActive" })]);
    const report = keep(await run());
    expect(report.status).toBe("partial");
    expect(report.excluded).toEqual([expect.objectContaining({ account: carol.address, signer: carolDelegate.address, reason: "delegate_not_active" })]);
    expect(report.batches).toHaveLength(1);
    expect(events.some((e) => e.event === "entry_excluded")).toBe(true);
    await expectBalanced([{ account: carol.address, signer: carolDelegate.address }]);
  });

  it("runs as a CLI: JSON lines off a terminal, exit code 2 while an entry is left out", async () => {
    await pay(alice, 1);
    const dir = await mkdtemp(path.join(tmpdir(), "agenttab-settle-cli-"));
    try {
      await writeFile(path.join(dir, "31337.json"), serializeDeployment(stack.chain.deployment));
      const cli = (...args: string[]) =>
        promisify(execFile)(process.execPath, [path.join(import.meta.dirname, "..", "..", "scripts", "settle.ts"), "--rpc", stack.chain.rpcUrl, ...args], {
          env: { ...process.env, DATABASE_URL: stack.chain.databaseUrl, AGENTTAB_DEPLOYMENTS_DIR: dir },
        }).then(
          ({ stdout }) => ({ code: 0, stdout }),
          (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
        );
      const lines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as { event: string; [k: string]: unknown });

      const dry = await cli("--dry-run");
      expect(dry.code, dry.stdout).toBe(2);
      expect(lines(dry.stdout).find((l) => l.event === "batch_planned")).toMatchObject({ claims: 1, dryRun: true });

      const real = await cli();
      expect(real.code, real.stdout).toBe(2);
      const events = lines(real.stdout);
      expect(events.map((l) => l.event)).toEqual(expect.arrayContaining(["entry_excluded", "batch_recorded", "batch_sent", "batch_mined", "batch_marked", "summary"]));
      expect(events.at(-1)).toMatchObject({ event: "summary", status: "partial", batches: [expect.objectContaining({ claims: 1, agents: 1 })] });
      await expectBalanced([{ account: carol.address, signer: carolDelegate.address }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
