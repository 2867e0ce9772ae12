import http from "node:http";
import type { AddressInfo } from "node:net";

/** What a demo provider's handler sees of a request. */
export type JsonRequest = { method: string; url: URL; body: unknown };
/** What it answers: a status, a JSON body, and optional headers (e.g. metered usage). */
export type JsonResponse = { status?: number; body: unknown; headers?: Record<string, string> };

/** A running demo provider. */
export type ProviderServer = { url: string; close: () => Promise<void> };

const MAX_BODY = 64 * 1024;

/**
 * A small real HTTP server on 127.0.0.1 answering JSON: the demo's provider services sit behind
 * the proxy exactly as a provider's real API would. A body that is not JSON gets a 400.
 *
 * @example
 * const server = await serveJson(async ({ url }) => ({ body: { path: url.pathname } }));
 */
export async function serveJson(handle: (request: JsonRequest) => JsonResponse | Promise<JsonResponse>, { port = 0 }: { port?: number } = {}): Promise<ProviderServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      const send = ({ status = 200, body, headers = {} }: JsonResponse) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
      };
      if (size > MAX_BODY) return send({ status: 413, body: { error: "body_too_large" } });
      let body: unknown;
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        return send({ status: 400, body: { error: "invalid_json" } });
      }
      Promise.resolve()
        .then(() => handle({ method: req.method ?? "GET", url: new URL(req.url ?? "/", "http://provider.local"), body }))
        .then(send, (error: unknown) => send({ status: 500, body: { error: String((error as Error).message ?? error) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
