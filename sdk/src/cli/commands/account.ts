import { Command, Option } from "commander";

import { agentClient, contextOf, positiveInteger, print } from "../config.ts";
import type { CliIo } from "../config.ts";
import { formatUsdc, renderFields, renderTable } from "../format.ts";

/**
 * `balance`, `transactions` and `spending`: the signed-in reads of the agent's own escrow account.
 *
 * @example
 * registerAccountCommands(program, { env: process.env, stdout: process.stdout, stderr: process.stderr });
 */
export function registerAccountCommands(program: Command, io: CliIo): void {
  program
    .command("balance")
    .description("the escrow account's balance: on-chain, unsettled, reserved, available (USDC)")
    .action(async (_options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const balance = await (await agentClient(ctx)).getBalance();
      print(ctx, {
        json: balance,
        human: (format) =>
          renderFields(
            [
              ["account", balance.account],
              ["balance", `${formatUsdc(balance.balance)} USDC`],
              ["deposited", `${formatUsdc(balance.deposited)} USDC`],
              ["withdrawing", `${formatUsdc(balance.withdrawing)} USDC${balance.withdrawalUnlockAt ? ` (unlocks ${balance.withdrawalUnlockAt})` : ""}`],
              ["unsettled", `${formatUsdc(balance.unsettled)} USDC`],
              ["reserved", `${formatUsdc(balance.reserved)} USDC`],
              ["pending", `${formatUsdc(balance.pending)} USDC`],
              ["available", `${formatUsdc(balance.available)} USDC`],
            ],
            { format },
          ),
      });
    });

  program
    .command("transactions")
    .description("the account's paid calls (voucher and exact), newest first")
    .addOption(new Option("--limit <n>", "at most this many").argParser(positiveInteger("--limit")))
    .option("--service <id>", "only calls to this service")
    .option("--from <time>", "only calls at or after this ISO 8601 time")
    .option("--to <time>", "only calls before this ISO 8601 time")
    .option("--cursor <cursor>", "the next page (nextCursor of the previous one)")
    .action(async (options: { limit?: number; service?: string; from?: string; to?: string; cursor?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const page = await (await agentClient(ctx)).getTransactions({ limit: options.limit, serviceId: options.service, from: options.from, to: options.to, cursor: options.cursor });
      print(ctx, {
        json: page,
        human: (format) => {
          const rows = page.items.map((t) => [t.createdAt, t.serviceId, t.scheme, formatUsdc(t.amount), formatUsdc(t.cumulative), String(t.upstreamStatus ?? "-"), `${t.method} ${t.path}`, t.requestId]);
          const table = renderTable([["time", "service", "scheme", "amount", "cumulative", "status", "request", "request id"], ...rows], { format, numeric: [3, 4] });
          return page.nextCursor && format === "table" ? `${table}\n\nmore: --cursor ${page.nextCursor}` : table;
        },
      });
    });

  program
    .command("spending")
    .description("what the account spent over a window, in total and by service (30 days by default)")
    .addOption(new Option("--period <period>", "the day, week or month up to now").choices(["day", "week", "month"]).conflicts(["from", "to"]))
    .option("--from <time>", "from this ISO 8601 time")
    .option("--to <time>", "up to this ISO 8601 time")
    .action(async (options: { period?: "day" | "week" | "month"; from?: string; to?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const client = await agentClient(ctx);
      const report = await client.getSpendingReport(options.period ? { period: options.period } : { from: options.from, to: options.to });
      print(ctx, {
        json: report,
        human: (format) => {
          const rows = report.byService.map((s) => [s.serviceId, String(s.calls), formatUsdc(s.total), formatUsdc(s.averagePerCall)]);
          const table = renderTable([["service", "calls", "total", "per call"], ...rows, ["all", String(report.calls), formatUsdc(report.total), formatUsdc(report.averagePerCall)]], { format, numeric: [1, 2, 3] });
          return format === "table" ? `${report.from} → ${report.to} (USDC)\n${table}` : table;
        },
      });
    });
}
