import { readFileSync } from "node:fs";
import path from "node:path";

import { parseDeployment } from "@agenttab/sdk";
import type { Deployment } from "@agenttab/sdk";

/** What the indexer needs to know, from the environment and the deployment record. */
export type IndexerSettings = {
  chainId: number;
  rpcUrl: string;
  pollingIntervalMs: number;
  databaseUrl: string | undefined;
  deployment: Deployment;
};

/**
 * Reads the indexer's settings: `AGENTTAB_CHAIN_ID` (default 31337), `AGENTTAB_RPC_URL` (default
 * the local node), `AGENTTAB_DEPLOYMENTS_DIR` (default ../deployments, holding `<chainId>.json`),
 * `AGENTTAB_POLLING_INTERVAL_MS` (default 100 on the local chain, 1000 elsewhere), `DATABASE_URL`.
 *
 * @example
 * const { deployment } = loadIndexerSettings(process.env);
 */
export function loadIndexerSettings(env: Record<string, string | undefined>): IndexerSettings {
  const chainId = Number(env.AGENTTAB_CHAIN_ID ?? 31337);
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new Error(`AGENTTAB_CHAIN_ID is not a chain id: ${env.AGENTTAB_CHAIN_ID}`);
  const dir = env.AGENTTAB_DEPLOYMENTS_DIR ?? path.join(import.meta.dirname, "..", "deployments");
  const file = path.join(dir, `${chainId}.json`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new Error(`No deployment record at ${file}: run \`npm run deploy\` first, or set AGENTTAB_DEPLOYMENTS_DIR`);
  }
  const deployment = parseDeployment(JSON.parse(text));
  if (deployment.chainId !== chainId) throw new Error(`${file} is for chain ${deployment.chainId}, not ${chainId}`);
  return {
    chainId,
    rpcUrl: env.AGENTTAB_RPC_URL ?? "http://127.0.0.1:8545",
    pollingIntervalMs: Number(env.AGENTTAB_POLLING_INTERVAL_MS ?? (chainId === 31337 ? 100 : 1_000)),
    databaseUrl: env.DATABASE_URL,
    deployment,
  };
}
