import type { FastifyInstance, FastifyServerOptions } from "fastify";

import { buildApp } from "./app.ts";
import type { ApiConfig } from "./config.ts";

/**
 * Builds the app on `config`, listens on its host and port, and closes it on SIGINT or SIGTERM,
 * then exits. `onClose` runs when the app closes (after the ledger's pool): to stop what the
 * caller started for it, an embedded database say.
 *
 * @example
 * const app = await startServer({ ...defaultApiConfig, databaseUrl, rpcUrl, deployment, receiptSignerKey }, { logger: { level: "info" } });
 */
export async function startServer(
  config: ApiConfig,
  { onClose, ...options }: FastifyServerOptions & { onClose?: () => Promise<void> } = {},
): Promise<FastifyInstance> {
  const app = await buildApp(config, options);
  if (onClose) app.addHook("onClose", onClose);
  await app.listen({ host: app.config.host, port: app.config.port });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void app.close().then(() => process.exit(0));
    });
  }
  return app;
}
