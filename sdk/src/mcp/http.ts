import http from "node:http";
import type { AddressInfo } from "node:net";

import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

import { createAgentTabMcpServer } from "./server.ts";
import type { McpServerSource } from "./stdio.ts";

/** A running MCP Streamable HTTP endpoint. */
export type McpHttpServer = {
  /** e.g. "http://127.0.0.1:4100/mcp" */
  url: string;
  port: number;
  close(): Promise<void>;
};

/**
 * Serves the AgentTab MCP tools (or what `createServer` builds) over Streamable HTTP at `/mcp`,
 * bound to 127.0.0.1 only. Stateless (a fresh MCP server per request, one shared AgentTabClient, so
 * vouchers never overlap), JSON
 * responses. Host and Origin are checked against this address (DNS-rebinding protection): a web
 * page on another origin cannot reach the agent's key through the user's browser.
 *
 * @example
 * const mcp = await startMcpHttpServer({ client, port: 4100 });
 * console.log(`MCP at ${mcp.url}`);
 * await mcp.close();
 */
export async function startMcpHttpServer({ port = 0, ...source }: McpServerSource & { port?: number }): Promise<McpHttpServer> {
  let allowedHosts: string[] = [];
  let allowedOrigins: string[] = [];
  const server = http.createServer((req, res) => {
    if (new URL(req.url ?? "/", "http://127.0.0.1").pathname !== "/mcp") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "Not found: the MCP endpoint is /mcp" }, id: null }));
      return;
    }
    const mcp = source.createServer ? source.createServer() : createAgentTabMcpServer({ client: source.client });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      enableDnsRebindingProtection: true,
      allowedHosts,
      allowedOrigins,
    });
    res.on("close", () => {
      void transport.close();
      void mcp.close();
    });
    mcp
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32603, message: "Internal error" }, id: null }));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  allowedHosts = [`127.0.0.1:${bound}`, `localhost:${bound}`];
  allowedOrigins = [`http://127.0.0.1:${bound}`, `http://localhost:${bound}`];
  return {
    url: `http://127.0.0.1:${bound}/mcp`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
