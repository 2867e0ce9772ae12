/**
 * The AgentTab API (the paid proxy) as its own process for the benchmark, so that nothing else
 * shares its event loop: receives `{ type: "start", config }` (an ApiConfig) over IPC, builds the
 * real app with `buildApp`, listens on 127.0.0.1:0 and reports its URL; `{ type: "stop" }` closes
 * it and exits normally (which is when `--cpu-prof` writes its profile).
 */
import type { AddressInfo } from "node:net";

import type { FastifyInstance } from "fastify";

import { buildApp } from "../../api/src/app.ts";
import type { ApiConfig } from "../../api/src/config.ts";

import { answerMeasurements } from "./childControl.ts";

let app: FastifyInstance | undefined;

process.on("message", (message: { type: "start"; config: ApiConfig } | { type: "stop" }) => {
  if (message.type === "start") {
    void (async () => {
      try {
        app = await buildApp(message.config, { logger: false });
        await app.listen({ host: "127.0.0.1", port: 0 });
        process.send?.({ type: "listening", url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
      } catch (error) {
        process.send?.({ type: "error", message: String((error as Error)?.stack ?? error) });
      }
    })();
  } else if (message.type === "stop") {
    void (async () => {
      await app?.close();
      process.exit(0);
    })();
  }
});
process.on("disconnect", () => void app?.close().finally(() => process.exit(0)));
answerMeasurements();
process.send?.({ type: "ready" });
