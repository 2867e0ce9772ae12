import type { AddressInfo } from "node:net";

import { x402Client, x402HTTPClient } from "@x402/core/client";
import { decodePaymentRequiredHeader, decodePaymentSignatureHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload } from "@x402/core/types";
import { wrapFetchWithPayment } from "@x402/fetch";
import type { Address, Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { AgentTabClient, SpendLimitError, Team, registerAgentTabScheme, verifyVoucher } from "@agenttab/sdk";
import type { AgentTabClientSigner } from "@agenttab/sdk";

import { getAgentAccount } from "../../indexer/read/index.ts";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService } from "../api/helpers/payments.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { recordingSigner } from "./helpers/recordingSigner.ts";

const ALPHA_PRICE = 25_000n;
const BETA_PRICE = 40_000n;
const PRIMARY_PRICE = 50_000n;
const BACKUP_PRICE = 30_000n;
const DEPOSIT = 2_000_000n;

/**
 * A voucher names the provider it pays: the client keeps one track per provider, bounded together
 * by maxSpend, and follows a quality gate's reroute to a backup run by another provider with one
 * more voucher. Against the real API, chain and Postgres.
 */
describe("sdk: one voucher track per provider", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let apiUrl: string;
  const alphaProvider = testAccount("tracks alpha provider");
  const betaProvider = testAccount("tracks beta provider");
  const payer = testAccount("tracks payer");
  const spender = testAccount("tracks spender");
  const gated = testAccount("tracks gated team owner");

  /** A fetch that keeps every PAYMENT-SIGNATURE it sends, and counts the paid requests. */
  const recordingFetch = () => {
    const sent: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const header = new Request(input, init).headers.get("payment-signature");
      if (header) sent.push(header);
      return fetch(input, init);
    };
    return { recording, sent };
  };
  const payloadOf = (header: string) => decodePaymentSignatureHeader(header).payload as { account: Address; signer: Address; provider: Address; maxCumulative: string; signature: Hex };
  const clientFor = (signer: AgentTabClientSigner, options: { maxSpend?: bigint; fetch?: typeof fetch } = {}) =>
    new AgentTabClient({ apiUrl, signer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, maxCatchUp: DEPOSIT, ...options });
  /** The ledger's (account, signer, provider) tracks of an account: charged and reserved per provider. */
  const tracks = async (account: Address) => {
    const rows = await stack.app.sql<{ provider: string; charged: string; reserved: string }[]>`
      SELECT provider, charged, reserved FROM spend_tracks WHERE account = ${account.toLowerCase()} ORDER BY provider`;
    return Object.fromEntries(rows.map((row) => [row.provider, { charged: BigInt(row.charged), reserved: BigInt(row.reserved) }]));
  };
  const charged = async (account: Address) => {
    const [row] = await stack.app.sql<{ charged: string }[]>`SELECT charged FROM ledger_accounts WHERE account = ${account.toLowerCase()}`;
    return BigInt(row?.charged ?? 0);
  };

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url?.startsWith("/primary/fail")) {
        res.writeHead(503).end("down");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url }));
    });
    stack = await startApiStack();
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    await listService(stack, { id: "alpha", provider: alphaProvider.address, upstreamUrl: `${upstream.url}/alpha`, price: ALPHA_PRICE });
    await listService(stack, { id: "beta", provider: betaProvider.address, upstreamUrl: `${upstream.url}/beta`, price: BETA_PRICE });
    await listService(stack, { id: "gated-primary", provider: alphaProvider.address, upstreamUrl: `${upstream.url}/primary`, price: PRIMARY_PRICE });
    await listService(stack, { id: "gated-backup", provider: betaProvider.address, upstreamUrl: `${upstream.url}/backup`, price: BACKUP_PRICE });
    for (const account of [payer, spender, gated]) await depositAs(stack.chain, account, DEPOSIT);
    for (const account of [payer, spender, gated]) {
      await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: account.address }), (a) => a?.balance === DEPOSIT);
    }
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("signs a voucher for the provider the 402 names, which the proxy refuses for another provider's service", async () => {
    const { recording, sent } = recordingFetch();
    const { signer, vouchers } = recordingSigner(payer);
    const result = await clientFor(signer, { fetch: recording }).call("alpha", { path: "/a" });
    expect(result.status).toBe(200);
    expect(result.receipt).toMatchObject({ provider: alphaProvider.address.toLowerCase(), amount: ALPHA_PRICE, cumulative: ALPHA_PRICE });
    expect(vouchers).toEqual([{ provider: alphaProvider.address, maxCumulative: ALPHA_PRICE }]);

    // The payment carries the provider, and the signature is over it.
    expect(sent).toHaveLength(1);
    const header = sent[0] as string;
    const payload = payloadOf(header);
    expect(payload).toMatchObject({ account: payer.address, signer: payer.address, provider: alphaProvider.address, maxCumulative: ALPHA_PRICE.toString() });
    const { chainId, escrow } = stack.chain.deployment;
    const voucher = { chainId, escrow, account: payer.address, signer: payer.address, maxCumulative: ALPHA_PRICE, signature: payload.signature };
    expect(await verifyVoucher({ ...voucher, provider: alphaProvider.address })).toBe(true);
    expect(await verifyVoucher({ ...voucher, provider: betaProvider.address })).toBe(false);

    // The same voucher sent to a service of another provider is refused before anything is
    // reserved or forwarded, with a 402 naming that provider.
    const before = { charged: await charged(payer.address), tracks: await tracks(payer.address) };
    const refused = await fetch(`${apiUrl}/v1/proxy/beta/b`, { headers: { "payment-signature": header } });
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ code: "wrong_provider" });
    const required = decodePaymentRequiredHeader(refused.headers.get("payment-required") as string);
    expect(required.error).toBe("wrong_provider");
    expect(required.accepts[0]).toMatchObject({ payTo: betaProvider.address, extra: { escrow, provider: betaProvider.address, charged: "0" } });

    // Nor can the payload be pointed at the other provider: the signature then no longer matches.
    const decoded = decodePaymentSignatureHeader(header) as PaymentPayload;
    const repointed = encodePaymentSignatureHeader({ ...decoded, payload: { ...decoded.payload, provider: betaProvider.address } });
    const forged = await fetch(`${apiUrl}/v1/proxy/beta/b`, { headers: { "payment-signature": repointed } });
    expect(forged.status).toBe(402);
    expect(await forged.json()).toMatchObject({ code: "invalid_signature" });
    expect({ charged: await charged(payer.address), tracks: await tracks(payer.address) }).toEqual(before);
  });

  it("keeps one track per provider, each cumulative on its own, and maxSpend bounds their sum", async () => {
    const { signer, vouchers } = recordingSigner(spender);
    const maxSpend = 2n * ALPHA_PRICE + BETA_PRICE;
    const client = clientFor(signer, { maxSpend });

    const first = await client.call("alpha", { path: "/1" });
    const second = await client.call("beta", { path: "/2" });
    const third = await client.call("alpha", { path: "/3" });
    // Beta's track starts at its own first call, not on top of what alpha was paid.
    expect(vouchers).toEqual([
      { provider: alphaProvider.address, maxCumulative: ALPHA_PRICE },
      { provider: betaProvider.address, maxCumulative: BETA_PRICE },
      { provider: alphaProvider.address, maxCumulative: 2n * ALPHA_PRICE },
    ]);
    // Each receipt's cumulative is its provider's track.
    expect([first, second, third].map((r) => [r.receipt.provider, r.receipt.cumulative])).toEqual([
      [alphaProvider.address.toLowerCase(), ALPHA_PRICE],
      [betaProvider.address.toLowerCase(), BETA_PRICE],
      [alphaProvider.address.toLowerCase(), 2n * ALPHA_PRICE],
    ]);
    expect(client.knownChargedBy(alphaProvider.address)).toBe(2n * ALPHA_PRICE);
    expect(client.knownChargedBy(betaProvider.address)).toBe(BETA_PRICE);
    expect(client.knownCharged).toBe(maxSpend);
    expect(client.signedTotal).toBe(maxSpend);
    expect(await tracks(spender.address)).toEqual({
      [alphaProvider.address.toLowerCase()]: { charged: 2n * ALPHA_PRICE, reserved: 0n },
      [betaProvider.address.toLowerCase()]: { charged: BETA_PRICE, reserved: 0n },
    });

    // Either track's next voucher would take the sum past maxSpend: refused before signing.
    const onBeta = await client.call("beta", { path: "/4" }).catch((e: unknown) => e);
    expect(onBeta).toBeInstanceOf(SpendLimitError);
    expect(onBeta).toMatchObject({ maxSpend, wouldSign: 2n * BETA_PRICE, signedElsewhere: 2n * ALPHA_PRICE });
    expect((onBeta as SpendLimitError).message).toContain(`with ${2n * ALPHA_PRICE} signed for other providers, is above maxSpend ${maxSpend}`);
    await expect(client.call("alpha", { path: "/5" })).rejects.toMatchObject({ name: "SpendLimitError", wouldSign: 3n * ALPHA_PRICE, signedElsewhere: BETA_PRICE });
    expect(vouchers).toHaveLength(3);
    expect(await charged(spender.address)).toBe(maxSpend);
  });

  describe("a quality gate reroutes to a backup run by another provider", () => {
    const { signer, vouchers } = recordingSigner(gated);
    const { recording, sent } = recordingFetch();
    let client: AgentTabClient;

    /** Keeps the gate from probing the degraded primary for the next minute, so calls go to the backup. */
    const holdProbes = () =>
      stack.app.sql`
        UPDATE quality_gates SET last_probe_at = clock_timestamp() + interval '60 seconds'
        WHERE owner = ${gated.address.toLowerCase()} AND primary_service = 'gated-primary'`;

    beforeAll(async () => {
      const team = await Team.create({ apiUrl, owner: gated, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, name: "tracks gated" });
      // One counted failure in a window of one degrades the primary (a failure counts once a paid call stands behind it).
      await team.addQualityGate({ primary: "gated-primary", backup: "gated-backup", minReliability: 0.9, windowCalls: 1, probeIntervalMs: 60_000, maxLatencyMs: 5_000 });
      client = clientFor(signer, { fetch: recording });
      expect((await client.call("gated-primary", { path: "/ok" })).receipt.provider).toBe(alphaProvider.address.toLowerCase());
      await expect(client.call("gated-primary", { path: "/fail" })).rejects.toMatchObject({ name: "UpstreamFailedError" });
      await holdProbes();
      // Past the router's 200 ms reliability cache.
      await new Promise((resolve) => setTimeout(resolve, 300));
      vouchers.length = 0;
      sent.length = 0;
    }, 60_000);

    it("answers the 402 wrong_provider with one more voucher, for the provider it names, and pays the backup", async () => {
      const result = await client.call("gated-primary", { path: "/rerouted" });
      expect(result.status).toBe(200);
      expect(result.headers.get("x-acf-served-by")).toBe("gated-backup");
      expect(result.data).toEqual({ path: "/backup/rerouted" });
      expect(result.receipt).toMatchObject({ provider: betaProvider.address.toLowerCase(), amount: BACKUP_PRICE, cumulative: BACKUP_PRICE });
      // The quote it had named the primary's provider; the 402 named the backup's: one re-sign.
      expect(vouchers).toEqual([
        { provider: alphaProvider.address, maxCumulative: 2n * PRIMARY_PRICE },
        { provider: betaProvider.address, maxCumulative: BACKUP_PRICE },
      ]);
      expect(sent.map((header) => payloadOf(header).provider)).toEqual([alphaProvider.address, betaProvider.address]);
      expect(client.knownChargedBy(betaProvider.address)).toBe(BACKUP_PRICE);
      expect(client.knownChargedBy(alphaProvider.address)).toBe(PRIMARY_PRICE);
      expect(await tracks(gated.address)).toEqual({
        [alphaProvider.address.toLowerCase()]: { charged: PRIMARY_PRICE, reserved: 0n },
        [betaProvider.address.toLowerCase()]: { charged: BACKUP_PRICE, reserved: 0n },
      });

      // The next call signs for the gated service's own provider first again (see the probe test
      // below), and once more for the backup's.
      const next = await client.call("gated-primary", { path: "/again" });
      expect(next.receipt).toMatchObject({ provider: betaProvider.address.toLowerCase(), cumulative: 2n * BACKUP_PRICE });
      expect(vouchers.slice(2)).toEqual([
        { provider: alphaProvider.address, maxCumulative: 2n * PRIMARY_PRICE },
        { provider: betaProvider.address, maxCumulative: 2n * BACKUP_PRICE },
      ]);
      expect(sent).toHaveLength(4);
      // The refused vouchers for the primary's provider raised nothing: that track was charged once.
      expect(client.knownChargedBy(alphaProvider.address)).toBe(PRIMARY_PRICE);
    });

    it("a stock @x402/fetch client with the voucher plug-in follows the reroute with its one retry", async () => {
      const { deployment } = stack.chain;
      const { signer: pluginSigner, vouchers: pluginVouchers } = recordingSigner(gated);
      const x402 = new x402Client().setSpendControls({ allowedAssets: [{ network: deployment.network, asset: deployment.usdc }] });
      const scheme = registerAgentTabScheme(x402, { signer: pluginSigner, escrow: deployment.escrow, apiOrigins: [apiUrl], maxCatchUp: DEPOSIT });
      const paidFetch = wrapFetchWithPayment(fetch, new x402HTTPClient(x402).onPaymentRequired(scheme.onPaymentRequired));
      const before = await tracks(gated.address);
      const backupTrack = before[betaProvider.address.toLowerCase()]?.charged ?? 0n;

      const res = await paidFetch(`${apiUrl}/v1/proxy/gated-primary/plugin`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ path: "/backup/plugin" });
      expect(res.headers.get("x-acf-served-by")).toBe("gated-backup");
      // A fresh plug-in knows nothing: it signs the primary's price for the primary's provider, then,
      // told by the 402 which provider serves and what its track holds, covers that track.
      expect(pluginVouchers).toEqual([
        { provider: alphaProvider.address, maxCumulative: PRIMARY_PRICE },
        { provider: betaProvider.address, maxCumulative: backupTrack + BACKUP_PRICE },
      ]);
      expect(scheme.knownCharged(deployment.escrow, { provider: betaProvider.address })).toBe(backupTrack + BACKUP_PRICE);
      expect((await tracks(gated.address))[betaProvider.address.toLowerCase()]).toEqual({ charged: backupTrack + BACKUP_PRICE, reserved: 0n });
    });

    it("lets the gate probe the primary: the client's first voucher pays the gated service's own provider", async () => {
      // A probe is due. A client that had switched to vouchers for the backup's provider could never
      // take it (the proxy gives the probe only to a voucher that can pay the primary), and the
      // primary would stay rerouted for good.
      await stack.app.sql`UPDATE quality_gates SET last_probe_at = NULL WHERE owner = ${gated.address.toLowerCase()} AND primary_service = 'gated-primary'`;
      vouchers.length = 0;
      const probed = await client.call("gated-primary", { path: "/probe" });
      expect(probed.headers.get("x-acf-served-by")).toBe("gated-primary");
      expect(probed.data).toEqual({ path: "/primary/probe" });
      expect(probed.receipt).toMatchObject({ provider: alphaProvider.address.toLowerCase(), cumulative: 2n * PRIMARY_PRICE });
      expect(vouchers).toEqual([{ provider: alphaProvider.address, maxCumulative: 2n * PRIMARY_PRICE }]);
    });
  });
});
