import Fastify from "fastify";
import type { FastifyInstance, FastifyServerOptions } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";

import type { ApiConfig } from "./config.ts";
import chainState from "./plugins/chainState.ts";
import db from "./plugins/db.ts";
import docs from "./plugins/docs.ts";
import errors from "./plugins/errors.ts";
import metrics from "./plugins/metrics.ts";
import relayer from "./plugins/relayer.ts";
import sweeper from "./plugins/sweeper.ts";
import health from "./routes/health.ts";
import { paymentOffers } from "./paidCall/pipeline.ts";
import discovery from "./routes/discovery.ts";
import proxy, { paidCallMethods } from "./routes/proxy.ts";

declare module "fastify" {
  interface FastifyInstance {
    config: ApiConfig;
  }
}

/**
 * Builds the AgentTab API as a Fastify app (not listening): external plugins (errors, db, chain
 * state), then routes. `server.ts` starts it; tests `inject` into it or listen on 127.0.0.1.
 *
 * @example
 * const app = await buildApp(config, { logger: false });
 * const res = await app.inject({ method: "GET", url: "/healthz" });
 */
export async function buildApp(config: ApiConfig, options: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: config.maxBodyBytes,
    // Keeps one slow client from holding a connection open forever.
    requestTimeout: config.upstreamTimeoutMs + 10_000,
    routerOptions: { maxParamLength: 512 },
    ...options,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate("config", config);
  await app.register(errors);
  await app.register(docs);
  await app.register(metrics);
  await app.register(db, { databaseUrl: config.databaseUrl });
  await app.register(chainState, {
    rpcUrl: config.rpcUrl,
    chainId: config.deployment.chainId,
    escrow: config.deployment.escrow,
    initialFeeBps: config.deployment.feeBps,
    viewsSchema: config.chainViewsSchema,
    maxLagBlocks: config.maxIndexerLagBlocks,
    pollMs: config.chainHeadPollMs,
    ...(config.maxChainHeadAgeMs === undefined ? {} : { maxHeadAgeMs: config.maxChainHeadAgeMs }),
  });
  await app.register(relayer, { rpcUrl: config.rpcUrl, chainId: config.deployment.chainId, key: config.relayerKey });
  await app.register(sweeper);
  await app.register(health);
  await app.register(import("./routes/network.ts"));
  const paidCalls = paidCallMethods(app);
  await app.register(proxy, paidCalls);
  await app.register(discovery, { offers: paymentOffers(paidCalls.methods) });
  await app.register(import("./routes/services.ts"));
  await app.register(import("./routes/accounts.ts"));
  await app.register(import("./routes/teams.ts"));
  await app.register(import("./routes/deposits.ts"));
  return app;
}
