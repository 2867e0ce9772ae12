import http from "node:http";
import type { AddressInfo } from "node:net";

import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  decodePaymentSignatureHeader,
  encodePaymentRequiredHeader,
  encodePaymentResponseHeader,
} from "@x402/core/http";
import type { LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { AgentTabClient, ChargedTotalMismatchError, PriceExceedsMaxError, ReceiptRejectedError, signReceipt } from "@agenttab/sdk";
import type { Receipt } from "@agenttab/sdk";

import { hardhatDeployerKey } from "../../scripts/lib/deployConfig.ts";
import { testAccount } from "../indexer/helpers/actions.ts";
import { startEchoStack } from "./helpers/echoStack.ts";
import type { EchoStack } from "./helpers/echoStack.ts";
import { recordingSigner } from "./helpers/recordingSigner.ts";

const PRICE = 25_000n;
const DEPOSIT = 1_000_000n;

/** What the relay lets a test change in the API's answer before the client sees it. */
type Tamper = (response: { status: number; headers: Headers }) => Promise<void> | void;

/**
 * A real HTTP relay on 127.0.0.1 in front of the real API, playing a faulty or compromised proxy:
 * it forwards every request as is, records the PAYMENT-SIGNATURE headers it carries, and lets the
 * test rewrite the API's response headers (`tamper`) before they reach the client.
 */
async function startRelay(target: string) {
  const payments: string[] = [];
  const state: { tamper: Tamper | undefined } = { tamper: undefined };
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined || ["host", "connection", "content-length", "transfer-encoding"].includes(name)) continue;
        headers.set(name, Array.isArray(value) ? value.join(", ") : value);
      }
      const payment = headers.get("payment-signature");
      if (payment) payments.push(payment);
      const answer = await fetch(`${target}${req.url ?? "/"}`, { method: req.method, headers, ...(body.length > 0 ? { body } : {}), redirect: "manual" });
      const response = { status: answer.status, headers: new Headers(answer.headers) };
      const data = Buffer.from(await answer.arrayBuffer());
      await state.tamper?.(response);
      for (const name of ["content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"]) response.headers.delete(name);
      res.writeHead(response.status, Object.fromEntries(response.headers)).end(data);
    })().catch((error: unknown) => {
      res.writeHead(599).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Every PAYMENT-SIGNATURE the client sent through the relay, in order. */
    payments,
    /** The `maxCumulative` of each voucher the client sent through the relay, in order. */
    vouchers: () => payments.map((header) => BigInt((decodePaymentSignatureHeader(header).payload as { maxCumulative: string }).maxCumulative)),
    set tamper(tamper: Tamper | undefined) {
      state.tamper = tamper;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Rewrites the receipt in a PAYMENT-RESPONSE, re-signing it with the real receipt key when `resign` (a compromised key) or keeping the old signature (a forgery). */
function receiptForger({ chainId, reputation }: { chainId: number; reputation: `0x${string}` }) {
  const receiptKey = privateKeyToAccount(hardhatDeployerKey);
  return (change: (receipt: Receipt) => Receipt, { resign }: { resign: boolean }): Tamper =>
    async ({ headers }) => {
      const header = headers.get("payment-response");
      if (!header) return;
      const settle = decodePaymentResponseHeader(header);
      const raw = (settle.extensions as { agenttab: { receipt: Record<string, string> } }).agenttab.receipt;
      const receipt = change({
        requestId: raw.requestId as `0x${string}`,
        serviceId: raw.serviceId as `0x${string}`,
        provider: raw.provider as `0x${string}`,
        payer: raw.payer as `0x${string}`,
        amount: BigInt(raw.amount as string),
        cumulative: BigInt(raw.cumulative as string),
        issuedAt: BigInt(raw.issuedAt as string),
      });
      const signature = resign ? await signReceipt(receiptKey, { chainId, reputation, receipt }) : raw.signature;
      const forged = { ...receipt, amount: receipt.amount.toString(), cumulative: receipt.cumulative.toString(), issuedAt: receipt.issuedAt.toString(), signature };
      headers.set("payment-response", encodePaymentResponseHeader({ ...settle, extensions: { ...settle.extensions, agenttab: { receipt: forged } } }));
    };
}

/** An `agenttab-voucher` offer, as a test rewrites it. */
type Offer = { amount: string; payTo: string; extra: Record<string, unknown> };

/** Rewrites the `agenttab-voucher` offer of every 402, or of corrective ones (`voucher_too_low`) only. */
function offerRewriter(change: (offer: Offer) => void, { correctiveOnly }: { correctiveOnly: boolean }): Tamper {
  return ({ status, headers }) => {
    const header = headers.get("payment-required");
    if (status !== 402 || !header) return;
    const required = decodePaymentRequiredHeader(header);
    if (correctiveOnly && required.error !== "voucher_too_low") return;
    for (const offer of required.accepts) if (offer.scheme === "agenttab-voucher") change(offer as Offer);
    headers.set("payment-required", encodePaymentRequiredHeader(required));
  };
}

describe("sdk: AgentTabClient checks what a faulty or compromised proxy tells it", () => {
  let world: EchoStack;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let forge: ReturnType<typeof receiptForger>;
  const provider = testAccount("trust provider");
  const forged = testAccount("trust forged receipts agent");
  const inflated = testAccount("trust inflated catch-up agent");
  const within = testAccount("trust catch-up within bound agent");
  const raised = testAccount("trust raised price agent");
  const misled = testAccount("trust misled agent");
  const stranger = testAccount("trust stranger");

  /** A client straight to the API (no relay) on the same key: it makes the relayed client's record lag, as a restart or a second client would. */
  const direct = (signer: LocalAccount) =>
    new AgentTabClient({ apiUrl: world.apiUrl, signer, chainId: world.stack.chain.deployment.chainId, escrow: world.stack.chain.deployment.escrow, maxCatchUp: DEPOSIT });
  const relayed = (signer: LocalAccount, options: { maxCatchUp?: bigint } = {}) => {
    const { signer: recording, signed } = recordingSigner(signer);
    return { signed, connecting: AgentTabClient.connect({ apiUrl: relay.url, signer: recording, ...options }) };
  };
  const charged = async (account: `0x${string}`) => (await world.ledger(account)).charged;

  beforeAll(async () => {
    world = await startEchoStack({
      price: PRICE,
      provider: provider.address,
      funded: [forged, inflated, within, raised].map((account) => ({ account, amount: DEPOSIT })),
    });
    relay = await startRelay(world.apiUrl);
    const { chainId, reputation } = world.stack.chain.deployment;
    forge = receiptForger({ chainId, reputation });
  }, 120_000);

  afterEach(() => {
    relay.tamper = undefined;
    relay.payments.length = 0;
  });

  afterAll(async () => {
    await relay?.close();
    await world?.stop();
  });

  it("does not believe a forged receipt (bad signature, wrong payer, another provider, amount above the price), and its record does not move", async () => {
    const { connecting } = relayed(forged, { maxCatchUp: 10n * PRICE });
    const client = await connecting;
    const honest = await client.call("echo", { path: "/honest" });
    expect(honest.receipt).toMatchObject({ payer: forged.address, amount: PRICE, cumulative: PRICE });
    expect(client.knownCharged).toBe(PRICE);

    const cases = [
      { reason: "invalid_signature", tamper: forge((r) => ({ ...r, cumulative: r.cumulative + 1_000_000n }), { resign: false }) },
      { reason: "wrong_payer", tamper: forge((r) => ({ ...r, payer: stranger.address, cumulative: r.cumulative + 1_000_000n }), { resign: true }) },
      // A receipt for another provider than the voucher paid would move the wrong track.
      { reason: "wrong_provider", tamper: forge((r) => ({ ...r, provider: stranger.address, cumulative: r.cumulative + 1_000_000n }), { resign: true }) },
      { reason: "amount_above_price", tamper: forge((r) => ({ ...r, amount: PRICE + 1n, cumulative: r.cumulative + 1_000_000n }), { resign: true }) },
    ] as const;
    for (const { reason, tamper } of cases) {
      relay.tamper = tamper;
      const error = await client.call("echo", { path: `/forged/${reason}` }).catch((e: unknown) => e);
      expect(error, reason).toBeInstanceOf(ReceiptRejectedError);
      expect(error).toMatchObject({ name: "ReceiptRejectedError", reason, result: { status: 200, data: { path: `/api/forged/${reason}` } } });
      expect((error as ReceiptRejectedError).shortMessage).toMatch(/not believed/);
      // The call went through and the API charged it; the client's record stays where verified receipts put it.
      expect(client.knownCharged, reason).toBe(PRICE);
    }
    expect(await charged(forged.address)).toBe(5n * PRICE);

    // A receipt the real key signed, claiming a cumulative above every voucher signed, moves the record no further than the highest voucher.
    relay.tamper = forge((r) => ({ ...r, cumulative: 1_000n * PRICE }), { resign: true });
    await client.call("echo", { path: "/inflated-cumulative" });
    const highest = relay.vouchers().reduce((a, b) => (a > b ? a : b), 0n);
    expect(highest).toBeLessThan(1_000n * PRICE);
    expect(client.knownCharged).toBe(highest);

    // Honest again: the next verified receipt says where the ledger really is.
    relay.tamper = undefined;
    const after = await client.call("echo", { path: "/honest-again" });
    expect(after.receipt.cumulative).toBe(await charged(forged.address));
  });

  it("refuses a catch-up beyond one call's price, and never signs a voucher above what it knows plus one call", async () => {
    await direct(inflated).call("echo", { path: "/elsewhere" }); // the API has charged PRICE that the relayed client never saw
    const { signed, connecting } = relayed(inflated);
    const client = await connecting;
    relay.tamper = offerRewriter(
      (offer) => {
        offer.extra.charged = (BigInt(offer.extra.charged as string) + 100n * PRICE).toString();
      },
      { correctiveOnly: true },
    );
    const error = await client.call("echo", { path: "/inflated" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChargedTotalMismatchError);
    expect(error).toMatchObject({ name: "ChargedTotalMismatchError", knownCharged: 0n, inFlight: 0n, claimedCharged: 101n * PRICE, maxCatchUp: PRICE });
    expect((error as ChargedTotalMismatchError).shortMessage).toBe("The proxy says more was charged than this client can account for.");

    // While that claim stands, it signs nothing more.
    await expect(client.call("echo", { path: "/again" })).rejects.toBeInstanceOf(ChargedTotalMismatchError);
    expect(signed).toEqual([PRICE]);
    expect(relay.vouchers()).toEqual([PRICE]);
    expect(relay.vouchers().every((maxCumulative) => maxCumulative <= 0n + PRICE)).toBe(true);
    expect(await world.ledger(inflated.address)).toEqual({ charged: PRICE, reserved: 0n });
  });

  it("catches up within the bound: one call's price by default, more with maxCatchUp", async () => {
    await direct(within).call("echo", { path: "/elsewhere" });
    const { signed, connecting } = relayed(within);
    const client = await connecting;
    const result = await client.call("echo", { path: "/caught-up" });
    // The first voucher (knowing nothing) is too low; the API's total (one call) is within the bound.
    expect(signed).toEqual([PRICE, 2n * PRICE]);
    expect(result.receipt.cumulative).toBe(2n * PRICE);
    expect(client.knownCharged).toBe(2n * PRICE);

    // A key that paid more elsewhere: believed up to maxCatchUp, even when the proxy inflates it that far.
    await direct(within).call("echo", { path: "/elsewhere/1" });
    await direct(within).call("echo", { path: "/elsewhere/2" });
    const patient = relayed(within, { maxCatchUp: 6n * PRICE });
    const trusting = await patient.connecting;
    relay.tamper = offerRewriter(
      (offer) => {
        offer.extra.charged = (BigInt(offer.extra.charged as string) + 2n * PRICE).toString(); // 4 charged, 6 claimed
      },
      { correctiveOnly: true },
    );
    const paid = await trusting.call("echo", { path: "/caught-up-further" });
    expect(patient.signed).toEqual([PRICE, 7n * PRICE]);
    expect(paid.receipt.cumulative).toBe(5n * PRICE);
    expect(trusting.knownCharged).toBe(5n * PRICE);
  });

  it("signs nothing for a 402 that asks for another escrow, names the escrow as payee, or two different providers", async () => {
    const { signed, connecting } = relayed(misled);
    const client = await connecting;
    const cases = [
      { change: (offer: Offer) => void (offer.extra.escrow = stranger.address), message: `escrow ${stranger.address}` },
      { change: (offer: Offer) => void (offer.payTo = offer.extra.escrow as string), message: "payTo names the escrow" },
      { change: (offer: Offer) => void (offer.extra.provider = stranger.address), message: "name different providers" },
    ];
    for (const { change, message } of cases) {
      relay.tamper = offerRewriter(change, { correctiveOnly: false });
      const error = await client.call("echo", { path: "/misled" }).catch((e: unknown) => e);
      expect(error, message).toMatchObject({ name: "VoucherRequirementError" });
      expect((error as Error).message).toContain(message);
    }
    expect(signed).toEqual([]);
    expect(relay.payments).toEqual([]);
    expect(await charged(misled.address)).toBe(0n);
  });

  it("refuses a price above the one it first saw when the caller set no maxAmount, before signing", async () => {
    const { signed, connecting } = relayed(raised);
    const client = await connecting;
    await client.call("echo", { path: "/first" });
    expect(signed).toEqual([PRICE]);

    await direct(raised).call("echo", { path: "/elsewhere" }); // so the next voucher is too low, and the proxy answers with a price
    relay.tamper = offerRewriter(
      (offer) => {
        offer.amount = (2n * PRICE).toString();
      },
      { correctiveOnly: false },
    );
    const error = await client.call("echo", { path: "/dearer" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PriceExceedsMaxError);
    expect(error).toMatchObject({ name: "PriceExceedsMaxError", code: "price_exceeds_max", price: 2n * PRICE, max: PRICE });
    // Only the voucher at the old price was signed; nothing for the raised one.
    expect(signed).toEqual([PRICE, 2n * PRICE]);
    // The next call asks the price again (unpaid) and is refused before signing too.
    await expect(client.call("echo", { path: "/dearer/again" })).rejects.toBeInstanceOf(PriceExceedsMaxError);
    expect(signed).toEqual([PRICE, 2n * PRICE]);
    expect(await charged(raised.address)).toBe(2n * PRICE);

    // A caller who agrees to the higher price says so with maxAmount.
    const accepted = await client.call("echo", { path: "/dearer/accepted", maxAmount: 2n * PRICE });
    expect(accepted.amount).toBe(PRICE);
    expect(signed.at(-1)).toBe(2n * PRICE + 2n * PRICE);
    expect(client.knownCharged).toBe(3n * PRICE);
    // Once the proxy quotes the first price again, a call without maxAmount goes through.
    relay.tamper = undefined;
    expect((await client.call("echo", { path: "/normal" })).amount).toBe(PRICE);
  });
});
