/**
 * `npm start`: the demo's stack, left running for a developer to play with — Hardhat node on
 * 127.0.0.1:8545, the API on 127.0.0.1:8787, the indexer on 127.0.0.1:42069, embedded PostgreSQL,
 * the demo providers registered, and three test agents funded with mock USDC (one with a deposit).
 * Prints URLs and keys; Ctrl-C stops everything.
 *
 *   --chain-port N   (default 8545)   --api-port N   (default 8787)   --indexer-port N   (default 42069)
 */
import { parseArgs } from "node:util";

import { privateKeyToAccount } from "viem/accounts";

import { AgentTabClient } from "../sdk/src/index.ts";
import { startLocalStack } from "./lib/localStack.ts";
import type { LocalStack } from "./lib/localStack.ts";
import { holdSignals } from "./lib/signals.ts";
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

let stack: LocalStack | undefined;
let providers: DemoProviders | undefined;
const claimSignals = holdSignals(async (signal) => {
  console.log(`\n${signal}: stopping…`);
  await providers?.close();
  await stack?.stop();
  process.exit(0);
});

try {
  stack = await startLocalStack({
    chainPort: Number(values["chain-port"]),
    apiPort: Number(values["api-port"]),
    indexerPort: Number(values["indexer-port"]),
    log: (line) => {
      claimSignals();
      console.log(`  · ${line}`);
    },
  });
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

  console.log(`
AgentTab is running on this machine:
  API        ${stack.apiUrl}   (OpenAPI at ${stack.apiUrl}/docs)
  chain      ${stack.rpcUrl}   (chain id ${stack.deployment.chainId})
  indexer    ${stack.indexerUrl}
  database   ${stack.databaseUrl}
  contracts  escrow ${stack.deployment.escrow} · MockUSDC ${stack.deployment.usdc} · reputation ${stack.deployment.reputation}

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

Ctrl-C stops everything.`);
} catch (error) {
  console.error(`start failed: ${(error as Error)?.stack ?? String(error)}`);
  await providers?.close();
  await stack?.stop();
  process.exit(1);
}
