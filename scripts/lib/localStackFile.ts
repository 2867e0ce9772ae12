import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** What `npm start` records for other commands to attach to it. */
export type LocalStackRecord = {
  /** The `npm start` process; a record whose process is gone is stale. */
  pid: number;
  apiUrl: string;
  rpcUrl: string;
  indexerUrl: string;
  databaseUrl: string;
  chainId: number;
  deploymentsDir: string;
  viewsSchema: string;
};

/** `.data/local-stack.json` under the repository `root`, or AGENTTAB_LOCAL_STACK_FILE (tests running several stacks at once). */
export function localStackFile(root: string): string {
  return process.env.AGENTTAB_LOCAL_STACK_FILE || path.join(root, ".data", "local-stack.json");
}

/**
 * Records a running local stack so that `npm run settle`, `payout`, `api` and `indexer` find it
 * without hand-set variables. Returns a function that removes the record (only if it is still ours).
 *
 * @example
 * const forget = await recordLocalStack(root, { pid: process.pid, apiUrl, rpcUrl, … });
 * // … on stop:
 * await forget();
 */
export async function recordLocalStack(root: string, record: LocalStackRecord): Promise<() => Promise<void>> {
  const file = localStackFile(root);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
  return async () => {
    if (readLocalStack(root)?.pid === record.pid) await rm(file, { force: true });
  };
}

/** The record of a live local stack, or undefined (none, unreadable, or its process gone). */
export function readLocalStack(root: string): LocalStackRecord | undefined {
  let record: LocalStackRecord;
  try {
    record = JSON.parse(readFileSync(localStackFile(root), "utf8")) as LocalStackRecord;
    process.kill(record.pid, 0);
  } catch {
    return undefined;
  }
  return record;
}

/** The line a command prints when it attaches to a recorded stack. */
export function attachedLine(file: string, record: LocalStackRecord): string {
  return `attached to the local stack of \`npm start\` (pid ${record.pid}) recorded in ${file}`;
}

/** The variables a command that says where to go sets; any one of them set means "not the local stack". */
const PLACEMENT_VARIABLES = ["DATABASE_URL", "AGENTTAB_RPC_URL", "AGENTTAB_CHAIN_ID", "AGENTTAB_DEPLOYMENTS_DIR"] as const;

/**
 * `env`, completed from the running `npm start` stack's record when `env` names no place of its own
 * (none of DATABASE_URL, AGENTTAB_RPC_URL, AGENTTAB_CHAIN_ID, AGENTTAB_DEPLOYMENTS_DIR): the
 * database, RPC, API, deployments folder and views schema of that stack, and
 * AGENTTAB_ALLOW_PRIVATE_UPSTREAMS=1 (its demo providers listen on loopback). A variable already set
 * wins. `onAttach` hears which record was used.
 *
 * @example
 * const env = withLocalStack(process.env, { root, onAttach: (file) => console.error(`using the local stack recorded in ${file}`) });
 */
export function withLocalStack(
  env: Record<string, string | undefined>,
  { root, onAttach = () => {} }: { root: string; onAttach?: (file: string, record: LocalStackRecord) => void },
): Record<string, string | undefined> {
  if (PLACEMENT_VARIABLES.some((name) => env[name])) return env;
  const record = readLocalStack(root);
  if (record === undefined) return env;
  onAttach(localStackFile(root), record);
  return {
    DATABASE_URL: record.databaseUrl,
    AGENTTAB_RPC_URL: record.rpcUrl,
    AGENTTAB_API_URL: record.apiUrl,
    AGENTTAB_CHAIN_ID: String(record.chainId),
    AGENTTAB_DEPLOYMENTS_DIR: record.deploymentsDir,
    AGENTTAB_VIEWS_SCHEMA: record.viewsSchema,
    AGENTTAB_ALLOW_PRIVATE_UPSTREAMS: "1",
    ...Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== "")),
  };
}
