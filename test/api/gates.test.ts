import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";

import { decodePaymentRequiredHeader } from "@x402/core/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Team, authorizationHeader, receiptFromPaymentResponse, serviceIdToBytes32, signIn } from "@agenttab/sdk";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { startApiStack, startUpstream } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";
import { listService, voucherHeader, wrongProviderPayee } from "./helpers/payments.ts";

const PRIMARY_PRICE = 100_000n;
const BACKUP_PRICE = 80_000n;
const WINDOW = 5;
const PROBE_MS = 300;

/** A real upstream that answers 200, or 503 while `failing`, once it has read the request's body. */
async function switchableUpstream(name: string) {
  const state = { failing: false, hits: 0 };
  const server = await startUpstream((req, res) => {
    state.hits++;
    req.resume().on("end", () => {
      if (state.failing) res.writeHead(503, { "content-type": "text/plain" }).end(`${name} down`);
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ servedBy: name }));
    });
  });
  return Object.assign(state, { url: server.url, close: server.close });
}

type Outcome = {
  status: number;
  servedBy: string | null;
  amount: bigint | null;
  provider: string | null;
  receiptService: string | null;
  code: string | null;
  /** The provider a first attempt's 402 `wrong_provider` named, when the call had to be re-signed. */
  resignedFor: string | null;
};

