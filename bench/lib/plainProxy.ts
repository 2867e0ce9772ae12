/**
 * The benchmark's baseline, as its own process: a minimal, unpaid Fastify reverse proxy that
 * forwards every request to one upstream with undici, streaming both ways and dropping hop-by-hop
 * headers, i.e. the paid proxy's forwarding without payment, ledger or receipts. Receives
 * `{ type: "start", upstreamUrl }` over IPC and reports its URL; `{ type: "stop" }` exits.
 */
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";

import Fastify from "fastify";
import type { FastifyInstance } from "fastify";

import { answerMeasurements } from "./childControl.ts";

// The API's own undici (api/package.json pins it), so that both proxies forward with the same client.
const undici = createRequire(new URL("../../api/package.json", import.meta.url))("undici") as typeof import("undici");

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];
const STRIPPED_REQUEST_HEADERS = new Set([...HOP_BY_HOP, "host", "content-length"]);
const STRIPPED_RESPONSE_HEADERS = new Set(HOP_BY_HOP);
const TIMEOUT_MS = 15_000;

export async function startPlainProxy(upstreamUrl: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
  const base = new URL(upstreamUrl);
  app.route({
    method: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    url: "/*",
    handler: async (request, reply) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined && !STRIPPED_REQUEST_HEADERS.has(name)) headers[name] = value;
      }
      headers["x-forwarded-for"] = request.ip;
      const upstream = await undici.request(new URL(request.url, base), {
        method: request.method as "GET",
        headers,
        body: request.body === undefined || request.body === null ? null : (request.body as never),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      for (const [name, value] of Object.entries(upstream.headers)) {
        if (value !== undefined && !STRIPPED_RESPONSE_HEADERS.has(name)) reply.header(name, value);
      }
      reply.status(upstream.statusCode);
      return reply.send(upstream.body);
    },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return app;
}

let app: FastifyInstance | undefined;
process.on("message", (message: { type: "start"; upstreamUrl: string } | { type: "stop" }) => {
  if (message.type === "start") {
    startPlainProxy(message.upstreamUrl).then(
      (started) => {
        app = started;
        process.send?.({ type: "listening", url: `http://127.0.0.1:${(started.server.address() as AddressInfo).port}` });
      },
      (error: unknown) => process.send?.({ type: "error", message: String((error as Error)?.stack ?? error) }),
    );
  } else if (message.type === "stop") {
    void (app?.close() ?? Promise.resolve()).finally(() => process.exit(0));
  }
});
process.on("disconnect", () => void (app?.close() ?? Promise.resolve()).finally(() => process.exit(0)));
answerMeasurements();
process.send?.({ type: "ready" });
