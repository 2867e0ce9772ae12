/**
 * The benchmark's upstream, run as its own process (so that it never shares an event loop with a
 * proxy under test): a minimal node:http server on 127.0.0.1 answering every request with a small
 * JSON body. Reports its port over IPC; exits when the parent disconnects or on SIGTERM.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

const body = Buffer.from(JSON.stringify({ ok: true, result: "pong", items: [1, 2, 3] }));
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.send?.({ type: "ready", port: (server.address() as AddressInfo).port });
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on("disconnect", stop);
process.on("SIGTERM", stop);
process.on("message", (message: { type: string }) => {
  if (message.type === "stop") stop();
});
