import type { AddressInfo } from "node:net";

import { x402Client, x402HTTPClient } from "@x402/core/client";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { ExactEvmScheme, registerExactEvmScheme } from "@x402/evm/exact/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import { WaitForTransactionReceiptTimeoutError, getAddress } from "viem";
import type { Address, Hex, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { reconcileExactPayments } from "../../api/src/payments/exactReconcile.ts";
import { getAgentAccount, getProviderAccount } from "../../indexer/read/index.ts";
import { mockSmartWalletBytecode } from "@agenttab/sdk/bytecode";
import { AgentTabClient, agentTabEscrowAbi, authorizationHeader, mockSmartWalletAbi, fiatTokenAbi, registerAgentTabScheme, signIn, verifyReceipt } from "@agenttab/sdk";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService } from "../api/helpers/payments.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { recordingSigner } from "./helpers/recordingSigner.ts";

const PRICE = 25_000n;
const FEE = PRICE / 100n; // the local deployment's 1%

describe("x402 interop: stock @x402/fetch clients pay the proxy", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let apiUrl: string;
  const provider = testAccount("x402 provider");
  const payer = testAccount("x402 exact payer");
  const agent = testAccount("x402 voucher agent");
  let upstreamCalls = 0;
  const drained = testAccount("x402 drained payer");
  /** While the upstream works, `drained` moves all its USDC away: the settlement that follows must fail. */
  const drainPayer = async () => {
    const wallet = await stack.chain.walletFor(drained);
    const balance = await read.usdc(drained.address);
    await stack.chain.mined(wallet.writeContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "transfer", args: [testAccount("x402 sink").address, balance] }));
  };

  const url = (path: string) => `${apiUrl}/v1/proxy/${path}`;
  const read = {
    usdc: (owner: Address) => stack.chain.publicClient.readContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [owner] }),
    earnings: () => stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider.address] }),
    fees: () => stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "accruedFees" }),
    relayerNonce: () => stack.chain.publicClient.getTransactionCount({ address: stack.app.relayer?.address as Address, blockTag: "pending" }),
  };
  const money = async () => ({ payer: await read.usdc(payer.address), earnings: await read.earnings(), fees: await read.fees(), relayerNonce: await read.relayerNonce() });

  /** A stock x402 client with only @x402/evm's exact scheme, allowed to pay the local FiatToken. */
  const exactClient = (signer: Pick<LocalAccount, "address" | "signTypedData"> = payer) => {
    const client = new x402Client();
    registerExactEvmScheme(client, { signer });
    return client.setSpendControls({ allowedAssets: [{ network: stack.chain.deployment.network, asset: stack.chain.deployment.usdc }] });
  };
  /** The `exact` offer of an unpaid call's 402. */
  const exactOffer = async (path: string): Promise<PaymentRequirements> => {
    const res = await fetch(url(path));
    expect(res.status).toBe(402);
    const offer = decodePaymentRequiredHeader(res.headers.get("payment-required") as string).accepts.find((a) => a.scheme === "exact");
    if (!offer) throw new Error("no exact offer");
    return offer;
  };
  /** A PAYMENT-SIGNATURE header signed by the stock exact scheme for `requirements` (possibly tampered with). */
  const exactHeader = async (requirements: PaymentRequirements, signer: Pick<LocalAccount, "address" | "signTypedData"> = payer, accepted = requirements) => {
    const { payload } = await new ExactEvmScheme(signer).createPaymentPayload(2, requirements);
    return encodePaymentSignatureHeader({ x402Version: 2, accepted, payload });
  };
  const exactRow = async (nonce: Hex) => {
    const [row] = await stack.app.sql<{ status: string; value: string; fee: string; tx_hash: string | null; upstream_status: number | null }[]>`
      SELECT status, value, fee, tx_hash, upstream_status FROM exact_payments WHERE nonce = ${nonce.toLowerCase()}`;
    return row;
  };
  /** A fetch that keeps every `payment-signature` header it sends. */
  const recordingFetch = () => {
    const sent: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const header = new Request(input, init).headers.get("payment-signature");
      if (header) sent.push(header);
      return fetch(input, init);
    };
    return { recording, sent };
  };
  const nonceOf = (header: string) => (JSON.parse(Buffer.from(header, "base64").toString()) as { payload: { authorization: { nonce: Hex } } }).payload.authorization.nonce;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      upstreamCalls += 1;
      if (req.url?.startsWith("/api/fail")) {
        res.writeHead(503).end("down");
        return;
      }
      if (req.url?.startsWith("/api/drain")) {
        void drainPayer().finally(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ secret: "served before the payment failed" })));
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "x-upstream": "yes" });
      res.end(JSON.stringify({ path: req.url, method: req.method }));
    });
    stack = await startApiStack();
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    await listService(stack, { id: "echo", provider: provider.address, upstreamUrl: `${upstream.url}/api`, price: PRICE });
    await listService(stack, { id: "metered", provider: provider.address, upstreamUrl: `${upstream.url}/api`, price: 10n, pricing: "metered", maxPrice: PRICE, usageHeader: "x-units" });
    await stack.chain.mint(payer.address, 1_000_000n);
    await depositAs(stack.chain, agent, 1_000_000n);
    // The exact payer also holds an escrow deposit (minted for it), to pay one call by voucher too.
    await depositAs(stack.chain, payer, 100_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: agent.address }), (a) => a?.balance === 1_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: payer.address }), (a) => a?.balance === 100_000n);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  it("offers exact next to the voucher for fixed prices, with what @x402/evm needs to sign", async () => {
    const res = await fetch(url("echo/x"));
    expect(res.status).toBe(402);
    const required = decodePaymentRequiredHeader(res.headers.get("payment-required") as string);
    const { deployment } = stack.chain;
    expect(required.accepts.map((a) => a.scheme)).toEqual(["agenttab-voucher", "exact"]);
    expect(required.accepts[1]).toEqual({
      scheme: "exact",
      network: deployment.network,
      amount: PRICE.toString(),
      asset: deployment.usdc,
      payTo: deployment.escrow,
      maxTimeoutSeconds: 60,
      extra: { name: "USD Coin", version: "2" },
    });
    const metered = await fetch(url("metered/x"));
    expect(decodePaymentRequiredHeader(metered.headers.get("payment-required") as string).accepts.map((a) => a.scheme)).toEqual(["agenttab-voucher"]);
  });

  let paidHeader: string;
  /** The settled exact payments of `payer`, oldest first, as their calls and the chain saw them. */
  const settledExact: { requestId?: string; transaction: Hex; path: string; upstreamStatus: number | null }[] = [];

  it("(a) a stock exact client pays one call: USDC moves on-chain, the provider is credited, the fee accrues", async () => {
    const before = await money();
    const { recording, sent } = recordingFetch();
    const paidFetch = wrapFetchWithPayment(recording, exactClient());
    const res = await paidFetch(url("echo/weather?city=paris"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ path: "/api/weather?city=paris", method: "GET" });
    expect(res.headers.get("x-upstream")).toBe("yes");
    expect(res.headers.get("x-acf-amount")).toBe(PRICE.toString());
    expect(res.headers.get("x-acf-currency")).toBe("USDC");
    expect(res.headers.get("x-acf-provider")).toBe(provider.address.toLowerCase());
    const settle = decodePaymentResponseHeader(res.headers.get("payment-response") as string);
    expect(settle).toMatchObject({ success: true, network: stack.chain.deployment.network, payer: payer.address, amount: PRICE.toString() });
    expect(settle.transaction).toMatch(/^0x[0-9a-f]{64}$/);
    const receipt = await stack.chain.publicClient.getTransactionReceipt({ hash: settle.transaction as Hex });
    expect(receipt.status).toBe("success");
    settledExact.push({ requestId: res.headers.get("x-acf-request-id") as string, transaction: settle.transaction as Hex, path: "/weather", upstreamStatus: 200 });

    const after = await money();
    expect(before.payer - after.payer).toBe(PRICE);
    expect(after.earnings - before.earnings).toBe(PRICE - FEE);
    expect(after.fees - before.fees).toBe(FEE);
    expect(after.relayerNonce - before.relayerNonce).toBe(1);

    // The signed receipt is the proxy's, as for vouchers.
    const signed = (settle.extensions as { agenttab: { receipt: Record<string, string> } }).agenttab.receipt;
    const { chainId, reputation, receiptSigner } = stack.chain.deployment;
    expect(
      await verifyReceipt({
        chainId,
        reputation,
        receipt: {
          requestId: signed.requestId as Hex,
          serviceId: signed.serviceId as Hex,
          provider: signed.provider as Address,
          payer: signed.payer as Address,
          amount: BigInt(signed.amount as string),
          cumulative: BigInt(signed.cumulative as string),
          issuedAt: BigInt(signed.issuedAt as string),
        },
        signature: signed.signature as Hex,
        signer: receiptSigner,
      }),
    ).toBe(true);

    expect(sent).toHaveLength(1);
    paidHeader = sent[0] as string;
    expect(await exactRow(nonceOf(paidHeader))).toMatchObject({ status: "settled", value: PRICE.toString(), fee: FEE.toString(), tx_hash: settle.transaction, upstream_status: 200 });
    // The indexer follows ExactPaymentSettled into the provider's earnings.
    const { value: indexed } = await stack.chain.waitFor(() => getProviderAccount(stack.chain.reader, { provider: provider.address }), (p) => p !== undefined && p.balance === after.earnings);
    expect(indexed).toMatchObject({ credited: PRICE - FEE, callsServed: 1n });
    // …and so into the provider's earnings as the API reports them.
    const token = await signIn(provider, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, ttlSeconds: 300 });
    const earnings = await fetch(`${apiUrl}/v1/providers/${provider.address}/earnings`, { headers: { authorization: authorizationHeader(token) } });
    expect(await earnings.json()).toMatchObject({ pending: "0", settled: (PRICE - FEE).toString(), withdrawable: (PRICE - FEE).toString() });
  });

  it("(a) a contract wallet pays exact too: its ERC-1271 signature is left to the simulation", async () => {
    const owner = testAccount("x402 wallet owner");
    const deployed = await stack.chain.mined(stack.chain.deployer.deployContract({ abi: mockSmartWalletAbi, bytecode: mockSmartWalletBytecode, args: [owner.address] }));
    const wallet = getAddress(deployed.contractAddress as Address);
    await stack.chain.mint(wallet, 100_000n);
    const before = { wallet: await read.usdc(wallet), earnings: await read.earnings() };

    const res = await wrapFetchWithPayment(fetch, exactClient({ address: wallet, signTypedData: owner.signTypedData }))(url("echo/from-a-wallet"));
    expect(res.status).toBe(200);
    expect(decodePaymentResponseHeader(res.headers.get("payment-response") as string)).toMatchObject({ success: true, payer: wallet });
    expect(before.wallet - (await read.usdc(wallet))).toBe(PRICE);
    expect((await read.earnings()) - before.earnings).toBe(PRICE - FEE);

    // Signed by someone the wallet does not accept: refused by the simulation, before the upstream.
    const calls = upstreamCalls;
    const forged = await exactHeader(await exactOffer("echo/x"), { address: wallet, signTypedData: testAccount("x402 stranger").signTypedData });
    const refused = await fetch(url("echo/x"), { headers: { "payment-signature": forged } });
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ code: "invalid_signature" });
    expect(upstreamCalls).toBe(calls);
    expect(await read.usdc(wallet)).toBe(before.wallet - PRICE);
  });

  it("(b) an upstream 5xx settles nothing: no USDC moves, the authorization is released", async () => {
    const before = await money();
    const { recording, sent } = recordingFetch();
    const res = await wrapFetchWithPayment(recording, exactClient())(url("echo/fail"));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ code: "upstream_failed", details: { upstreamStatus: 503 } });
    expect(res.headers.get("payment-response")).toBeNull();
    expect(await money()).toEqual(before);
    expect(await exactRow(nonceOf(sent[0] as string))).toMatchObject({ status: "released", tx_hash: null, upstream_status: 503 });
  });

  it("withholds the response when the settlement fails after the upstream answered, and charges nothing", async () => {
    await stack.chain.mint(drained.address, PRICE);
    const before = await money();
    const { recording, sent } = recordingFetch();
    const res = await wrapFetchWithPayment(recording, exactClient(drained))(url("echo/drain"));
    expect(res.status).toBe(402);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ code: "insufficient_funds" });
    expect(body).not.toContain("served before the payment failed");
    expect(await money()).toEqual(before);
    expect(await exactRow(nonceOf(sent[0] as string))).toMatchObject({ status: "failed", tx_hash: null, upstream_status: 200 });
  });

  it("(c) the same authorization replayed is refused before the upstream, and costs nothing", async () => {
    const before = await money();
    const calls = upstreamCalls;
    const replays = await Promise.all([1, 2].map(() => fetch(url("echo/weather?city=paris"), { headers: { "payment-signature": paidHeader } })));
    for (const res of replays) {
      expect(res.status).toBe(402);
      expect(await res.json()).toMatchObject({ code: "authorization_used" });
      expect(decodePaymentRequiredHeader(res.headers.get("payment-required") as string).error).toBe("authorization_used");
    }
    expect(upstreamCalls).toBe(calls);
    expect(await money()).toEqual(before);
  });

  it("(e) bad exact payloads are refused with a code, before the upstream and with nothing sent on-chain", async () => {
    const offer = await exactOffer("echo/x");
    const stranger = testAccount("x402 stranger");
    const now = BigInt(Math.floor(Date.now() / 1000));
    const valid = await exactHeader(offer);
    const decoded = JSON.parse(Buffer.from(valid, "base64").toString()) as { x402Version: number; accepted: PaymentRequirements; payload: { authorization: Record<string, string>; signature: Hex } };
    const tampered = (change: (p: typeof decoded) => void) => {
      const copy = structuredClone(decoded);
      change(copy);
      return encodePaymentSignatureHeader(copy as never);
    };
    // Flipping one byte of r leaves a well-formed signature that recovers someone else.
    const badSignature = `${decoded.payload.signature.slice(0, 10)}${decoded.payload.signature[10] === "0" ? "1" : "0"}${decoded.payload.signature.slice(11)}` as Hex;
    const cases: [string, string | Promise<string>, number, string][] = [
      ["wrong payTo", exactHeader({ ...offer, payTo: stranger.address }), 400, "wrong_pay_to"],
      ["authorization to another address", exactHeader({ ...offer, payTo: stranger.address }, payer, offer), 400, "wrong_pay_to"],
      ["too low an amount", exactHeader({ ...offer, amount: (PRICE - 1n).toString() }), 402, "amount_too_low"],
      ["expiring before the call can settle", exactHeader({ ...offer, maxTimeoutSeconds: 5 }), 402, "authorization_expired"],
      ["already expired", tampered((p) => (p.payload.authorization.validBefore = (now - 10n).toString())), 402, "authorization_expired"],
      ["not valid yet", tampered((p) => (p.payload.authorization.validAfter = (now + 600n).toString())), 402, "authorization_not_yet_valid"],
      ["signed by someone else", exactHeader(offer, { address: payer.address, signTypedData: stranger.signTypedData }), 402, "invalid_signature"],
      ["a tampered signature", tampered((p) => (p.payload.signature = badSignature)), 402, "invalid_signature"],
      ["a changed value", tampered((p) => (p.payload.authorization.value = (PRICE * 2n).toString())), 402, "invalid_signature"],
      ["a short signature", tampered((p) => (p.payload.signature = "0x1234")), 400, "invalid_signature"],
      ["another network", exactHeader(offer, payer, { ...offer, network: "eip155:8453" }), 400, "wrong_network"],
      ["another asset", exactHeader({ ...offer, asset: stranger.address }), 400, "wrong_asset"],
      ["no authorization (a Permit2 or voucher payload)", tampered((p) => delete (p.payload as Partial<typeof p.payload>).authorization), 400, "unsupported_scheme"],
      ["a garbled nonce", tampered((p) => (p.payload.authorization.nonce = "0x12")), 400, "invalid_authorization"],
      ["a negative value", tampered((p) => (p.payload.authorization.value = "-25000")), 400, "invalid_authorization"],
    ];
    const before = await money();
    const calls = upstreamCalls;
    for (const [label, header, status, code] of cases) {
      const res = await fetch(url("echo/x"), { headers: { "payment-signature": await header } });
      expect({ label, status: res.status, code: ((await res.json()) as { code: string }).code }).toEqual({ label, status, code });
    }
    // Exact payments are for fixed prices only.
    const metered = await fetch(url("metered/x"), { headers: { "payment-signature": valid } });
    expect(metered.status).toBe(400);
    expect(await metered.json()).toMatchObject({ code: "unsupported_scheme" });
    expect(upstreamCalls).toBe(calls);
    expect(await money()).toEqual(before);

    // A payer without the USDC is refused by the simulation, before the upstream.
    const broke = testAccount("x402 broke payer");
    const res = await fetch(url("echo/x"), { headers: { "payment-signature": await exactHeader(offer, broke) } });
    expect(res.status).toBe(402);
    expect(await res.json()).toMatchObject({ code: "insufficient_funds" });
    expect(upstreamCalls).toBe(calls);
    expect(await money()).toEqual(before);
  });

  it("closes exact payments a crash left pending, from the chain", async () => {
    const offer = await exactOffer("echo/x");
    type Authorization = { from: Address; to: Address; value: string; validAfter: string; validBefore: string; nonce: Hex };
    const authorize = async () => (await new ExactEvmScheme(payer).createPaymentPayload(2, offer)).payload as { authorization: Authorization; signature: Hex };
    const recordPending = async ({ authorization, signature }: { authorization: Authorization; signature: Hex }, validBefore = authorization.validBefore) => {
      await stack.app.sql`
        INSERT INTO exact_payments (request_id, payer, nonce, service_id, provider, value, fee, valid_before, signature, status, method, path)
        VALUES (${crypto.randomUUID()}, ${authorization.from.toLowerCase()}, ${authorization.nonce.toLowerCase()}, 'echo', ${provider.address.toLowerCase()},
          ${authorization.value}, ${FEE.toString()}, ${validBefore}, ${signature}, 'pending', 'GET', '/x')`;
    };
    // Crashed after sending the settlement: the chain has it, the ledger still says pending.
    const sentBeforeCrash = await authorize();
    await recordPending(sentBeforeCrash);
    const { authorization: a, signature } = sentBeforeCrash;
    const { hash } = await (stack.app.relayer as NonNullable<typeof stack.app.relayer>).send({
      address: stack.chain.deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "settleExactPayment",
      args: [{ from: a.from, value: BigInt(a.value), validAfter: BigInt(a.validAfter), validBefore: BigInt(a.validBefore), nonce: a.nonce, provider: provider.address, fee: FEE }, signature],
    });
    // Crashed before settling, and the authorization has since expired.
    const expired = await authorize();
    await recordPending(expired, "1");
    // Crashed before settling, still valid: left alone until it expires.
    const stillValid = await authorize();
    await recordPending(stillValid);

    expect(await reconcileExactPayments(stack.app, { publicClient: stack.chain.publicClient, olderThanMs: 0 })).toEqual({ settled: 1, released: 1, failed: 0 });
    expect(await exactRow(a.nonce)).toMatchObject({ status: "settled", tx_hash: hash });
    settledExact.push({ transaction: hash, path: "/x", upstreamStatus: null });
    expect(await exactRow(expired.authorization.nonce)).toMatchObject({ status: "released", tx_hash: null });
    expect(await exactRow(stillValid.authorization.nonce)).toMatchObject({ status: "pending" });
    expect(await reconcileExactPayments(stack.app, { publicClient: stack.chain.publicClient, olderThanMs: 0 })).toEqual({ settled: 0, released: 0, failed: 0 });
  });

  it("the payer's own history and spending hold its settled exact payments, and none that moved no money", async () => {
    const { deployment } = stack.chain;
    // A stock x402 payer is a plain key: it signs in to read like any agent.
    const client = new AgentTabClient({ apiUrl, signer: payer, chainId: deployment.chainId, escrow: deployment.escrow });
    const byVoucher = await client.call("echo", { path: "/by-voucher" });
    expect(byVoucher.status).toBe(200);
    // What the calls above left: an upstream 5xx and an expired crash released, one crash still pending.
    const statuses = await stack.app.sql<{ status: string; calls: number }[]>`
      SELECT status, count(*)::int AS calls FROM exact_payments WHERE payer = ${payer.address.toLowerCase()} GROUP BY status ORDER BY status`;
    expect(statuses.map((r) => [r.status, r.calls])).toEqual([["pending", 1], ["released", 2], ["settled", 2]]);

    const page = await client.getTransactions({ limit: 100 });
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((t) => [t.scheme, t.amount, t.transaction])).toEqual([
      ["agenttab-voucher", PRICE, null],
      ...settledExact.toReversed().map((e) => ["exact", PRICE, e.transaction]),
    ]);
    const [, reconciled, paid] = page.items;
    expect(page.items[0]).toMatchObject({ requestId: byVoucher.requestId, path: "/by-voucher", cumulative: PRICE });
    expect(paid).toEqual({
      requestId: settledExact[0]?.requestId,
      scheme: "exact",
      serviceId: "echo",
      provider: provider.address.toLowerCase(),
      signer: payer.address.toLowerCase(),
      amount: PRICE,
      fee: FEE,
      cumulative: PRICE,
      method: "GET",
      path: "/weather", // the path, not the query
      upstreamStatus: 200,
      latencyMs: expect.any(Number),
      createdAt: expect.any(String),
      settlementBatch: null,
      transaction: settledExact[0]?.transaction,
    });
    expect(reconciled).toMatchObject({ scheme: "exact", path: "/x", upstreamStatus: null, latencyMs: null });

    // One item a page: the cursor runs across charges and exact payments alike.
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const one = await client.getTransactions({ limit: 1, cursor });
      ids.push(...one.items.map((t) => t.requestId));
      cursor = one.nextCursor ?? undefined;
    } while (cursor !== undefined && ids.length < 10);
    expect(ids).toEqual(page.items.map((t) => t.requestId));
    expect((await client.getTransactions({ serviceId: "metered" })).items).toEqual([]);
    expect((await client.getTransactions({ to: new Date(Date.now() - 3_600_000) })).items).toEqual([]);

    const report = await client.getSpendingReport({ period: "day" });
    expect(report).toMatchObject({ total: 3n * PRICE, calls: 3, averagePerCall: PRICE, byService: [{ serviceId: "echo", total: 3n * PRICE, calls: 3, averagePerCall: PRICE }] });
  });

  it("(d) stock @x402/fetch with the AgentTab voucher plug-in pays calls, concurrent ones too, from the escrow", async () => {
    const charged = async () => {
      const [row] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${agent.address.toLowerCase()}`;
      return { charged: BigInt(row?.charged ?? 0), reserved: BigInt(row?.reserved ?? 0) };
    };
    const { deployment } = stack.chain;
    const allowLocalUsdc = { allowedAssets: [{ network: deployment.network, asset: deployment.usdc }] };
    const client = new x402Client().setSpendControls(allowLocalUsdc);
    const scheme = registerAgentTabScheme(client, { signer: agent, escrow: deployment.escrow, maxSpend: 1_000_000n, apiOrigins: [apiUrl] });
    const paidFetch = wrapFetchWithPayment(fetch, new x402HTTPClient(client).onPaymentRequired(scheme.onPaymentRequired));
    const usdcBefore = await read.usdc(agent.address);

    const first = await paidFetch(url("echo/one"));
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ path: "/api/one", method: "GET" });
    expect(decodePaymentResponseHeader(first.headers.get("payment-response") as string)).toMatchObject({ success: true, transaction: "", payer: agent.address });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => paidFetch(url(`echo/n/${i}`))));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await Promise.all(results.map((r) => r.arrayBuffer()));
    expect(await charged()).toEqual({ charged: 7n * PRICE, reserved: 0n });
    expect(scheme.knownCharged(deployment.escrow)).toBe(7n * PRICE);
    // Vouchers settle weekly: nothing moved on-chain yet.
    expect(await read.usdc(agent.address)).toBe(usdcBefore);

    // A restarted plug-in knows nothing: its first voucher is too low, the corrective 402 tells it
    // the charged total, and the transport's one retry pays.
    const { signer: voucherRecorder, signed } = recordingSigner(agent);
    const restarted = new x402Client().setSpendControls(allowLocalUsdc);
    const fresh = registerAgentTabScheme(restarted, { signer: voucherRecorder, escrow: deployment.escrow, apiOrigins: [apiUrl] });
    const again = await wrapFetchWithPayment(fetch, new x402HTTPClient(restarted).onPaymentRequired(fresh.onPaymentRequired))(url("echo/again"));
    expect(again.status).toBe(200);
    expect(signed).toEqual([PRICE, 8n * PRICE]);
    expect(fresh.knownCharged(deployment.escrow)).toBe(8n * PRICE);
    expect(await charged()).toEqual({ charged: 8n * PRICE, reserved: 0n });

    // maxSpend holds across the recovery: the plug-in refuses to sign past it.
    const capped = new x402Client().setSpendControls(allowLocalUsdc);
    const cappedScheme = registerAgentTabScheme(capped, { signer: agent, escrow: deployment.escrow, maxSpend: PRICE, apiOrigins: [apiUrl] });
    await expect(wrapFetchWithPayment(fetch, new x402HTTPClient(capped).onPaymentRequired(cappedScheme.onPaymentRequired))(url("echo/capped"))).rejects.toThrow(/maxSpend/);
    expect(await charged()).toEqual({ charged: 8n * PRICE, reserved: 0n });

    // Pinned to another escrow, it signs nothing.
    const elsewhere = new x402Client().setSpendControls(allowLocalUsdc);
    const elsewhereScheme = registerAgentTabScheme(elsewhere, { signer: agent, escrow: testAccount("x402 other escrow").address, apiOrigins: [apiUrl] });
    await expect(wrapFetchWithPayment(fetch, new x402HTTPClient(elsewhere).onPaymentRequired(elsewhereScheme.onPaymentRequired))(url("echo/elsewhere"))).rejects.toThrow(/escrow/);
  });
  /** The exact rows of `owner`, oldest first. */
  const rowsOf = (owner: Address) =>
    stack.app.sql<{ status: string; tx_hash: string | null; upstream_status: number | null }[]>`
      SELECT status, tx_hash, upstream_status FROM exact_payments WHERE payer = ${owner.toLowerCase()} ORDER BY created_at`;

  it("a settlement whose receipt never came is left pending (not failed, not 'not charged'), and the reconciler settles it", async () => {
    const unconfirmed = testAccount("x402 unconfirmed payer");
    await stack.chain.mint(unconfirmed.address, PRICE);
    const relayer = stack.app.relayer as NonNullable<typeof stack.app.relayer>;
    const realSend = relayer.send;
    let sentHash: Hex | undefined;
    // The transaction is sent and mined; the wait for its receipt times out (as viem's would).
    relayer.send = (async (write: Parameters<typeof realSend>[0]) => {
      const sent = await realSend(write);
      sentHash = sent.hash;
      throw new WaitForTransactionReceiptTimeoutError({ hash: sent.hash });
    }) as typeof realSend;
    let res: Response;
    try {
      res = await wrapFetchWithPayment(fetch, exactClient(unconfirmed))(url("echo/unconfirmed"));
    } finally {
      relayer.send = realSend;
    }
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ code: "settlement_unconfirmed" });
    expect(body).not.toContain("not charged");
    expect(body).not.toContain("/api/unconfirmed");
    expect(res.headers.get("payment-response")).toBeNull();
    expect(sentHash).toBeDefined();
    expect(await read.usdc(unconfirmed.address)).toBe(0n);
    expect(await rowsOf(unconfirmed.address)).toEqual([{ status: "pending", tx_hash: null, upstream_status: null }]);

    // Pending for two days: the event is searched for from the row's creation, not a fixed window.
    await stack.app.sql`UPDATE exact_payments SET created_at = now() - interval '2 days' WHERE payer = ${unconfirmed.address.toLowerCase()}`;
    const done = await reconcileExactPayments(stack.app, { publicClient: stack.chain.publicClient, olderThanMs: 0 });
    expect(done).toMatchObject({ settled: 1, failed: 0 });
    expect(await rowsOf(unconfirmed.address)).toMatchObject([{ status: "settled", tx_hash: sentHash }]);
  });

  it("a settled payment whose ledger write fails still gets its response, and the reconciler records it", async () => {
    const recorded = testAccount("x402 ledger-down payer");
    await stack.chain.mint(recorded.address, PRICE);
    // A real PostgreSQL error on the ledger write that follows the settlement, for this payer only.
    await stack.app.sql.unsafe(`
      CREATE OR REPLACE FUNCTION x402_test_ledger_down() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'ledger down (test)'; END $$;
      CREATE TRIGGER x402_test_ledger_down BEFORE UPDATE ON exact_payments FOR EACH ROW
        WHEN (NEW.status = 'settled' AND NEW.payer = '${recorded.address.toLowerCase()}') EXECUTE FUNCTION x402_test_ledger_down();`);
    let res: Response;
    try {
      res = await wrapFetchWithPayment(fetch, exactClient(recorded))(url("echo/ledger-down"));
    } finally {
      await stack.app.sql.unsafe("DROP TRIGGER x402_test_ledger_down ON exact_payments; DROP FUNCTION x402_test_ledger_down();");
    }
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ path: "/api/ledger-down", method: "GET" });
    const settle = decodePaymentResponseHeader(res.headers.get("payment-response") as string);
    expect(settle).toMatchObject({ success: true, payer: recorded.address });
    expect(await read.usdc(recorded.address)).toBe(0n);
    expect(await rowsOf(recorded.address)).toEqual([{ status: "pending", tx_hash: null, upstream_status: null }]);

    expect(await reconcileExactPayments(stack.app, { publicClient: stack.chain.publicClient, olderThanMs: 0 })).toMatchObject({ settled: 1, failed: 0 });
    expect(await rowsOf(recorded.address)).toMatchObject([{ status: "settled", tx_hash: settle.transaction }]);
  });

  it("the voucher plug-in signs nothing for a 402 from another origin, nor for an inflated charged total", async () => {
    const { deployment } = stack.chain;
    const allowLocalUsdc = { allowedAssets: [{ network: deployment.network, asset: deployment.usdc }] };
    const { signer: voucherRecorder, signed } = recordingSigner(agent);
    // A malicious site answers with the real proxy's offer (real escrow, real resource URL), for 1
    // unit, claiming 1,000 USDC already charged: a voucher for it would be a bearer credential.
    const real = decodePaymentRequiredHeader((await fetch(url("echo/bait"))).headers.get("payment-required") as string);
    const offer = real.accepts.find((a) => a.scheme === "agenttab-voucher") as PaymentRequirements;
    const bait = { ...real, resource: { ...real.resource, url: url("echo/bait") }, accepts: [{ ...offer, amount: "1", extra: { ...offer.extra, charged: "1000000000" } }] };
    let baitPaid = 0;
    const attacker = await startUpstream((req, res) => {
      if (req.headers["payment-signature"] !== undefined) baitPaid++;
      res.writeHead(402, { "payment-required": encodePaymentRequiredHeader(bait) }).end("{}");
    });
    try {
      const paidVia = (apiOrigins: string[], options: { maxCatchUp?: bigint } = {}) => {
        const client = new x402Client().setSpendControls(allowLocalUsdc);
        const scheme = registerAgentTabScheme(client, { signer: voucherRecorder, escrow: deployment.escrow, apiOrigins, ...options });
        return wrapFetchWithPayment(fetch, new x402HTTPClient(client).onPaymentRequired(scheme.onPaymentRequired));
      };
      // Another origin: refused before signing, whatever the 402 says its resource is.
      await expect(paidVia([apiUrl])(`${attacker.url}/v1/proxy/echo/bait`)).rejects.toThrow(/is not on an AgentTab API this plug-in pays/);
      // Even from an origin it pays, a charged total far above what it knows is not believed.
      await expect(paidVia([apiUrl, attacker.url])(`${attacker.url}/x`)).rejects.toThrow(/maxCatchUp/);
      await expect(paidVia([apiUrl, attacker.url], { maxCatchUp: 999_999_999n })(`${attacker.url}/x`)).rejects.toThrow(/maxCatchUp/);
      // Without the HTTP client's hook the scheme cannot see the URL, so it signs nothing.
      const bare = new x402Client().setSpendControls(allowLocalUsdc);
      registerAgentTabScheme(bare, { signer: voucherRecorder, escrow: deployment.escrow, apiOrigins: [apiUrl] });
      await expect(wrapFetchWithPayment(fetch, bare)(url("echo/bare"))).rejects.toThrow(/request URL is unknown/);
      expect(signed).toEqual([]);
      expect(baitPaid).toBe(0);
      expect(() => registerAgentTabScheme(new x402Client(), { signer: agent, apiOrigins: [] })).toThrow(/apiOrigins/);
    } finally {
      await attacker.close();
    }
  });

  it("the voucher plug-in does not retry on a corrective 402 whose charged total jumps above maxCatchUp", async () => {
    const { deployment } = stack.chain;
    const { signer: voucherRecorder, signed } = recordingSigner(agent);
    const real = decodePaymentRequiredHeader((await fetch(url("echo/bait"))).headers.get("payment-required") as string);
    const offer = real.accepts.find((a) => a.scheme === "agenttab-voucher") as PaymentRequirements;
    const first = { ...real, accepts: [{ ...offer, extra: { ...offer.extra, charged: "0" } }] };
    const corrective = { ...real, error: "voucher_too_low", accepts: [{ ...offer, extra: { ...offer.extra, charged: "1000000000" } }] };
    const site = await startUpstream((req, res) => {
      const paid = req.headers["payment-signature"] !== undefined;
      res.writeHead(402, { "payment-required": encodePaymentRequiredHeader(paid ? corrective : first) }).end("{}");
    });
    try {
      const client = new x402Client().setSpendControls({ allowedAssets: [{ network: deployment.network, asset: deployment.usdc }] });
      const scheme = registerAgentTabScheme(client, { signer: voucherRecorder, escrow: deployment.escrow, apiOrigins: [site.url] });
      const res = await wrapFetchWithPayment(fetch, new x402HTTPClient(client).onPaymentRequired(scheme.onPaymentRequired))(`${site.url}/x`);
      expect(res.status).toBe(402);
      expect(signed).toEqual([BigInt(offer.amount)]);
      expect(scheme.knownCharged(deployment.escrow)).toBe(0n);
    } finally {
      await site.close();
    }
  });
});
