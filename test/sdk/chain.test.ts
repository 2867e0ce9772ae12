import type { AddressInfo } from "node:net";

import type { FastifyInstance } from "fastify";
import { WaitForTransactionReceiptTimeoutError, encodeFunctionData, getAddress, keccak256, toHex } from "viem";
import type { Address, Hex, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  AgentTabClient,
  ChainAccessError,
  DelegateNotActiveError,
  NoPendingWithdrawalError,
  RateLimitedError,
  WithdrawalLockedError,
  agentTabEscrowAbi,
  mockSmartWalletAbi,
  fiatTokenAbi,
  permitTypes,
  receiveWithAuthorizationTypes,
  usdcDomain,
} from "@agenttab/sdk";
import type { DepositStatus } from "@agenttab/sdk";
import { mockSmartWalletBytecode } from "@agenttab/sdk/bytecode";

import { buildApp } from "../../api/src/app.ts";
import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService } from "../api/helpers/payments.ts";
import { awaitFreshWindow } from "../api/helpers/clockWindow.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";
import { recordingSigner } from "./helpers/recordingSigner.ts";

const PRICE = 25_000n;
const HOUR = 3_600n;

describe("sdk: deposits, withdrawals, delegates, retries and receipts on the real stack", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let apiUrl: string;
  let relayer: Address;
  let noRelayerApp: FastifyInstance | undefined;
  const provider = testAccount("sdk chain provider");
  const gasless = testAccount("sdk chain gasless agent");
  const permitAgent = testAccount("sdk chain permit agent");
  const walletAgent = testAccount("sdk chain wallet agent");
  const delegate = testAccount("sdk chain delegate");
  const stranger = testAccount("sdk chain stranger");
  const busy = testAccount("sdk chain busy agent");

  const escrowAccount = async (account: Address) =>
    (await stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "accountOf", args: [account] })).balance;
  const usdcOf = (holder: Address) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [holder] });
  const ethOf = (holder: Address) => stack.chain.publicClient.getBalance({ address: holder });
  const relayerNonce = () => stack.chain.publicClient.getTransactionCount({ address: relayer, blockTag: "pending" });
  const indexedBalance = (account: Address, balance: bigint) =>
    stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account }), (a) => a?.balance === balance);
  const now = () => BigInt(Math.floor(Date.now() / 1000));

  /** A ReceiveWithAuthorization body for the relay route, signed by `signer` (by `from` unless told). */
  const authorizationBody = async ({
    from,
    signer = from,
    value,
    validAfter = 0n,
    validBefore = now() + HOUR,
    nonce = keccak256(toHex(`${from.address} ${value} ${Math.random()}`)),
  }: {
    from: LocalAccount;
    signer?: LocalAccount;
    value: bigint;
    validAfter?: bigint;
    validBefore?: bigint;
    nonce?: Hex;
  }) => {
    const { chainId, usdc, escrow } = stack.chain.deployment;
    const message = { from: from.address, to: escrow, value, validAfter, validBefore, nonce };
    const signature = await signer.signTypedData({ domain: usdcDomain({ chainId, usdc }), types: receiveWithAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message });
    return { from: from.address, value: value.toString(), validAfter: validAfter.toString(), validBefore: validBefore.toString(), nonce, signature } as Record<string, string>;
  };

  const post = (url: string, body: unknown) => stack.app.inject({ method: "POST", url, payload: body as Record<string, string> });

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url })));
    // A low real rate limit, so the retry test meets a real 429.
    stack = await startApiStack({ rateLimit: { max: 2, windowMs: 1_000 } });
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    relayer = stack.app.relayer!.address;
    await listService(stack, { id: "echo", provider: provider.address, upstreamUrl: upstream.url, price: PRICE });
  }, 120_000);

  afterAll(async () => {
    await noRelayerApp?.close();
    await stack?.stop();
    await upstream?.close();
  });

  it("deposits gaslessly by EIP-3009 authorization: the agent holds no ETH, the relayer pays the gas", async () => {
    await stack.chain.mint(gasless.address, 5_000_000n);
    expect(await ethOf(gasless.address)).toBe(0n);
    const relayerEth = await ethOf(relayer);
    const client = await AgentTabClient.connect({ apiUrl, signer: gasless });
    const { chainId, escrow, usdc, reputation, receiptSigner } = stack.chain.deployment;
    expect(client).toMatchObject({ chainId, escrow, usdc, reputation, receiptSigner, relayer, account: gasless.address });
    const steps: DepositStatus["step"][] = [];

    const result = await client.deposit(3_000_000n, { onStatus: (s) => steps.push(s.step), waitForIndexer: true });

    expect(result).toMatchObject({ method: "authorization", relayed: true });
    expect(result.gasUsed).toBeGreaterThan(0n);
    expect(steps).toEqual(["signing", "submitting", "submitted", "mined", "indexed"]);
    const tx = await stack.chain.publicClient.getTransactionReceipt({ hash: result.hash });
    expect(tx.from.toLowerCase()).toBe(relayer.toLowerCase());
    expect(tx.blockNumber).toBe(result.blockNumber);
    expect(await escrowAccount(gasless.address)).toBe(3_000_000n);
    expect(await usdcOf(gasless.address)).toBe(2_000_000n);
    expect(await ethOf(gasless.address)).toBe(0n);
    expect(await ethOf(relayer)).toBeLessThan(relayerEth);
    expect(await client.getBalance()).toMatchObject({ deposited: 3_000_000n, balance: 3_000_000n, available: 3_000_000n });
  });

  it("deposits by EIP-2612 permit, relayed by the API", async () => {
    await stack.chain.mint(permitAgent.address, 2_000_000n);
    const client = await AgentTabClient.connect({ apiUrl, signer: permitAgent, rpcUrl: stack.chain.rpcUrl });
    const result = await client.deposit(2_000_000n, { method: "permit" });
    expect(result).toMatchObject({ method: "permit", relayed: true });
    expect(await escrowAccount(permitAgent.address)).toBe(2_000_000n);
    expect(await usdcOf(permitAgent.address)).toBe(0n);
    expect(await ethOf(permitAgent.address)).toBe(0n);
    // A permit needs the USDC nonce, so a client without rpcUrl says what it is missing.
    const blind = await AgentTabClient.connect({ apiUrl, signer: permitAgent });
    await expect(blind.deposit(1_000_000n, { method: "permit" })).rejects.toMatchObject({ name: "ChainAccessError", missing: "rpcUrl" });
  });

  it("refuses bad relayed deposits with 4xx codes before sending anything", async () => {
    const broke = testAccount("sdk chain broke agent");
    await stack.chain.mint(gasless.address, 1_000_000n);
    const nonceBefore = await relayerNonce();
    const gaslessBefore = await escrowAccount(gasless.address);
    const valid = await authorizationBody({ from: gasless, value: 1_000_000n });
    const used = await authorizationBody({ from: gasless, value: 1_000_000n, nonce: keccak256(toHex("used nonce")) });
    // Use one authorization for real first, so its replay below is refused by the chain.
    expect((await post("/v1/deposits/authorization", used)).statusCode).toBe(201);
    const afterUse = await relayerNonce();
    expect(afterUse).toBe(nonceBefore + 1);
    const { chainId, usdc, escrow } = stack.chain.deployment;
    const permitNonce = await stack.chain.publicClient.readContract({ address: usdc, abi: fiatTokenAbi, functionName: "nonces", args: [permitAgent.address] });
    const permit = async ({ nonce = permitNonce, deadline = now() + HOUR }: { nonce?: bigint; deadline?: bigint }) => ({
      owner: permitAgent.address,
      value: "1000000",
      deadline: deadline.toString(),
      signature: await permitAgent.signTypedData({
        domain: usdcDomain({ chainId, usdc }),
        types: permitTypes,
        primaryType: "Permit",
        message: { owner: permitAgent.address, spender: escrow, value: 1_000_000n, nonce, deadline },
      }),
    });

    const cases: [string, string, Record<string, unknown>, number, string, string?][] = [
      ["signed by another key", "authorization", await authorizationBody({ from: gasless, signer: stranger, value: 1_000_000n }), 400, "invalid_signature"],
      ["fields changed after signing", "authorization", { ...valid, value: "2000000" }, 400, "invalid_signature"],
      ["expired", "authorization", await authorizationBody({ from: gasless, value: 1_000_000n, validBefore: now() - 10n }), 400, "authorization_expired"],
      ["about to expire", "authorization", await authorizationBody({ from: gasless, value: 1_000_000n, validBefore: now() + 5n }), 400, "authorization_expired"],
      ["not yet valid", "authorization", await authorizationBody({ from: gasless, value: 1_000_000n, validAfter: now() + HOUR }), 400, "authorization_not_yet_valid"],
      ["below the relayer's minimum", "authorization", await authorizationBody({ from: gasless, value: 999_999n }), 400, "amount_below_minimum"],
      ["zero", "authorization", { ...valid, value: "0" }, 400, "invalid_amount"],
      ["amount not a number", "authorization", { ...valid, value: "1e6" }, 400, "invalid_amount"],
      ["amount above 2^128", "authorization", { ...valid, value: (2n ** 128n).toString() }, 400, "invalid_amount"],
      ["bad address", "authorization", { ...valid, from: "0x1234" }, 400, "invalid_address"],
      ["bad nonce", "authorization", { ...valid, nonce: "0x12" }, 400, "invalid_request"],
      ["truncated signature", "authorization", { ...valid, signature: valid.signature!.slice(0, 100) }, 400, "invalid_signature"],
      ["missing field", "authorization", { ...valid, validBefore: undefined }, 400, "invalid_request"],
      ["no USDC to move", "authorization", await authorizationBody({ from: broke, value: 1_000_000n }), 422, "authorization_rejected", "ERC20: transfer amount exceeds balance"],
      ["replayed", "authorization", used, 422, "authorization_rejected", "FiatTokenV2: authorization is used or canceled"],
      ["permit with a stale nonce", "permit", await permit({ nonce: permitNonce + 1n }), 400, "invalid_signature"],
      ["expired permit", "permit", await permit({ deadline: now() - 1n }), 400, "permit_expired"],
      ["permit, no USDC left", "permit", await permit({}), 422, "permit_rejected", "ERC20: transfer amount exceeds balance"],
    ];
    for (const [label, route, body, status, code, reason] of cases) {
      const res = await post(`/v1/deposits/${route}`, body);
      expect(res.statusCode, `${label}: ${res.body}`).toBe(status);
      expect(res.json(), label).toMatchObject({ code });
      if (reason) expect(res.json().details, label).toMatchObject({ error: reason });
    }
    expect(await relayerNonce()).toBe(afterUse);
    expect(await escrowAccount(gasless.address)).toBe(gaslessBefore + 1_000_000n);
    // The SDK surfaces the same refusals as typed errors.
    const client = await AgentTabClient.connect({ apiUrl, signer: gasless });
    await expect(client.deposit(999_999n, { method: "authorization" })).rejects.toMatchObject({ name: "ApiRequestError", status: 400, code: "amount_below_minimum" });
    expect(await relayerNonce()).toBe(afterUse);
  });

  it("relays a contract wallet's permit only when the permit itself holds: its allowance cannot be swept in", async () => {
    const { chainId, usdc, escrow } = stack.chain.deployment;
    const owner = testAccount("sdk chain smart wallet owner");
    const deployed = await stack.chain.mined(stack.chain.deployer.deployContract({ abi: mockSmartWalletAbi, bytecode: mockSmartWalletBytecode, args: [owner.address] }));
    const wallet = getAddress(deployed.contractAddress as Address);
    await stack.chain.mint(wallet, 5_000_000n);
    // The wallet already allows the escrow 5 USDC, as after an approve it never used.
    const ownerWallet = await stack.chain.walletFor(owner);
    const approve = encodeFunctionData({ abi: fiatTokenAbi, functionName: "approve", args: [escrow, 5_000_000n] });
    await stack.chain.mined(ownerWallet.writeContract({ address: wallet, abi: mockSmartWalletAbi, functionName: "execute", args: [usdc, approve] }));
    const nonce = await stack.chain.publicClient.readContract({ address: usdc, abi: fiatTokenAbi, functionName: "nonces", args: [wallet] });
    const deadline = now() + HOUR;
    const body = async (signer: LocalAccount, value = 2_000_000n) => ({
      owner: wallet,
      value: value.toString(),
      deadline: deadline.toString(),
      signature: await signer.signTypedData({ domain: usdcDomain({ chainId, usdc }), types: permitTypes, primaryType: "Permit", message: { owner: wallet, spender: escrow, value, nonce, deadline } }),
    });
    const before = await relayerNonce();

    // Anyone's signature (or none that holds) for the wallet: refused before anything is sent.
    const forged = await post("/v1/deposits/permit", await body(stranger));
    expect(forged.statusCode, forged.body).toBe(400);
    expect(forged.json()).toMatchObject({ code: "invalid_signature" });
    const garbage = await post("/v1/deposits/permit", { ...(await body(stranger)), signature: `0x${"11".repeat(64)}1b` });
    expect(garbage.statusCode, garbage.body).toBe(400);
    expect(await relayerNonce()).toBe(before);
    expect(await escrowAccount(wallet)).toBe(0n);
    expect(await usdcOf(wallet)).toBe(5_000_000n);

    // The wallet's own permit (its owner's signature, accepted by ERC-1271) is relayed.
    const signed = await post("/v1/deposits/permit", await body(owner));
    expect(signed.statusCode, signed.body).toBe(201);
    expect(await escrowAccount(wallet)).toBe(2_000_000n);
  });

  it("answers a send whose outcome is unknown with 504 and its hash, or 503, never a 500", async () => {
    await stack.chain.mint(gasless.address, 2_000_000n);
    const relaying = stack.app.relayer!;
    const send = relaying.send;
    const hash = `0x${"ab".repeat(32)}` as Hex;
    try {
      relaying.send = async () => {
        throw new WaitForTransactionReceiptTimeoutError({ hash });
      };
      const timedOut = await post("/v1/deposits/authorization", await authorizationBody({ from: gasless, value: 1_000_000n }));
      expect(timedOut.statusCode, timedOut.body).toBe(504);
      expect(timedOut.json()).toMatchObject({ code: "deposit_unconfirmed", details: { hash } });
      relaying.send = async () => {
        throw new Error("socket hang up");
      };
      const unknown = await post("/v1/deposits/authorization", await authorizationBody({ from: gasless, value: 1_000_000n }));
      expect(unknown.statusCode, unknown.body).toBe(503);
      expect(unknown.json()).toMatchObject({ code: "deposit_status_unknown" });
    } finally {
      relaying.send = send;
    }
  });

  it("deposits from the agent's own wallet when the API has no relayer, or below its minimum", async () => {
    noRelayerApp = await buildApp({ ...stack.app.config, relayerKey: undefined }, { logger: false });
    await noRelayerApp.listen({ host: "127.0.0.1", port: 0 });
    const plainUrl = `http://127.0.0.1:${(noRelayerApp.server.address() as AddressInfo).port}`;
    const refused = await noRelayerApp.inject({ method: "POST", url: "/v1/deposits/authorization", payload: await authorizationBody({ from: walletAgent, value: 1_000_000n }) });
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ code: "relayer_unavailable" });

    await stack.chain.walletFor(walletAgent);
    await stack.chain.mint(walletAgent.address, 10_000_000n);
    const client = await AgentTabClient.connect({ apiUrl: plainUrl, signer: walletAgent, rpcUrl: stack.chain.rpcUrl });
    const steps: DepositStatus["step"][] = [];
    const result = await client.deposit(6_000_000n, { onStatus: (s) => steps.push(s.step) });
    expect(result).toMatchObject({ method: "approve", relayed: false });
    expect(steps).toEqual(["signing", "approving", "submitting", "submitted", "mined"]);
    const tx = await stack.chain.publicClient.getTransactionReceipt({ hash: result.hash });
    expect(tx.from.toLowerCase()).toBe(walletAgent.address.toLowerCase());
    expect(result.gasUsed).toBeGreaterThan(tx.gasUsed); // the approval's gas counts too
    expect(await escrowAccount(walletAgent.address)).toBe(6_000_000n);

    // On the relaying API, "auto" below the relayer's minimum falls back to the agent's wallet.
    const relaying = await AgentTabClient.connect({ apiUrl, signer: walletAgent, rpcUrl: stack.chain.rpcUrl });
    expect(await relaying.deposit(500_000n)).toMatchObject({ method: "approve", relayed: false });
    expect(await escrowAccount(walletAgent.address)).toBe(6_500_000n);
    await indexedBalance(walletAgent.address, 6_500_000n);

    // Without a relayer and without a wallet, the client says what is missing.
    const walletless = await AgentTabClient.connect({ apiUrl: plainUrl, signer: gasless });
    const error = await walletless.deposit(1_000_000n).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainAccessError);
    expect(error).toMatchObject({ missing: "rpcUrl" });
  });

  it("lets a delegate pay and read its owner's account until revoked", async () => {
    const owner = await AgentTabClient.connect({ apiUrl, signer: walletAgent, rpcUrl: stack.chain.rpcUrl });
    const authorized = await owner.authorizeDelegate(delegate.address, { cap: 1_000_000n });
    expect(authorized).toMatchObject({ delegate: delegate.address, cap: 1_000_000n, expiresAt: 0n });
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: walletAgent.address, delegate: delegate.address }), (d) => d?.active === true);

    const member = await AgentTabClient.connect({ apiUrl, signer: delegate, account: walletAgent.address });
    const paid = await member.call("echo", { path: "/by-delegate" });
    expect(paid.status).toBe(200);
    expect(paid.receipt.payer.toLowerCase()).toBe(delegate.address.toLowerCase());
    const balance = await member.getBalance();
    expect(balance).toMatchObject({ account: walletAgent.address.toLowerCase(), balance: 6_500_000n, unsettled: PRICE, available: 6_500_000n - PRICE });
    expect((await member.getTransactions()).items.map((t) => t.signer.toLowerCase())).toEqual([delegate.address.toLowerCase()]);
    expect((await member.getSpendingReport({ period: "day" })).total).toBe(PRICE);

    // A key that is not a delegate reads nothing of the account.
    const outsider = await AgentTabClient.connect({ apiUrl, signer: stranger, account: walletAgent.address });
    await expect(outsider.getBalance()).rejects.toMatchObject({ name: "ApiRequestError", status: 403, code: "forbidden" });

    await owner.revokeDelegate(delegate.address);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: walletAgent.address, delegate: delegate.address }), (d) => d?.active === false);
    // The same client, with its still-unexpired sign-in: refused for both paying and reading.
    await expect(member.call("echo", { path: "/after-revoke" })).rejects.toMatchObject({ name: "ApiRequestError", status: 402, code: "delegate_not_authorized" });
    await expect(member.getBalance()).rejects.toMatchObject({ status: 403, code: "forbidden" });
    await expect(member.getTransactions()).rejects.toMatchObject({ status: 403, code: "forbidden" });
    // Only the owner's key acts on the owner's account on-chain.
    await expect(member.requestWithdrawal(1n)).rejects.toBeInstanceOf(ChainAccessError);
    const again = await owner.revokeDelegate(delegate.address).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(DelegateNotActiveError);
    expect(again).toMatchObject({ name: "DelegateNotActiveError", errorName: "DelegateNotActive" });
    expect((await owner.getBalance()).unsettled).toBe(PRICE);
  });

  it("retries a real 429 after its Retry-After, signing again from what it knows, and not when told not to", async () => {
    await depositAs(stack.chain, busy, 1_000_000n);
    await indexedBalance(busy.address, 1_000_000n);
    const { signer: recording, signed } = recordingSigner(busy);
    const charged = async () => {
      const [row] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${busy.address.toLowerCase()}`;
      return BigInt(row?.charged ?? 0);
    };

    const statuses: number[] = [];
    const observing: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    };

    // Without retries: at most 2 calls per window pass, the rest are refused (each 429 sent once),
    // and only the passed ones are charged.
    const impatient = await AgentTabClient.connect({ apiUrl, signer: recording, retry: { attempts: 0 }, fetch: observing });
    await awaitFreshWindow(1_000, 600);
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => impatient.call("echo", { path: `/no-retry/${i}` })));
    const refused = outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason as unknown);
    const passed = outcomes.length - refused.length;
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect(error).toMatchObject({ status: 429, code: "rate_limited", retryAfterSeconds: 1 });
    }
    expect(await charged()).toBe(BigInt(passed) * PRICE);
    expect(statuses.filter((s) => s === 429)).toHaveLength(refused.length);

    // With retries all five go through: a refused call waits for Retry-After and pays
    // again with a voucher signed from what the client knows then (a warm-up call taught it the total).
    // Five calls at once against 2 per second: a call may meet several full windows in a row.
    // A second client on this key: it believes the proxy's charged total up to maxCatchUp.
    const patient = await AgentTabClient.connect({ apiUrl, signer: recording, fetch: observing, retry: { attempts: 6 }, maxCatchUp: 1_000_000n });
    await patient.call("echo", { path: "/warm-up" });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const before = await charged();
    signed.length = 0;
    statuses.length = 0;
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => patient.call("echo", { path: `/retry/${i}` })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(performance.now() - started).toBeGreaterThan(900); // at least one waited for Retry-After
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(signed.length).toBeGreaterThan(5); // the refused ones signed again
    expect(await charged()).toBe(before + 5n * PRICE);
    expect(results.map((r) => r.receipt.cumulative).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual([1n, 2n, 3n, 4n, 5n].map((n) => before + n * PRICE));
    // Never a voucher above what was charged plus every call in flight, counted at most twice
    // (a corrective 402's total already includes the calls in flight: see VoucherBook).
    expect(signed.filter((maxCumulative) => maxCumulative > before + 10n * PRICE)).toEqual([]);
  });

  it("verifies receipts against the API's receipt signer, and rejects tampered ones", async () => {
    const client = await AgentTabClient.connect({ apiUrl, signer: gasless });
    const { receipt } = await client.call("echo", { path: "/receipt" });
    expect(await client.verifyReceipt(receipt)).toBe(true);
    expect(await client.verifyReceipt({ ...receipt, amount: receipt.amount + 1n })).toBe(false);
    expect(await client.verifyReceipt({ ...receipt, payer: stranger.address })).toBe(false);
    const flipped = `${receipt.signature.slice(0, 10)}${receipt.signature[10] === "a" ? "b" : "a"}${receipt.signature.slice(11)}` as Hex;
    expect(await client.verifyReceipt({ ...receipt, signature: flipped })).toBe(false);
    // A client built by hand learns the receipt signer from GET /v1/network when it first needs it.
    const { chainId, escrow } = stack.chain.deployment;
    const manual = new AgentTabClient({ apiUrl, signer: gasless, chainId, escrow });
    expect(await manual.verifyReceipt(receipt)).toBe(true);
    const wrongChain = new AgentTabClient({ apiUrl, signer: gasless, chainId: 8453, escrow });
    await expect(wrongChain.verifyReceipt(receipt)).rejects.toMatchObject({ name: "ChainAccessError", missing: "network" });
  });

  it("waits out a stale index (503 index_stale) and pays once it has caught up, charged once", async () => {
    const statuses: number[] = [];
    const observing: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const chargedOf = async (account: Address) => {
      const [row] = await stack.app.sql`SELECT charged FROM ledger_accounts WHERE account = ${account.toLowerCase()}`;
      return BigInt(row?.charged ?? 0);
    };
    const client = await AgentTabClient.connect({ apiUrl, signer: gasless, fetch: observing, retry: { attempts: 60, maxDelayMs: 5_000 } });
    await client.call("echo", { path: "/before-stale" });
    const before = await chargedOf(gasless.address);
    let pending: ReturnType<typeof client.call> | undefined;
    await stack.chain.restartIndexer({
      whileDown: async () => {
        // The chain moves on while nothing indexes it: the proxy stops new spending.
        for (let i = 0; i < 8; i++) await stack.chain.publicClient.request({ method: "evm_mine" as never, params: [] as never });
        await stack.chain.waitFor(async () => (await stack.app.chain.fresh()).ok, (ok) => !ok);
        await new Promise((resolve) => setTimeout(resolve, 400)); // the proxy re-checks freshness every 200 ms
        statuses.length = 0;
        pending = client.call("echo", { path: "/while-stale" });
        await stack.chain.waitFor(async () => statuses.includes(503), (seen) => seen);
      },
    });
    const result = await pending!;
    expect(result.status).toBe(200);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.at(-1)).toBe(200);
    expect(await chargedOf(gasless.address)).toBe(before + PRICE);
    expect(result.receipt.cumulative).toBe(before + PRICE);
  }, 120_000);

  // Last: it moves the chain's clock 8 days ahead.
  it("withdraws: request, refused while locked, finalized after the delay with the exact amount", async () => {
    const client = await AgentTabClient.connect({ apiUrl, signer: walletAgent, rpcUrl: stack.chain.rpcUrl });
    await expect(client.finalizeWithdrawal()).rejects.toBeInstanceOf(NoPendingWithdrawalError);
    await expect(client.cancelWithdrawal()).rejects.toMatchObject({ name: "NoPendingWithdrawalError", account: walletAgent.address });
    await expect(client.requestWithdrawal(100_000_000n)).rejects.toMatchObject({ name: "EscrowBalanceTooLowError", balance: 6_500_000n, needed: 100_000_000n });

    const first = await client.requestWithdrawal(1_000_000n);
    const block = await stack.chain.publicClient.getBlock({ blockNumber: first.blockNumber });
    expect(first.unlockAt).toBe(block.timestamp + BigInt(stack.chain.deployment.withdrawalDelay));
    expect(first.amount).toBe(1_000_000n);
    await client.cancelWithdrawal();
    await expect(client.finalizeWithdrawal()).rejects.toBeInstanceOf(NoPendingWithdrawalError);

    const amount = 2_000_000n;
    const requested = await client.requestWithdrawal(amount);
    const locked = await client.finalizeWithdrawal().catch((e: unknown) => e);
    expect(locked).toBeInstanceOf(WithdrawalLockedError);
    expect(locked).toMatchObject({ name: "WithdrawalLockedError", unlockAt: requested.unlockAt, account: walletAgent.address });
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: walletAgent.address }), (a) => a?.pendingWithdrawal === amount);
    expect(await client.getBalance()).toMatchObject({ withdrawing: amount, available: 6_500_000n - PRICE - amount });

    await stack.chain.publicClient.request({ method: "evm_increaseTime" as never, params: [stack.chain.deployment.withdrawalDelay + 1] as never });
    await stack.chain.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    const walletBefore = await usdcOf(walletAgent.address);
    const finalized = await client.finalizeWithdrawal();
    expect(finalized.amount).toBe(amount);
    expect(await usdcOf(walletAgent.address)).toBe(walletBefore + amount);
    expect(await escrowAccount(walletAgent.address)).toBe(6_500_000n - amount);
    await expect(client.finalizeWithdrawal()).rejects.toBeInstanceOf(NoPendingWithdrawalError);
  });
});
