import type { AddressInfo } from "node:net";

import type { Address, LocalAccount } from "viem";

import { getAgentAccount } from "../../../indexer/read/index.ts";
import { startApiStack, startUpstream } from "../../api/helpers/apiStack.ts";
import { listService } from "../../api/helpers/payments.ts";
import { depositAs } from "../../indexer/helpers/actions.ts";

/** The SDK, CLI and MCP tests' world: the real stack listening on 127.0.0.1, an echo upstream, two services, funded agents. */
export type EchoStack = Awaited<ReturnType<typeof startEchoStack>>;

/**
 * Starts the whole stack with the API on a real port, an upstream that echoes each request as
 * JSON (and answers 503 under `/api/fail`), the services `echo` (at `price`) and `pricey`
 * (0.4 USDC) of `provider`, and escrow deposits for `funded`, waited for in the index.
 *
 * @example
 * const world = await startEchoStack({ price: 25_000n, provider: provider.address, funded: [{ account: agent, amount: 1_000_000n }] });
 */
export async function startEchoStack({ price, provider, funded }: { price: bigint; provider: Address; funded: { account: LocalAccount; amount: bigint }[] }) {
  const upstream = await startUpstream((req, res) => {
    if (req.url?.startsWith("/api/fail")) {
      res.writeHead(503).end("down");
      return;
    }
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ path: req.url, method: req.method, body }));
    });
  });
  const stack = await startApiStack();
  await stack.app.listen({ host: "127.0.0.1", port: 0 });
  const apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
  await listService(stack, { id: "echo", provider, upstreamUrl: `${upstream.url}/api`, price });
  await listService(stack, { id: "pricey", provider, upstreamUrl: `${upstream.url}/api`, price: 400_000n });
  for (const { account, amount } of funded) await depositAs(stack.chain, account, amount);
  for (const { account, amount } of funded) {
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: account.address }), (a) => a?.balance === amount);
  }
  return {
    stack,
    upstream,
    apiUrl,
    /** The ledger's charged and reserved totals of an escrow account. */
    async ledger(account: Address) {
      const [row] = await stack.app.sql`SELECT charged, reserved FROM ledger_accounts WHERE account = ${account.toLowerCase()}`;
      return { charged: BigInt(row?.charged ?? 0), reserved: BigInt(row?.reserved ?? 0) };
    },
    async stop() {
      await stack.stop();
      await upstream.close();
    },
  };
}
