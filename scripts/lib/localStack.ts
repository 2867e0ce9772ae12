import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import type { FastifyInstance } from "fastify";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, http } from "viem";
import type { Account, Chain, Hash, PublicClient, TransactionReceipt, Transport, WalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { buildApp } from "../../api/src/app.ts";
import { defaultApiConfig } from "../../api/src/config.ts";
import { startIndexer } from "../../indexer/process.ts";
import type { IndexerProcess } from "../../indexer/process.ts";
import { mockUsdcAbi, serializeDeployment } from "../../sdk/src/index.ts";
import type { Deployment } from "../../sdk/src/index.ts";
import { deployAgentTab } from "./deployAgentTab.ts";
import { hardhatDeployerKey, hardhatRelayerKey } from "./deployConfig.ts";
import { freePort, openDatabase } from "./embeddedPostgres.ts";

const STOP_STEP_MS = 20_000;

/** Where the local stack listens; a port left out is picked free. */
export type LocalStackOptions = {
  chainPort?: number;
  apiPort?: number;
  indexerPort?: number;
  /** Progress lines ("postgres ready", …). */
  log?: (line: string) => void;
};

/** The whole system on one machine, every server on 127.0.0.1. */
export type LocalStack = {
  rpcUrl: string;
  apiUrl: string;
  indexerUrl: string;
  databaseUrl: string;
  deployment: Deployment;
  /** The API app, in this process (its `sql` is the ledger, for the settlement). */
  app: FastifyInstance;
  publicClient: PublicClient;
  /** Hardhat account #0: deployer, admin, settler and receipt signer on the local chain. */
  deployer: WalletClient<Transport, Chain, Account>;
  /** Gives `address` 100 ETH for gas (local chain only). */
  fundGas: (address: `0x${string}`) => Promise<void>;
  /** Waits for a transaction and checks it succeeded. */
  mined: (hash: Hash | Promise<Hash>) => Promise<TransactionReceipt>;
  /** Mints mock USDC (the deployer is its owner on the local chain). */
  mint: (to: `0x${string}`, amount: bigint) => Promise<TransactionReceipt>;
  /** Stops everything it started, in reverse order, and removes its temporary folder; safe to call twice. */
  stop: () => Promise<void>;
};

/**
 * Starts AgentTab locally from nothing: a fresh embedded PostgreSQL in a temporary folder, a
 * Hardhat JSON-RPC node with MockUSDC, the escrow and the reputation contract deployed (the API's
 * relayer holding the exact-payment role), the Ponder indexer, and the API — all on 127.0.0.1. What
 * `npm run demo` and `npm start` run on. A failure part-way stops what had started.
 *
 * @example
 * const stack = await startLocalStack({ apiPort: 8787, chainPort: 8545, log: console.log });
 * // … http://127.0.0.1:8787/v1/services …
 * await stack.stop();
 */
export async function startLocalStack({ chainPort, apiPort, indexerPort, log = () => {} }: LocalStackOptions = {}): Promise<LocalStack> {
  const root = await mkdtemp(path.join(tmpdir(), "agenttab-local-"));
  await chmod(root, 0o755);
  const stops: (() => Promise<void>)[] = [async () => rm(root, { recursive: true, force: true })];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      // A step that hangs (a child already killed by a terminal's Ctrl-C, say) must not hold up the rest.
      for (const step of stops.reverse()) await Promise.race([step().catch(() => {}), new Promise((resolve) => setTimeout(resolve, STOP_STEP_MS).unref())]);
    })();
    return stopped;
  };

  try {
    // The demo always runs on its own embedded database: a fresh chain needs a fresh ledger.
    const db = await openDatabase({ env: {}, dataDir: path.join(root, "postgres") });
    stops.push(db.stop);
    log(`postgres ready (embedded, data in ${root})`);

    const server = await network.createServer("default", "127.0.0.1", chainPort ?? 0);
    const { port } = await server.listen();
    stops.push(() => server.close());
    const rpcUrl = `http://127.0.0.1:${port}`;
    log(`hardhat node listening on ${rpcUrl} (chain id 31337)`);

    const transport = http(rpcUrl);
    const publicClient = createPublicClient({ chain: hardhat, transport, pollingInterval: 50 });
    const deployer = createWalletClient({ account: privateKeyToAccount(hardhatDeployerKey), chain: hardhat, transport });
    const relayer = privateKeyToAccount(hardhatRelayerKey).address;
    const { deployment } = await deployAgentTab({ publicClient, walletClient: deployer }, { relayer });
    const deploymentsDir = path.join(root, "deployments");
    await mkdir(deploymentsDir);
    await writeFile(path.join(deploymentsDir, `${deployment.chainId}.json`), serializeDeployment(deployment));
    log(`contracts deployed: MockUSDC ${deployment.usdc}, escrow ${deployment.escrow}, reputation ${deployment.reputation}`);

    const suffix = randomBytes(4).toString("hex");
    const viewsSchema = `agenttab_chain_${suffix}`;
    const indexer: IndexerProcess = await startIndexer({
      databaseUrl: db.url,
      schema: `agenttab_indexer_${suffix}`,
      viewsSchema,
      rpcUrl,
      chainId: deployment.chainId,
      deploymentsDir,
      port: indexerPort ?? (await freePort()),
      readyTimeoutMs: 120_000,
    });
    stops.push(() => indexer.stop());
    log(`indexer ready at ${indexer.url} (pid ${indexer.pid})`);

    const app = await buildApp(
      {
        ...defaultApiConfig,
        allowPrivateUpstreams: true,
        chainHeadPollMs: 100,
        port: apiPort ?? 0,
        databaseUrl: db.url,
        chainViewsSchema: viewsSchema,
        rpcUrl,
        deployment,
        receiptSignerKey: hardhatDeployerKey,
        relayerKey: hardhatRelayerKey,
      },
      // On stop, requests in flight (a story cut short by Ctrl-C) are cut rather than waited for.
      { logger: false, forceCloseConnections: true },
    );
    stops.push(() => app.close());
    await app.listen({ host: "127.0.0.1", port: apiPort ?? 0 });
    const apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    log(`API listening on ${apiUrl}`);

    const mined = async (hash: Hash | Promise<Hash>) => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
      if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
      return receipt;
    };
    return {
      rpcUrl,
      apiUrl,
      indexerUrl: indexer.url,
      databaseUrl: db.url,
      deployment,
      app,
      publicClient: publicClient as PublicClient,
      deployer,
      fundGas: async (address) => {
        await publicClient.request({ method: "hardhat_setBalance" as never, params: [address, "0x56BC75E2D63100000"] as never });
      },
      mined,
      mint: (to, amount) => mined(deployer.writeContract({ address: deployment.usdc, abi: mockUsdcAbi, functionName: "mint", args: [to, amount] })),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
