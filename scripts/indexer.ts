/**
 * Runs the indexer against a chain: `npm run indexer` (local node and deployments/31337.json by
 * default). Uses DATABASE_URL, or starts an embedded PostgreSQL with its data in .data/postgres; with
 * no placement variable set, the database, chain and deployments of a running `npm start`
 * (.data/local-stack.json), in schemas of its own (--schema, --views-schema).
 * Ctrl-C stops both.
 *
 *   --rpc URL            JSON-RPC endpoint (AGENTTAB_RPC_URL, default http://127.0.0.1:8545)
 *   --chain-id N         (AGENTTAB_CHAIN_ID, default 31337)
 *   --schema NAME        Ponder's own tables (default agenttab_indexer)
 *   --views-schema NAME  the views the API reads (default agenttab_chain)
 *   --port N             Ponder's HTTP server on 127.0.0.1 (default 42069)
 *   --reset              drop the schema first (needed after the indexer's code changed, or after
 *                        the local chain restarted)
 */
import path from "node:path";
import { parseArgs } from "node:util";

import postgres from "postgres";

import { openDatabase } from "@agenttab/ledger/embedded";

import { startIndexer } from "../indexer/process.ts";
import { attachedLine, withLocalStack } from "./lib/localStackFile.ts";

const { values } = parseArgs({
  options: {
    rpc: { type: "string" },
    "chain-id": { type: "string" },
    schema: { type: "string", default: "agenttab_indexer" },
    "views-schema": { type: "string", default: "agenttab_chain" },
    port: { type: "string", default: "42069" },
    reset: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("Usage: npm run indexer -- [--rpc URL] [--chain-id N] [--schema NAME] [--views-schema NAME] [--port N] [--reset]");
  process.exit(0);
}

const root = path.join(import.meta.dirname, "..");
const env = withLocalStack(process.env, { root, onAttach: (file, record) => console.error(attachedLine(file, record)) });
const db = await openDatabase({ env, dataDir: path.join(root, ".data", "postgres") });
if (values.reset) {
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await sql`DROP SCHEMA IF EXISTS ${sql(values.schema)} CASCADE`;
  await sql`DROP SCHEMA IF EXISTS ${sql(values["views-schema"])} CASCADE`;
  await sql.end();
}
const indexer = await startIndexer({
  databaseUrl: db.url,
  schema: values.schema,
  viewsSchema: values["views-schema"],
  rpcUrl: values.rpc ?? env.AGENTTAB_RPC_URL ?? "http://127.0.0.1:8545",
  chainId: Number(values["chain-id"] ?? env.AGENTTAB_CHAIN_ID ?? 31337),
  deploymentsDir: env.AGENTTAB_DEPLOYMENTS_DIR ?? path.join(root, "deployments"),
  port: Number(values.port),
  readyTimeoutMs: 120_000,
}).catch(async (error: unknown) => {
  await db.stop();
  console.error(String((error as Error).message ?? error));
  process.exit(1);
});
console.log(`indexer ready at ${indexer.url} (pid ${indexer.pid}); views in schema "${values["views-schema"]}" of ${db.url}`);

const shutdown = async () => {
  await indexer.stop();
  await db.stop();
  process.exit(0);
};
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);
