/**
 * `npm start`: the demo's stack, left running for a developer to play with — Hardhat node on
 * 127.0.0.1:8545, the API on 127.0.0.1:8787, the indexer on 127.0.0.1:42069, embedded PostgreSQL,
 * the demo providers registered, and three test agents funded with USDC (the local FiatToken) (one with a deposit).
 * Prints URLs and keys, and records where everything is in .data/local-stack.json (removed on stop),
 * which `npm run settle`, `payout`, `api` and `indexer` read when no variable says otherwise.
 * Ctrl-C, SIGTERM (to npm, to this process or to the group) or the end of whatever started it stops
 * everything, at any moment of start-up too.
 *
 *   --chain-port N   (default 8545)   --api-port N   (default 8787)   --indexer-port N   (default 42069)
 */
import path from "node:path";
import { parseArgs } from "node:util";

import { privateKeyToAccount } from "viem/accounts";

import { AgentTabClient } from "@agenttab/sdk";

import { startLocalStack } from "./lib/localStack.ts";
import type { LocalStack } from "./lib/localStack.ts";
import { recordLocalStack } from "./lib/localStackFile.ts";
import { exitCodeOf, holdSignals } from "./lib/signals.ts";
import { demoKey } from "./demo/keys.ts";
import { usdc } from "./demo/narrator.ts";
import { startDemoProviders } from "./demo/providers/catalog.ts";
import type { DemoProviders } from "./demo/providers/catalog.ts";
import { registerDemoServices } from "./demo/register.ts";

const { values } = parseArgs({
  options: {
    "chain-port": { type: "string", default: "8545" },
    "api-port": { type: "string", default: "8787" },
    "indexer-port": { type: "string", default: "42069" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("Usage: npm start [-- --chain-port 8545 --api-port 8787 --indexer-port 42069]");
  process.exit(0);
}

const WALLET_USDC = 100_000_000n;
const DEPOSIT = 10_000_000n;

let starting: Promise<LocalStack> | undefined;
let providers: DemoProviders | undefined;
let forget = async () => {};
const abort = new AbortController();
let stopping = false;
const shutdown = async () => {
  await forget();
  await providers?.close();
  // A start in progress stops what it has started, then rejects.
  abort.abort(new Error("stopped"));
  await (await starting?.catch(() => undefined))?.stop();
};
const claimSignals = holdSignals(async (reason) => {
  stopping = true;
  console.log(`\n${reason}: stopping…`);
  await shutdown();
  process.exit(reason === "SIGINT" ? 0 : exitCodeOf(reason));
});

try {
  starting = startLocalStack({
    signal: abort.signal,
    chainPort: Number(values["chain-port"]),
    apiPort: Number(values["api-port"]),
    indexerPort: Number(values["indexer-port"]),
    log: (line) => {
      claimSignals();
      console.log(`  · ${line}`);
    },
  });
  const stack = await starting;
  claimSignals();
  providers = await startDemoProviders();
  const registered = await registerDemoServices({ stack, providers });
  const agents = ["agent 1", "agent 2", "agent 3"].map((label) => ({ label, key: demoKey(label), account: privateKeyToAccount(demoKey(label)) }));
  for (const { account } of agents) {
    await stack.mint(account.address, WALLET_USDC);
    await stack.fundGas(account.address);
  }
  const first = agents[0];
  if (first === undefined) throw new Error("no agents");
  const client = await AgentTabClient.connect({ apiUrl: stack.apiUrl, signer: first.account, rpcUrl: stack.rpcUrl });
  await client.deposit(DEPOSIT, { method: "authorization", waitForIndexer: true });
  // A signal during the set-up above is already stopping the stack: record nothing.
  if (stopping) await new Promise((resolve) => setTimeout(resolve, 120_000));
  forget = await recordLocalStack(path.join(import.meta.dirname, ".."), {
    pid: process.pid,
    apiUrl: stack.apiUrl,
    rpcUrl: stack.rpcUrl,
    indexerUrl: stack.indexerUrl,
    databaseUrl: stack.databaseUrl,
    chainId: stack.deployment.chainId,
    deploymentsDir: stack.deploymentsDir,
    viewsSchema: stack.viewsSchema,
  });

  console.log(`
AgentTab is running on this machine:
  API        ${stack.apiUrl}   (OpenAPI at ${stack.apiUrl}/docs)
  chain      ${stack.rpcUrl}   (chain id ${stack.deployment.chainId})
  indexer    ${stack.indexerUrl}
  database   ${stack.databaseUrl}
  contracts  escrow ${stack.deployment.escrow} · USDC (FiatToken) ${stack.deployment.usdc} · reputation ${stack.deployment.reputation}
  views      schema ${stack.viewsSchema} · deployments in ${stack.deploymentsDir}

Services: ${registered.map((r) => r.service.serviceId).join(", ")}

Test agents (local chain only; each holds ${usdc(WALLET_USDC)} and ETH for gas):`);
  for (const [i, { label, key, account }] of agents.entries()) {
    console.log(`  ${label}: ${account.address}${i === 0 ? `  (${usdc(DEPOSIT)} already deposited)` : ""}\n    key ${key}`);
  }
  console.log(`
Try the CLI:
  export AGENTTAB_API_URL=${stack.apiUrl} AGENTTAB_RPC_URL=${stack.rpcUrl} AGENTTAB_PRIVATE_KEY=${first.key}
  npx agenttab balance
  npx agenttab services --tag sentiment
  npx agenttab call sentiment-pro /sentiment --method POST --data '{"text":"a great rally"}'

\`npm run settle\`, \`payout\`, \`api\` and \`indexer\` attach to this stack on their own (recorded in
.data/local-stack.json; a second \`npm run api\` needs another PORT).

Ctrl-C stops everything.`);
} catch (error) {
  // After a signal the start fails as its stack goes away: the signal handler finishes the exit.
  if (stopping) await new Promise((resolve) => setTimeout(resolve, 120_000));
  console.error(`start failed: ${(error as Error)?.stack ?? String(error)}`);
  await shutdown();
  process.exit(1);
}
