import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";

import type { AgentTabClient } from "../client/AgentTabClient.ts";
import { createAgentTabMcpServer } from "./server.ts";

/**
 * What an MCP transport serves: the agent's tools paid with its `client`, or any server
 * `createServer` builds (e.g. `createX402McpServer`, where the MCP client pays).
 */
export type McpServerSource = { client: AgentTabClient; createServer?: undefined } | { client?: undefined; createServer: () => McpServer };

/**
 * Serves the AgentTab MCP tools over this process's stdin/stdout (for a local agent holding its
 * key) until the client goes away; resolves then.
 *
 * @example
 * await serveMcpStdio({ client: new AgentTabClient({ apiUrl, signer, chainId, escrow }) });
 */
export async function serveMcpStdio({
  stdin = process.stdin,
  stdout = process.stdout,
  ...source
}: McpServerSource & { stdin?: NodeJS.ReadableStream & NodeJS.ReadStream; stdout?: NodeJS.WritableStream & NodeJS.WriteStream }): Promise<void> {
  const server = source.createServer ? source.createServer() : createAgentTabMcpServer({ client: source.client });
  const transport = new StdioServerTransport(stdin, stdout);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
    // The transport does not notice the end of stdin by itself: the client closing its end is the signal to stop.
    stdin.once("end", () => void server.close());
  });
  await server.connect(transport);
  await closed;
}
