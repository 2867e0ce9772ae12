/**
 * Starts the AgentTab API (`startServer` of @agenttab/api) with this repository's defaults for
 * local development: `npm run api`. Configuration from the environment:
 *
 *   DATABASE_URL            PostgreSQL (default: an embedded one in .data/postgres)
 *   AGENTTAB_CHAIN_ID       default 31337; the deployment record is deployments/<id>.json
 *   AGENTTAB_RPC_URL        default http://127.0.0.1:8545
 *   AGENTTAB_VIEWS_SCHEMA   the indexer's views schema (default agenttab_chain)
 *   RECEIPT_SIGNER_KEY      the proxy's receipt key (default on 31337: Hardhat account #0); or
 *   RECEIPT_SIGNER_KEYSTORE a V3 keystore file, password in RECEIPT_SIGNER_KEYSTORE_PASSWORD
 *   RELAYER_KEY (or RELAYER_KEYSTORE + RELAYER_KEYSTORE_PASSWORD) sends relayed gasless deposits and settles x402 `exact` payments (default
 *                           on 31337: Hardhat account #1, granted EXACT_PAYMENT_ROLE by the deploy script; unset elsewhere = neither offered)
 *   AGENTTAB_ALLOW_PRIVATE_UPSTREAMS=1  forward to upstreams on loopback and private addresses (local development
 *                           with services on this machine); honoured on the local chain (31337) only, refused elsewhere
 *   HOST, PORT              default 127.0.0.1:8787
 *
 * With none of DATABASE_URL, AGENTTAB_RPC_URL, AGENTTAB_CHAIN_ID and AGENTTAB_DEPLOYMENTS_DIR set, a
 * running `npm start` stack (.data/local-stack.json) supplies them, its views schema and
 * AGENTTAB_ALLOW_PRIVATE_UPSTREAMS=1.
 *
 * `npm run api` runs it as `node --max-semi-space-size=16 --max-old-space-size=256 scripts/api.ts`:
 * V8's young generation capped at 2 × 16 MiB (Node 24 lets it grow to 2 × 64 MiB) and its old
 * generation at 256 MiB, about 4× the proxy's live heap, so that V8 collects it near its live size
 * instead of letting it grow to ~3× first. Start it with the same flags anywhere else;
 * `npm run bench:soak` reads them from package.json (docs/RELIABILITY.md, "Load and soak").
 */
import path from "node:path";

import { defaultApiConfig, startServer } from "@agenttab/api";
import { openDatabase } from "@agenttab/ledger/embedded";
import { readDeployment } from "@agenttab/sdk";

import { hardhatDeployerKey, hardhatRelayerKey } from "./lib/deployConfig.ts";
import { keyFromEnv } from "./lib/keys.ts";
import { attachedLine, withLocalStack } from "./lib/localStackFile.ts";

const root = path.join(import.meta.dirname, "..");
const env = withLocalStack(process.env, { root, onAttach: (file, record) => console.error(attachedLine(file, record)) });
const chainId = Number(env.AGENTTAB_CHAIN_ID ?? 31337);
const deployment = await readDeployment(chainId, { dir: env.AGENTTAB_DEPLOYMENTS_DIR ?? path.join(root, "deployments") });
const local = chainId === 31337;
const receiptSignerKey = (await keyFromEnv(env, { keyVariable: "RECEIPT_SIGNER_KEY", keystoreVariable: "RECEIPT_SIGNER_KEYSTORE" })) ?? (local ? hardhatDeployerKey : undefined);
if (receiptSignerKey === undefined) throw new Error("RECEIPT_SIGNER_KEY (or RECEIPT_SIGNER_KEYSTORE) is required outside the local chain");
const relayerKey = (await keyFromEnv(env, { keyVariable: "RELAYER_KEY", keystoreVariable: "RELAYER_KEYSTORE" })) ?? (local ? hardhatRelayerKey : undefined);
const allowPrivateUpstreams = env.AGENTTAB_ALLOW_PRIVATE_UPSTREAMS === "1" || env.AGENTTAB_ALLOW_PRIVATE_UPSTREAMS === "true";
if (allowPrivateUpstreams && !local) throw new Error("AGENTTAB_ALLOW_PRIVATE_UPSTREAMS is for the local chain (31337) only: the proxy never calls private addresses in production");
const db = await openDatabase({ env, dataDir: path.join(root, ".data", "postgres") });

await startServer(
  {
    ...defaultApiConfig,
    host: env.HOST ?? defaultApiConfig.host,
    port: Number(env.PORT ?? defaultApiConfig.port),
    chainViewsSchema: env.AGENTTAB_VIEWS_SCHEMA ?? defaultApiConfig.chainViewsSchema,
    databaseUrl: db.url,
    rpcUrl: env.AGENTTAB_RPC_URL ?? "http://127.0.0.1:8545",
    deployment,
    receiptSignerKey,
    allowPrivateUpstreams,
    ...(relayerKey === undefined ? {} : { relayerKey }),
    ...(env.AGENTTAB_PUBLIC_URL === undefined ? {} : { publicUrl: env.AGENTTAB_PUBLIC_URL }),
  },
  { logger: { level: env.LOG_LEVEL ?? "info" }, onClose: () => db.stop() },
);
