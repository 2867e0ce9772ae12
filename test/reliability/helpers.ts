import net from "node:net";
import type { AddressInfo } from "node:net";

import type { FastifyInstance } from "fastify";
import type { Sql } from "postgres";
import { verifyTypedData } from "viem";
import type { Address, Hex, LocalAccount } from "viem";

import { getAgentAccount } from "../../indexer/read/index.ts";
import type { Deployment } from "@agenttab/sdk";
import { agentTabEscrowAbi, fiatTokenAbi, voucherTypedData } from "@agenttab/sdk";
import { voucherHeader } from "../api/helpers/payments.ts";
import type { IndexerStack } from "../indexer/helpers/stack.ts";

/**
 * A raw TCP "upstream" on 127.0.0.1 for faults an HTTP server cannot produce (resets, garbage).
 * `onConnection` gets each socket; `close` destroys every socket still open.
 */
export async function startRawUpstream(onConnection: (socket: net.Socket) => void) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Calls `then` once the first request head (up to the blank line) has arrived on `socket`. */
export function onRequestHead(socket: net.Socket, then: () => void) {
  let seen = "";
  const onData = (chunk: Buffer) => {
    seen += chunk.toString("latin1");
    if (seen.includes("\r\n\r\n")) {
      socket.off("data", onData);
      then();
    }
  };
  socket.on("data", onData);
}

/**
 * A TCP relay on 127.0.0.1 in front of `target` (a JSON-RPC server, say) that can be cut — the
 * listener closed and every relayed connection destroyed, so new connections are refused — and
 * restored on the same port. With `cutAfter`, a connection is also cut, both ways, right after
 * relaying a chunk from the target for which it returns true.
 */
export async function startTcpRelay(target: URL, { cutAfter }: { cutAfter?: (fromTarget: Buffer) => boolean } = {}) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const listen = async () => {
    const s = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      if (cutAfter === undefined) {
        upstream.pipe(client);
      } else {
        upstream.on("data", (chunk: Buffer) => {
          client.write(chunk);
          if (cutAfter(chunk)) {
            client.destroy();
            upstream.destroy();
          }
        });
      }
    });
    await new Promise<void>((resolve) => s.listen(port, "127.0.0.1", resolve));
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    async cut() {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    restore: listen,
  };
}

/**
 * Funds agents quickly: mints to each (one sender, so in turn), then every agent approves and
 * deposits in parallel from its own key, and waits until the index shows every deposit.
 */
export async function fundAgents(chain: IndexerStack, agents: LocalAccount[], amount: bigint) {
  const wallets = [];
  for (const agent of agents) {
    wallets.push(await chain.walletFor(agent));
    await chain.mint(agent.address, amount);
  }
  const { escrow, usdc } = chain.deployment;
  await Promise.all(
    wallets.map(async (wallet) => {
      await chain.mined(wallet.writeContract({ address: usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, amount] }));
      await chain.mined(wallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [amount] }));
    }),
  );
  for (const agent of agents) await chain.waitFor(() => getAgentAccount(chain.reader, { account: agent.address }), (a) => a !== undefined && a.balance >= amount, 60_000);
}

/** What an agent was told by one paid call that answered 2xx. */
export type PaidResponse = { agent: Address; requestId: string; amount: bigint; cumulative: bigint };

/** Reads the billing headers of a paid 2xx; throws when any is missing. */
export function paidResponse(agent: Address, headers: Record<string, string | string[] | undefined>): PaidResponse {
  const one = (name: string) => {
    const value = headers[name];
    if (typeof value !== "string") throw new Error(`paid response without ${name}`);
    return value;
  };
  const settle = JSON.parse(Buffer.from(one("payment-response"), "base64").toString()) as { extensions: { agenttab: { receipt: { cumulative: string } } } };
  return { agent, requestId: one("x-acf-request-id"), amount: BigInt(one("x-acf-amount")), cumulative: BigInt(settle.extensions.agenttab.receipt.cumulative) };
}

/** What one call of `traffic` saw. */
/** A `send` for `startTraffic` that pays `url` (a GET through the proxy) with `app.inject`. */
export const injectSend =
  (app: FastifyInstance, url: string) =>
  async (payment: string): Promise<SendResult> => {
    const res = await app.inject({ method: "GET", url, headers: { "payment-signature": payment } });
    return { status: res.statusCode, headers: res.headers as Record<string, string>, body: res.body };
  };

