import { Command, Option } from "commander";
import type { Address } from "viem";

import { accountOption, agentClient, contextOf, maxSpendOption, spendingLimits } from "../config.ts";
import type { CliIo } from "../config.ts";
import { CliUsageError } from "../exitCodes.ts";

/**
 * `mcp`: the AgentTab MCP server (tools discover_services, call_service, get_balance,
 * get_spending_report) over stdio, or Streamable HTTP on 127.0.0.1 with `--http`.
 *
 * @example
 * registerMcpCommand(program, io);
 */
export function registerMcpCommand(program: Command, io: CliIo): void {
  program
    .command("mcp")
    .description("serve the MCP tools discover_services, call_service, get_balance, get_spending_report, paid with this key (stdio by default)")
    .option("--http", "serve Streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio")
    .addOption(new Option("--port <port>", "port for --http (0 picks a free one)").default("8788"))
    .addOption(maxSpendOption())
    .addOption(accountOption())
    .addOption(new Option("--x402", "hold no key: the MCP client pays each call_service itself, x402 MCP transport (_meta[\"x402/payment\"])").conflicts("maxSpend"))
    .addHelpText(
      "after",
      `
The HTTP server binds 127.0.0.1 only and refuses other Host/Origin headers. It prints its URL on stderr.
The server starts with no record of what this key was charged before: it believes the proxy's charged
total up to --max-spend, and call_service refuses to sign past it. With --account, call_service pays
from that account as its delegate, and get_balance and get_spending_report read that account.
--x402 ignores --account: it holds no key.`,
    )
    .action(async (options: { http?: boolean; port: string; maxSpend?: string; account?: Address; x402?: boolean }, command: Command) => {
      const ctx = contextOf(command, io);
      const port = Number(options.port);
      if (!/^[0-9]+$/.test(options.port) || port > 65_535) throw new CliUsageError(`--port must be 0 to 65535, got "${options.port}"`);
      const client = await agentClient(ctx, options.x402 ? { keyless: true } : { ...spendingLimits(ctx, { flag: options.maxSpend }), account: options.account });
      // Loaded here, not at the top: the other commands start faster without the MCP SDK.
      const { createX402McpServer } = await import("../../mcp/x402.ts");
      const source = options.x402 ? { createServer: () => createX402McpServer({ apiUrl: ctx.apiUrl, client }) } : { client };
      if (!options.http) {
        const { serveMcpStdio } = await import("../../mcp/stdio.ts");
        await serveMcpStdio(source);
        return;
      }
      const { startMcpHttpServer } = await import("../../mcp/http.ts");
      const server = await startMcpHttpServer({ ...source, port });
      io.stderr.write(`agenttab MCP server ${options.x402 ? "(x402: callers pay)" : `for ${client.account}`} at ${server.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
    });
}
