import http from "node:http";
import type { AddressInfo } from "node:net";

import type { FastifyInstance, FastifyServerOptions } from "fastify";

import { buildApp } from "../../../api/src/app.ts";
import { defaultApiConfig } from "../../../api/src/config.ts";
import type { ApiConfigOverrides } from "../../../api/src/config.ts";
import { hardhatDeployerKey, hardhatRelayerKey } from "../../../scripts/lib/deployConfig.ts";
import { startIndexerStack } from "../../indexer/helpers/stack.ts";

/**
 * The whole running system for API tests: embedded PostgreSQL, a Hardhat JSON-RPC server with
 * AgentTab deployed, the Ponder indexer, and the real API app on the same database (not listening;
 * use `app.inject`, or `listen` for real sockets).
 */
export type ApiStack = Awaited<ReturnType<typeof startApiStack>>;

export async function startApiStack(overrides: ApiConfigOverrides = {}, serverOptions: FastifyServerOptions = { logger: false }) {
  const chain = await startIndexerStack();
  const app = await buildStackApp(chain, overrides, serverOptions);
  return {
    chain,
    app,
    async stop() {
      await app.close();
      await chain.stop();
    },
  };
}

/**
 * One more API instance on a running stack's ledger database and chain index, as a second proxy
 * process would be in production (ready, not listening; the caller closes it).
 */
export async function buildStackApp(
  chain: ApiStack["chain"],
  overrides: ApiConfigOverrides = {},
  serverOptions: FastifyServerOptions = { logger: false },
): Promise<FastifyInstance> {
  const app: FastifyInstance = await buildApp(
    {
      ...defaultApiConfig,
      chainHeadPollMs: 50,
      allowPrivateUpstreams: true,
      relayerKey: hardhatRelayerKey,
      ...overrides,
      databaseUrl: chain.databaseUrl,
      chainViewsSchema: chain.reader.viewsSchema,
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      receiptSignerKey: hardhatDeployerKey,
    },
    serverOptions,
  );
  await app.ready();
  return app;
}

/** A real HTTP upstream on 127.0.0.1 for tests; `handler` decides each response. */
export async function startUpstream(handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