export type CallOutcome = { agent: Address; status: number; code: string | undefined; paid: PaidResponse | undefined; error: string | undefined };

type SendResult = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/**
 * Paid calls in a loop from each agent (one at a time per agent), until `stop()`. Each call signs
 * a voucher paying `provider` for `price` × the calls this agent has attempted, which always covers
 * what its track was charged plus anything still reserved by calls that died in flight. `send` performs one call
 * (inject, or a real socket); a thrown error (a connection cut by a crash) is recorded, not fatal.
 */
export function startTraffic({
  deployment,
  agents,
  provider,
  price,
  send,
  pauseMs = 5,
}: {
  deployment: Deployment;
  agents: LocalAccount[];
  /** The provider of the service `send` calls: the payee every voucher names. */
  provider: Address;
  price: bigint;
  send: (payment: string, agent: LocalAccount) => Promise<SendResult>;
  pauseMs?: number;
}) {
  const outcomes: CallOutcome[] = [];
  let running = true;
  const loops = agents.map(async (agent) => {
    let attempts = 0n;
    while (running) {
      attempts++;
      const payment = await voucherHeader(deployment, { signer: agent, provider, maxCumulative: attempts * price });
      try {
        const res = await send(payment, agent);
        let code: string | undefined;
        if (res.status >= 300) {
          try {
            code = (JSON.parse(res.body) as { code?: string }).code;
          } catch {
            code = undefined;
          }
        }
        outcomes.push({ agent: agent.address, status: res.status, code, paid: res.status < 300 ? paidResponse(agent.address, res.headers) : undefined, error: undefined });
      } catch (error) {
        outcomes.push({ agent: agent.address, status: 0, code: undefined, paid: undefined, error: String((error as Error).message ?? error) });
      }
      // Like a client honouring Retry-After, back off on a failure: a tight loop of refused calls
      // would only starve the event loop this test shares with the servers it is watching.
      const last = outcomes.at(-1)!;
      await new Promise((resolve) => setTimeout(resolve, last.status === 0 || last.status >= 500 ? 100 : pauseMs));
    }
  });
  return {
    outcomes,
    paid: () => outcomes.flatMap((o) => (o.paid ? [o.paid] : [])),
    /** Waits until `n` more paid responses have come back (or throws after `timeoutMs`). */
    async waitForPaid(n: number, timeoutMs = 20_000) {
      const target = outcomes.filter((o) => o.paid).length + n;
      const started = Date.now();
      while (outcomes.filter((o) => o.paid).length < target) {
        if (Date.now() - started > timeoutMs) throw new Error(`only ${outcomes.filter((o) => o.paid).length}/${target} paid calls; last: ${JSON.stringify(outcomes.slice(-3))}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** The ledger's totals, and every way it fails to hold together (empty when it is whole). */
export type LedgerAudit = { violations: string[]; charges: number; charged: bigint; reserved: bigint };

/**
 * Audits the ledger against itself: per (account, signer, provider) spend track, the charges'
 * amounts add up to its charged total and their cumulatives form one unbroken chain (nothing
 * double-counted or lost), every charge pays its track's provider, the best voucher stored covers
 * it and its signature is the signer's for that provider (no charge without its voucher), each
 * charge's recorded voucher covers its cumulative; per account, the totals equal the tracks' and
 * the reservations'.
 */
export async function auditLedger(sql: Sql, deployment: Deployment): Promise<LedgerAudit> {
  const violations: string[] = [];
  const tracks = await sql<{ account: Address; signer: Address; provider: Address; voucher_max: string; voucher_signature: Hex | null; charged: string; reserved: string }[]>`
    SELECT account, signer, provider, voucher_max::text, voucher_signature, charged::text, reserved::text FROM spend_tracks ORDER BY account, signer, provider`;
  const charges = await sql<{ request_id: string; account: string; signer: string; provider: string; amount: string; cumulative: string; voucher_max: string }[]>`
    SELECT request_id, account, signer, provider, amount::text, cumulative::text, voucher_max::text FROM charges ORDER BY account, signer, provider, charges.cumulative`;
  const reservations = await sql<{ account: string; signer: string; provider: string; max_amount: string }[]>`SELECT account, signer, provider, max_amount::text FROM reservations`;
  const accounts = await sql<{ account: string; charged: string; reserved: string }[]>`SELECT account, charged::text, reserved::text FROM ledger_accounts`;

  const byTrack = new Map<string, (typeof charges)[number][]>();
  for (const c of charges) {
    const key = `${c.account}/${c.signer}/${c.provider}`;
    const list = byTrack.get(key) ?? [];
    list.push(c);
    byTrack.set(key, list);
    if (BigInt(c.cumulative) > BigInt(c.voucher_max)) violations.push(`charge ${c.request_id}: cumulative ${c.cumulative} above its voucher ${c.voucher_max}`);
  }
  const accountTotals = new Map<string, { charged: bigint; reserved: bigint }>();
  for (const t of tracks) {
    const key = `${t.account}/${t.signer}/${t.provider}`;
    let running = 0n;
    for (const c of byTrack.get(key) ?? []) {
      running += BigInt(c.amount);
      if (BigInt(c.cumulative) !== running) violations.push(`${key}: charge ${c.request_id} says cumulative ${c.cumulative}, the chain of charges says ${running}`);
    }
    byTrack.delete(key);
    if (running !== BigInt(t.charged)) violations.push(`${key}: charges add up to ${running}, the track says ${t.charged}`);
    if (BigInt(t.voucher_max) < BigInt(t.charged)) violations.push(`${key}: charged ${t.charged} above its best voucher ${t.voucher_max}`);
    if (BigInt(t.charged) > 0n) {
      const valid =
        t.voucher_signature !== null &&
        (await verifyTypedData({
          address: t.signer,
          ...voucherTypedData({ chainId: deployment.chainId, escrow: deployment.escrow, account: t.account, signer: t.signer, provider: t.provider, maxCumulative: BigInt(t.voucher_max) }),
          signature: t.voucher_signature,
        }).catch(() => false));
      if (!valid) violations.push(`${key}: the stored voucher for ${t.voucher_max} is not signed by ${t.signer} for ${t.provider}`);
    }
    const heldHere = reservations
      .filter((r) => r.account === t.account && r.signer === t.signer && r.provider === t.provider)
      .reduce((sum, r) => sum + BigInt(r.max_amount), 0n);
    if (heldHere !== BigInt(t.reserved)) violations.push(`${key}: reservations hold ${heldHere}, the track says ${t.reserved}`);
    const totals = accountTotals.get(t.account) ?? { charged: 0n, reserved: 0n };
    accountTotals.set(t.account, { charged: totals.charged + BigInt(t.charged), reserved: totals.reserved + BigInt(t.reserved) });
  }
  for (const key of byTrack.keys()) violations.push(`${key}: charges without a spend track (no voucher)`);
  let charged = 0n;
  let reserved = 0n;
  for (const a of accounts) {
    const totals = accountTotals.get(a.account) ?? { charged: 0n, reserved: 0n };
    if (totals.charged !== BigInt(a.charged) || totals.reserved !== BigInt(a.reserved)) {
      violations.push(`account ${a.account}: ${a.charged} charged / ${a.reserved} reserved, its tracks say ${totals.charged} / ${totals.reserved}`);
    }
    charged += BigInt(a.charged);
    reserved += BigInt(a.reserved);
  }
  return { violations, charges: charges.length, charged, reserved };
}

/**
 * Every paid response an agent received has its charge, for the amount and cumulative it was
 * told, in the ledger; returns the problems (empty when all are there).
 */
export async function missingCharges(sql: Sql, paid: PaidResponse[]): Promise<string[]> {
  if (paid.length === 0) return [];
  const rows = await sql<{ request_id: string; account: string; amount: string; cumulative: string }[]>`
    SELECT request_id::text, account, amount::text, cumulative::text FROM charges WHERE request_id = ANY(${paid.map((p) => p.requestId)}::uuid[])`;
  const byId = new Map(rows.map((r) => [r.request_id, r]));
  const problems: string[] = [];
  for (const p of paid) {
    const row = byId.get(p.requestId);
    if (!row) problems.push(`paid response ${p.requestId} has no charge`);
    else if (BigInt(row.amount) !== p.amount || BigInt(row.cumulative) !== p.cumulative || row.account !== p.agent.toLowerCase()) {
      problems.push(`paid response ${p.requestId}: told ${p.amount}/${p.cumulative}, the ledger says ${row.amount}/${row.cumulative}`);
    }
  }
  return problems;
}

/** Polls `check` every 50 ms until it returns true, or throws after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean> | boolean, { timeoutMs = 20_000, what = "condition" }: { timeoutMs?: number; what?: string } = {}) {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}
