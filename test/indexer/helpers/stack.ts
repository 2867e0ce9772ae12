import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import postgres from "postgres";
import { createPublicClient, createWalletClient, http } from "viem";
import type { Hash, LocalAccount, TransactionReceipt } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { startIndexer } from "../../../indexer/process.ts";
import type { IndexerProcess } from "../../../indexer/process.ts";
import type { ChainStateReader } from "../../../indexer/read/index.ts";
import { deployAgentTab } from "../../../scripts/lib/deployAgentTab.ts";
import { hardhatDeployerKey, hardhatRelayerKey } from "../../../scripts/lib/deployConfig.ts";
import { localUsdcIssuer } from "../../../scripts/lib/localUsdc.ts";
import { freePort, openDatabase } from "@agenttab/ledger/embedded";
import { serializeDeployment } from "@agenttab/sdk";

/**
 * The real parts the indexer runs on: PostgreSQL (embedded unless DATABASE_URL is set), a Hardhat
 * JSON-RPC server on 127.0.0.1 with AgentTab deployed, and `ponder start` following it.
 */
export type IndexerStack = Awaited<ReturnType<typeof startIndexerStack>>;

export async function startIndexerStack() {
  const root = await mkdtemp(path.join(tmpdir(), "agenttab-indexer-"));
  await chmod(root, 0o755);
  // The server's own log, kept for failure messages (a restart that does not come back, say).
  const databaseLog: string[] = [];
  const db = await openDatabase({
    env: process.env,
    dataDir: path.join(root, "postgres"),
    log: (line) => {
      databaseLog.push(line.endsWith("\n") ? line : `${line}\n`);
      if (databaseLog.length > 200) databaseLog.shift();
    },
  });
  const server = await network.createServer("default", "127.0.0.1", 0);
  const { port } = await server.listen();
  const rpcUrl = `http://127.0.0.1:${port}`;
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain: hardhat, transport, pollingInterval: 20 });
  const deployer = createWalletClient({ account: privateKeyToAccount(hardhatDeployerKey), chain: hardhat, transport });
  const { deployment } = await deployAgentTab({ publicClient, walletClient: deployer }, { relayer: privateKeyToAccount(hardhatRelayerKey).address });
  const deploymentsDir = path.join(root, "deployments");
  await mkdir(deploymentsDir);
  await writeFile(path.join(deploymentsDir, `${deployment.chainId}.json`), serializeDeployment(deployment));

  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  const suffix = randomBytes(4).toString("hex");
  const indexerOptions = {
    databaseUrl: db.url,
    schema: `agenttab_indexer_${suffix}`,
    viewsSchema: `agenttab_chain_${suffix}`,
    rpcUrl,
    chainId: deployment.chainId,
    deploymentsDir,
    port: await freePort(),
  };
  let indexer: IndexerProcess = await startIndexer(indexerOptions);
  const reader: ChainStateReader = { sql, viewsSchema: indexerOptions.viewsSchema };

  const mined = async (hash: Hash | Promise<Hash>): Promise<TransactionReceipt> => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return receipt;
  };

  /** A wallet for `account` with ETH for gas. */
  const walletFor = async (account: LocalAccount) => {
    await publicClient.request({ method: "hardhat_setBalance" as never, params: [account.address, "0x56BC75E2D63100000"] as never });
    return createWalletClient({ account, chain: hardhat, transport });
  };

  /** The local FiatToken's issuer (Hardhat #8): mints to fund accounts, blacklists. */
  const usdcIssuer = localUsdcIssuer({ publicClient, usdc: deployment.usdc });
  const mint = (to: `0x${string}`, amount: bigint) => usdcIssuer.mint(to, amount);

  /**
   * Polls `read` until `done` holds, returning the value and how long it took. The default deadline
   * is generous: it only costs time on a real failure, and a loaded machine can starve Ponder.
   */
  const waitFor = async <T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000) => {
    const started = performance.now();
    for (;;) {
      const value = await read();
      if (done(value)) return { value, ms: performance.now() - started };
      if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms; last value ${String(value)}\n${indexer.output().slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  return {
    deployment,
    databaseUrl: db.url,
    rpcUrl,
    publicClient,
    deployer,
    reader,
    sql,
    mined,
    walletFor,
    mint,
    usdcIssuer,
    waitFor,
    get indexer() {
      return indexer;
    },
    /** Stops the indexer (gracefully, or as a crash) and starts it again on the same schema. */
    async restartIndexer({ signal = "SIGTERM", whileDown }: { signal?: "SIGTERM" | "SIGKILL"; whileDown?: () => Promise<void> } = {}) {
      await indexer.stop(signal);
      await whileDown?.();
      indexer = await startIndexer({ ...indexerOptions, readyTimeoutMs: 90_000 });
    },
    /** The embedded PostgreSQL's recent log lines (empty with an external DATABASE_URL). */
    databaseLog: () => databaseLog.join(""),
    /**
     * Stops the embedded PostgreSQL and starts it again (same data, same port), running
     * `whileDown` in between. Throws with an external DATABASE_URL, which this stack cannot restart.
     */
    async restartDatabase({ whileDown }: { whileDown?: () => Promise<void> } = {}) {
      if (db.restart === undefined) throw new Error("restartDatabase needs the embedded PostgreSQL (DATABASE_URL is set)");
      await db.restart(whileDown ? { whileDown } : {});
    },
    async stop() {
      await indexer.stop();
      await sql.end();
      await server.close();
      await db.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