describe("api: quality gates reroute a failing primary to its backup, and restore it", () => {
  let stack: ApiStack;
  let baseUrl: string;
  let primary: Awaited<ReturnType<typeof switchableUpstream>>;
  let backup: Awaited<ReturnType<typeof switchableUpstream>>;
  const primaryProvider = testAccount("gates primary provider");
  const backupProvider = testAccount("gates backup provider");
  const owner = testAccount("gates owner");
  // One generous voucher per provider (the balance is what binds); the primary's is the one a
  // client signs from the 402 of primary-llm.
  const payments = new Map<string, string>();
  let payment: string;

  /**
   * A call to primary-llm as a client makes it: with a voucher for the primary's provider, and
   * once more with a voucher for the provider a 402 `wrong_provider` names (the backup's, when
   * the gate routed the call there).
   */
  async function call(): Promise<Outcome> {
    const send = (header: string) => fetch(`${baseUrl}/v1/proxy/primary-llm/complete`, { headers: { "payment-signature": header } });
    let res = await send(payment);
    const payee = wrongProviderPayee(res.status, res.headers.get("payment-required"));
    if (payee !== undefined) {
      await res.arrayBuffer();
      res = await send(payments.get(payee.toLowerCase()) as string);
    }
    const text = await res.text();
    const receipt = receiptFromPaymentResponse(res.headers.get("payment-response"));
    return {
      status: res.status,
      servedBy: res.headers.get("x-acf-served-by"),
      amount: res.headers.has("x-acf-amount") ? BigInt(res.headers.get("x-acf-amount") as string) : null,
      provider: res.headers.get("x-acf-provider"),
      receiptService: receipt?.serviceId ?? null,
      code: res.status === 200 ? null : (JSON.parse(text) as { code: string }).code,
      resignedFor: payee?.toLowerCase() ?? null,
    };
  }

  async function creditedTo(provider: string) {
    const [row] = await stack.app.sql<{ total: string; calls: number }[]>`
      SELECT coalesce(sum(amount), 0) AS total, count(*)::int AS calls FROM charges WHERE provider = ${provider.toLowerCase()}`;
    return { total: BigInt(row?.total ?? 0), calls: row?.calls ?? 0 };
  }

  async function ledger() {
    const [row] = await stack.app.sql<{ charged: string; reserved: string }[]>`SELECT charged, reserved FROM ledger_accounts WHERE account = ${owner.address.toLowerCase()}`;
    return { charged: BigInt(row?.charged ?? 0), reserved: BigInt(row?.reserved ?? 0) };
  }

  /** The gate as the owner reads it: its primary's reliability now. */
  async function gateView() {
    const token = await signIn(owner, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow });
    const res = await stack.app.inject({ method: "GET", url: `/v1/teams/${owner.address}`, headers: { authorization: authorizationHeader(token) } });
    expect(res.statusCode).toBe(200);
    return (res.json() as { gates: { primary: string; backup: string; reliability: { calls: number; successes: number; scoreBps: number; degraded: boolean } }[] }).gates[0];
  }

  /**
   * Takes the gate's probe slot for the next `ms` (plus the probe interval), as if a probe had just
   * been sent, so the calls right after this go to the backup whatever the machine's speed: with
   * calls slower than the interval, every call would otherwise claim the probe.
   */
  async function holdProbes(ms: number) {
    await stack.app.sql`
      UPDATE quality_gates SET last_probe_at = clock_timestamp() + make_interval(secs => ${ms} / 1000.0)
      WHERE owner = ${owner.address.toLowerCase()} AND primary_service = 'primary-llm'`;
  }

  /** Calls until `done` holds for the last outcome (at most `limit` calls, `pauseMs` apart); returns every outcome. */
  async function callUntil(done: (outcomes: Outcome[]) => boolean, { limit = 100, pauseMs = 0 } = {}): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    while (outcomes.length < limit) {
      outcomes.push(await call());
      if (done(outcomes)) return outcomes;
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    throw new Error(`condition not met within ${limit} calls: ${JSON.stringify(outcomes.map((o) => [o.status, o.servedBy]))}`);
  }

  beforeAll(async () => {
    primary = await switchableUpstream("primary");
    backup = await switchableUpstream("backup");
    stack = await startApiStack({ rateLimit: { max: 10_000, windowMs: 60_000 } });
    await listService(stack, { id: "primary-llm", provider: primaryProvider.address, upstreamUrl: primary.url, price: PRIMARY_PRICE });
    await listService(stack, { id: "backup-llm", provider: backupProvider.address, upstreamUrl: backup.url, price: BACKUP_PRICE });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    await depositAs(stack.chain, owner, 200n * PRIMARY_PRICE);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: owner.address }), (a) => a?.balance === 200n * PRIMARY_PRICE);
    for (const provider of [primaryProvider, backupProvider]) {
      payments.set(provider.address.toLowerCase(), await voucherHeader(stack.chain.deployment, { signer: owner, provider: provider.address, maxCumulative: 200n * PRIMARY_PRICE }));
    }
    payment = payments.get(primaryProvider.address.toLowerCase()) as string;

    const team = await Team.create({ apiUrl: baseUrl, owner, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, name: "gated" });
    await team.addQualityGate({ primary: "primary-llm", backup: "backup-llm", minReliability: 0.8, windowCalls: WINDOW, probeIntervalMs: PROBE_MS, maxLatencyMs: 5_000 });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await primary?.close();
    await backup?.close();
  });

  it("serves from the primary while it is healthy", async () => {
    for (let i = 0; i < 3; i++) {
      expect(await call()).toMatchObject({ status: 200, servedBy: "primary-llm", amount: PRIMARY_PRICE, provider: primaryProvider.address.toLowerCase() });
    }
    expect(backup.hits).toBe(0);
    expect(await gateView()).toMatchObject({ primary: "primary-llm", backup: "backup-llm", reliability: { calls: 3, successes: 3, scoreBps: 10_000, degraded: false } });
  });

  it("does not count calls failed by their client against the primary: oversize chunked bodies, aborted bodies", async () => {
    const before = await gateView();
    const ledgerBefore = await ledger();
    /** POSTs a chunked body (no content-length) to the primary; `abortAfterMs` cuts it off midway. */
    const post = (body: Buffer, abortAfterMs?: number) =>
      new Promise<number | null>((resolve) => {
        const req = httpRequest(`${baseUrl}/v1/proxy/primary-llm/complete`, { method: "POST", headers: { "payment-signature": payment, "content-type": "application/octet-stream" } });
        req.on("response", (res) => res.resume().on("end", () => resolve(res.statusCode ?? null)));
        req.on("error", () => resolve(null));
        if (abortAfterMs === undefined) {
          req.end(body);
        } else {
          req.write(body);
          setTimeout(() => {
            req.destroy();
            resolve(null);
          }, abortAfterMs);
        }
      });

    for (let i = 0; i < 2 * WINDOW; i++) {
      const status = await post(Buffer.alloc(stack.app.config.maxBodyBytes + 65_536, 1));
      // The 413 may lose the race with the client still sending; either way the call fails.
      expect([413, null]).toContain(status);
    }
    for (let i = 0; i < 2 * WINDOW; i++) await post(Buffer.alloc(4_096, 1), 150);
    // Every one of them was released (an aborted one once the proxy noticed), none charged.
    await expect.poll(() => ledger(), { timeout: 10_000 }).toEqual(ledgerBefore);

    expect((await gateView())?.reliability).toMatchObject({ calls: before?.reliability.calls, successes: before?.reliability.successes, degraded: false });
    expect(await call()).toMatchObject({ status: 200, servedBy: "primary-llm" });
    expect(backup.hits).toBe(0);
  });

  it("switches to the backup once the primary's window falls below the bound, crediting only the backup", async () => {
    primary.failing = true;
    const primaryBefore = await creditedTo(primaryProvider.address);
    const ledgerBefore = await ledger();

    // Failures on the primary are not charged; once its window is mostly failures, the backup serves.
    const outcomes = await callUntil((o) => o.at(-1)?.servedBy === "backup-llm");
    const failures = outcomes.filter((o) => o.status !== 200);
    expect(failures.length).toBeGreaterThanOrEqual(Math.ceil(WINDOW * 0.2));
    for (const failure of failures) expect(failure).toMatchObject({ status: 502, code: "upstream_failed", servedBy: "primary-llm" });
    expect(outcomes.at(-1)).toMatchObject({
      status: 200,
      servedBy: "backup-llm",
      amount: BACKUP_PRICE,
      provider: backupProvider.address.toLowerCase(),
      receiptService: serviceIdToBytes32("backup-llm"),
      // The voucher for the primary's provider could not pay the backup's: re-signed once.
      resignedFor: backupProvider.address.toLowerCase(),
    });

    // While degraded, calls keep going to the backup; the odd probe still tries (and fails on) the primary.
    const started = performance.now();
    const more = await callUntil((o) => o.length === 12);
    const elapsedMs = performance.now() - started;
    const served = [...outcomes, ...more].filter((o) => o.status === 200);
    for (const outcome of served) expect(outcome).toMatchObject({ servedBy: "backup-llm", amount: BACKUP_PRICE, resignedFor: backupProvider.address.toLowerCase() });
    for (const outcome of more.filter((o) => o.status !== 200)) expect(outcome).toMatchObject({ servedBy: "primary-llm", code: "upstream_failed" });
    // At most one probe per interval reaches the primary.
    expect(more.filter((o) => o.servedBy === "primary-llm").length).toBeLessThanOrEqual(Math.floor(elapsedMs / PROBE_MS) + 1);

    expect((await gateView())?.reliability).toMatchObject({ calls: WINDOW, degraded: true });
    expect(await creditedTo(primaryProvider.address)).toEqual(primaryBefore);
    const backupCredit = await creditedTo(backupProvider.address);
    expect(backupCredit).toEqual({ total: BACKUP_PRICE * BigInt(served.length), calls: served.length });
    expect(await ledger()).toEqual({ charged: ledgerBefore.charged + BACKUP_PRICE * BigInt(served.length), reserved: 0n });
  });

  it("answers a voucher for the primary's provider with 402 wrong_provider naming the backup's, and serves the re-signed one", async () => {
    await holdProbes(60_000);
    const before = { ledger: await ledger(), primaryHits: primary.hits, backupHits: backup.hits, backup: await creditedTo(backupProvider.address) };
    const [track] = await stack.app.sql<{ charged: string }[]>`
      SELECT charged FROM spend_tracks WHERE account = ${owner.address.toLowerCase()} AND signer = ${owner.address.toLowerCase()} AND provider = ${backupProvider.address.toLowerCase()}`;
    expect(BigInt(track?.charged ?? 0)).toBe(before.backup.total);

    const refused = await fetch(`${baseUrl}/v1/proxy/primary-llm/complete`, { headers: { "payment-signature": payment } });
    expect(refused.status).toBe(402);
    expect(refused.headers.get("x-acf-served-by")).toBe("backup-llm");
    expect(await refused.json()).toMatchObject({ code: "wrong_provider", details: { provider: backupProvider.address, servedBy: "backup-llm" } });
    const required = decodePaymentRequiredHeader(refused.headers.get("payment-required") as string);
    expect(required.error).toBe("wrong_provider");
    expect(required.accepts[0]).toMatchObject({
      scheme: "agenttab-voucher",
      amount: BACKUP_PRICE.toString(),
      payTo: backupProvider.address,
      extra: { escrow: stack.chain.deployment.escrow, provider: backupProvider.address, charged: before.backup.total.toString() },
    });
    // Refused before anything was reserved or forwarded.
    expect(await ledger()).toEqual(before.ledger);
    expect([primary.hits, backup.hits]).toEqual([before.primaryHits, before.backupHits]);

    // The client re-signs for the provider and charged total the 402 named: the backup serves it.
    const charged = BigInt(required.accepts[0]?.extra?.charged as string);
    const resigned = await voucherHeader(stack.chain.deployment, { signer: owner, provider: backupProvider.address, maxCumulative: charged + BACKUP_PRICE });
    const served = await fetch(`${baseUrl}/v1/proxy/primary-llm/complete`, { headers: { "payment-signature": resigned } });
    expect(served.status).toBe(200);
    expect(served.headers.get("x-acf-served-by")).toBe("backup-llm");
    const receipt = receiptFromPaymentResponse(served.headers.get("payment-response"));
    expect(receipt).toMatchObject({ provider: backupProvider.address.toLowerCase(), amount: BACKUP_PRICE, cumulative: charged + BACKUP_PRICE });
    expect(await creditedTo(backupProvider.address)).toEqual({ total: before.backup.total + BACKUP_PRICE, calls: before.backup.calls + 1 });
  });

  it("leaves the probe slot to a voucher that can pay the primary", async () => {
    // A probe is due; a voucher for the backup's provider is served by the backup without taking it…
    await stack.app.sql`UPDATE quality_gates SET last_probe_at = NULL WHERE owner = ${owner.address.toLowerCase()} AND primary_service = 'primary-llm'`;
    const backupVoucher = payments.get(backupProvider.address.toLowerCase()) as string;
    const direct = await fetch(`${baseUrl}/v1/proxy/primary-llm/complete`, { headers: { "payment-signature": backupVoucher } });
    expect([direct.status, direct.headers.get("x-acf-served-by")]).toEqual([200, "backup-llm"]);
    await direct.arrayBuffer();
    const [gate] = await stack.app.sql`SELECT last_probe_at FROM quality_gates WHERE owner = ${owner.address.toLowerCase()} AND primary_service = 'primary-llm'`;
    expect(gate?.last_probe_at).toBeNull();
    // …which the next voucher for the primary's provider takes: it probes the (still failing) primary.
    expect(await call()).toMatchObject({ status: 502, code: "upstream_failed", servedBy: "primary-llm", resignedFor: null });
  });

  it("charges nothing for a call that fails on the primary and the backup", async () => {
    backup.failing = true;
    const before = { ledger: await ledger(), primary: await creditedTo(primaryProvider.address), backup: await creditedTo(backupProvider.address) };
    const backupHits = backup.hits;
    await holdProbes(60_000);
    const outcomes = await callUntil((o) => o.length === 8);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 502, code: "upstream_failed", amount: null, servedBy: "backup-llm" });
    expect(backup.hits).toBeGreaterThan(backupHits);
    expect(await ledger()).toEqual(before.ledger);
    expect(await creditedTo(primaryProvider.address)).toEqual(before.primary);
    expect(await creditedTo(backupProvider.address)).toEqual(before.backup);
  });

  it("probes the recovered primary and restores routing to it", async () => {
    backup.failing = false;
    primary.failing = false;
    const primaryBefore = await creditedTo(primaryProvider.address);
    // The first calls go to the backup (the primary is still degraded); probes resume after 1 s.
    await holdProbes(1_000);
    // Probes (one per interval) refill the primary's window with successes until it is above the bound.
    const outcomes = await callUntil((o) => o.length >= 3 && o.slice(-3).every((x) => x.servedBy === "primary-llm" && x.status === 200), { limit: 200, pauseMs: 50 });
    const firstBackup = outcomes.findIndex((o) => o.servedBy === "backup-llm");
    expect(firstBackup).toBeGreaterThanOrEqual(0);
    // While still degraded, a probe served by the primary succeeds between backup calls.
    expect(outcomes.slice(firstBackup).some((o) => o.servedBy === "primary-llm" && o.status === 200)).toBe(true);
    for (const outcome of outcomes) expect(outcome.status).toBe(200);

    // Restored: every call goes to the primary and the primary's provider is credited again.
    const after = await callUntil((o) => o.length === 5);
    for (const outcome of after) expect(outcome).toMatchObject({ status: 200, servedBy: "primary-llm", amount: PRIMARY_PRICE });
    const primaryServed = [...outcomes, ...after].filter((o) => o.servedBy === "primary-llm").length;
    expect(await creditedTo(primaryProvider.address)).toEqual({ total: primaryBefore.total + PRIMARY_PRICE * BigInt(primaryServed), calls: primaryBefore.calls + primaryServed });
    expect((await ledger()).reserved).toBe(0n);
    expect((await gateView())?.reliability).toMatchObject({ calls: WINDOW, successes: WINDOW, degraded: false });

    // A voucher re-signed for the backup just before the primary was restored is still served (by
    // the backup it pays), not refused a second time.
    const late = await fetch(`${baseUrl}/v1/proxy/primary-llm/complete`, { headers: { "payment-signature": payments.get(backupProvider.address.toLowerCase()) as string } });
    expect(late.status, await late.clone().text()).toBe(200);
    expect(late.headers.get("x-acf-served-by")).toBe("backup-llm");
    await late.arrayBuffer();
    expect((await ledger()).reserved).toBe(0n);
  });
});
