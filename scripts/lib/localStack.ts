import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import type { FastifyInstance } from "fastify";
import { network } from "hardhat";
import { createPublicClient, createWalletClient, http } from "viem";
import type { Account, Chain, Hash, PublicClient, TransactionReceipt, Transport, WalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { buildApp, defaultApiConfig } from "@agenttab/api";
import { freePort, openDatabase } from "@agenttab/ledger/embedded";
import { serializeDeployment } from "@agenttab/sdk";
import type { Deployment } from "@agenttab/sdk";

import { startIndexer } from "../../indexer/process.ts";
import type { IndexerProcess } from "../../indexer/process.ts";
import { deployAgentTab } from "./deployAgentTab.ts";
import { hardhatDeployerKey, hardhatRelayerKey } from "./deployConfig.ts";
import { localUsdcIssuer } from "./localUsdc.ts";

const STOP_STEP_MS = 20_000;
const KILL_GRACE_MS = 3_000;

/** Where the local stack listens; a port left out is picked free. */
export type LocalStackOptions = {
  chainPort?: number;
  apiPort?: number;
  indexerPort?: number;
  /** Progress lines ("postgres ready", …). */
  log?: (line: string) => void;
  /**
   * Aborting it stops everything started so far (or the whole stack, once started) and makes a
   * start in progress reject as soon as that is done.
   */
  signal?: AbortSignal;
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
  /** Mints USDC from the local FiatToken's issuer (Hardhat #8, its minter). */
  mint: (to: `0x${string}`, amount: bigint) => Promise<TransactionReceipt>;
  /**
   * Stops everything it started, in reverse order, then kills whatever process of the stack is still
   * alive (its children and theirs) and removes its temporary folder; safe to call twice.
   */
  stop: () => Promise<void>;
  /** The stack's temporary folder (data, deployments). */
  root: string;
  /** The indexer's views schema, for the API, the settlement and the watchtower. */
  viewsSchema: string;
  /** Where the deployment artifact (`<chainId>.json`) is. */
  deploymentsDir: string;
};

/**
 * Starts AgentTab locally from nothing: a fresh embedded PostgreSQL in a temporary folder, a
 * Hardhat JSON-RPC node with Circle's FiatToken (USDC as on Base), the escrow and the reputation contract deployed (the API's
 * relayer holding the exact-payment role), the Ponder indexer, and the API — all on 127.0.0.1. What
 * `npm run demo` and `npm start` run on. A failure part-way stops what had started.
 *
 * @example
 * const stack = await startLocalStack({ apiPort: 8787, chainPort: 8545, log: console.log });
 * // … http://127.0.0.1:8787/v1/services …
 * await stack.stop();
 */
export async function startLocalStack({ chainPort, apiPort, indexerPort, log = () => {}, signal }: LocalStackOptions = {}): Promise<LocalStack> {
  signal?.throwIfAborted();
  const root = await mkdtemp(path.join(tmpdir(), "agenttab-local-"));
  await chmod(root, 0o755);
  const stops: (() => Promise<void>)[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      // A step that hangs (a child already killed by a terminal's Ctrl-C, say) must not hold up the rest.
      for (const step of stops.reverse()) await Promise.race([step().catch(() => {}), new Promise((resolve) => setTimeout(resolve, STOP_STEP_MS).unref())]);
      // A signal part-way through a step (initdb running, Ponder not yet ready) leaves processes no
      // step knows about yet.
      await killStackProcesses(root);
      await rm(root, { recursive: true, force: true });
    })();
    return stopped;
  };
  // Every step races the abort: a step in flight (Ponder catching up) is not waited for.
  const aborted = new Promise<never>((_, reject) => {
    signal?.addEventListener("abort", () => void stop().then(() => reject(signal.reason as Error)), { once: true });
  });
  aborted.catch(() => {});
  const step = async <T>(work: Promise<T>): Promise<T> => {
    const result = await Promise.race([work, aborted]);
    signal?.throwIfAborted();
    return result;
  };

  try {
    // The demo always runs on its own embedded database: a fresh chain needs a fresh ledger.
    const db = await step(openDatabase({ env: {}, dataDir: path.join(root, "postgres") }));
    stops.push(db.stop);
    log(`postgres ready (embedded, data in ${root})`);

    const server = await step(network.createServer("default", "127.0.0.1", chainPort ?? 0));
    stops.push(() => server.close());
    const { port } = await step(server.listen());
    const rpcUrl = `http://127.0.0.1:${port}`;
    log(`hardhat node listening on ${rpcUrl} (chain id 31337)`);

    const transport = http(rpcUrl);
    const publicClient = createPublicClient({ chain: hardhat, transport, pollingInterval: 50 });
    const deployer = createWalletClient({ account: privateKeyToAccount(hardhatDeployerKey), chain: hardhat, transport });
    const relayer = privateKeyToAccount(hardhatRelayerKey).address;
    const { deployment } = await step(deployAgentTab({ publicClient, walletClient: deployer }, { relayer }));
    const deploymentsDir = path.join(root, "deployments");
    await mkdir(deploymentsDir);
    await writeFile(path.join(deploymentsDir, `${deployment.chainId}.json`), serializeDeployment(deployment));
    log(`contracts deployed: USDC (FiatToken v2.2) ${deployment.usdc}, escrow ${deployment.escrow}, reputation ${deployment.reputation}`);

    const suffix = randomBytes(4).toString("hex");
    const viewsSchema = `agenttab_chain_${suffix}`;
    const indexer: IndexerProcess = await step(startIndexer({
      databaseUrl: db.url,
      schema: `agenttab_indexer_${suffix}`,
      viewsSchema,
      rpcUrl,
      chainId: deployment.chainId,
      deploymentsDir,
      port: indexerPort ?? (await freePort()),
      readyTimeoutMs: 120_000,
    }));
    stops.push(() => indexer.stop());
    log(`indexer ready at ${indexer.url} (pid ${indexer.pid})`);

    const app = await step(buildApp(
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
    ));
    stops.push(() => app.close());
    await step(app.listen({ host: "127.0.0.1", port: apiPort ?? 0 }));
    const apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    log(`API listening on ${apiUrl}`);

    const usdcIssuer = localUsdcIssuer({ publicClient: publicClient as PublicClient, usdc: deployment.usdc });
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
      mint: (to, amount) => usdcIssuer.mint(to, amount),
      stop,
      root,
      viewsSchema,
      deploymentsDir,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Kills the processes of the stack rooted at `root` that are still alive: this process's
 * descendants whose command line or environment names the folder (initdb and postgres get it as
 * their data directory, Ponder as its deployments folder), and everything below them (postgres
 * backends, Ponder's esbuild). SIGTERM, then SIGKILL for whatever is left after a grace period.
 */
async function killStackProcesses(root: string): Promise<void> {
  const found = await stackProcesses(root);
  if (found.length === 0) return;
  for (const pid of found) signalProcess(pid, "SIGTERM");
  const deadline = Date.now() + KILL_GRACE_MS;
  while (Date.now() < deadline && found.some(isAlive)) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const pid of found.filter(isAlive)) signalProcess(pid, "SIGKILL");
}

async function stackProcesses(root: string): Promise<number[]> {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = (await readdir("/proc")).filter((name) => /^[0-9]+$/.test(name));
  } catch {
    return []; // no /proc: the orderly steps are all there is
  }
  for (const name of entries) {
    try {
      const stat = await readFile(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // exited while we looked
    }
  }
  const below = (pid: number): number[] => (children.get(pid) ?? []).flatMap((child) => [child, ...below(child)]);
  const names = async (pid: number) => {
    const read = (file: string) => readFile(`/proc/${pid}/${file}`, "utf8").catch(() => "");
    return (await read("cmdline")).includes(root) || (await read("environ")).includes(root);
  };
  const found = new Set<number>();
  for (const pid of below(process.pid)) {
    if (found.has(pid) || !(await names(pid))) continue;
    for (const member of [pid, ...below(pid)]) found.add(member);
  }
  return [...found];
}

/** Running (a zombie waiting for its parent to reap it is not). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
