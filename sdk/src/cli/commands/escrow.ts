import { Command, Option } from "commander";

import type { TransactionResult } from "../../client/chain.ts";
import type { DepositStatus } from "../../client/deposit.ts";
import { agentClient, contextOf, parseAddress, print } from "../config.ts";
import type { CliContext, CliIo } from "../config.ts";
import { CliUsageError } from "../exitCodes.ts";
import { formatUsdc, parseUsdc, renderFields } from "../format.ts";
import { startSpinner } from "../spinner.ts";

/**
 * The agent's on-chain commands: `deposit`, `withdraw request|finalize|cancel` and
 * `delegate add|revoke`. Each shows a spinner on a terminal while the chain works.
 *
 * @example
 * registerEscrowCommands(program, io);
 */
export function registerEscrowCommands(program: Command, io: CliIo): void {
  program
    .command("deposit")
    .description("deposit USDC from the key's wallet into its escrow account (gasless through the API's relayer when it can)")
    .argument("<amount>", "USDC, e.g. 10 or 2.5")
    .addOption(new Option("--method <method>", "how: a relayed EIP-3009 authorization, an EIP-2612 permit, or approve + deposit (gas paid by the key)").choices(["auto", "authorization", "permit", "approve"]).default("auto"))
    .option("--no-wait", "return once mined, without waiting for the API to see the deposit")
    .action(async (amountText: string, options: { method: "auto" | "authorization" | "permit" | "approve"; wait: boolean }, command: Command) => {
      const ctx = contextOf(command, io);
      const amount = parseUsdc(amountText);
      if (amount === 0n) throw new CliUsageError("amount must be above 0");
      const client = await agentClient(ctx);
      const result = await withSpinner(ctx, `Depositing ${formatUsdc(amount)} USDC`, (spinner) =>
        client.deposit(amount, { method: options.method, waitForIndexer: options.wait, onStatus: (status) => spinner.update(depositStep(status)) }),
      );
      print(ctx, {
        json: { amount, ...result },
        human: (format) =>
          renderFields([["deposited", `${formatUsdc(amount)} USDC`], ["method", `${result.method}${result.relayed ? " (relayed, gasless)" : ""}`], ...transactionFields(result)], { format }),
      });
    });

  const withdraw = program.command("withdraw").description("withdraw from the escrow account in two steps: request, wait the withdrawal delay, finalize");
  withdraw
    .command("request")
    .description("ask to withdraw an amount; the proxy counts it as spent until finalized or cancelled")
    .argument("<amount>", "USDC, e.g. 5")
    .action(async (amountText: string, _options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const amount = parseUsdc(amountText);
      if (amount === 0n) throw new CliUsageError("amount must be above 0");
      const client = await agentClient(ctx);
      const result = await withSpinner(ctx, `Requesting a withdrawal of ${formatUsdc(amount)} USDC`, () => client.requestWithdrawal(amount));
      const unlockAt = new Date(Number(result.unlockAt) * 1000).toISOString();
      print(ctx, {
        json: result,
        human: (format) => renderFields([["requested", `${formatUsdc(result.amount)} USDC`], ["unlocks at", `${unlockAt} (then: agenttab withdraw finalize)`], ...transactionFields(result)], { format }),
      });
    });
  withdraw
    .command("finalize")
    .description("finalize the pending withdrawal once its delay has run out; pays out to the key's wallet")
    .action(async (_options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const client = await agentClient(ctx);
      const result = await withSpinner(ctx, "Finalizing the withdrawal", () => client.finalizeWithdrawal());
      print(ctx, { json: result, human: (format) => renderFields([["withdrawn", `${formatUsdc(result.amount)} USDC`], ...transactionFields(result)], { format }) });
    });
  withdraw
    .command("cancel")
    .description("cancel the pending withdrawal")
    .action(async (_options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const client = await agentClient(ctx);
      const result = await withSpinner(ctx, "Cancelling the withdrawal", () => client.cancelWithdrawal());
      print(ctx, { json: result, human: (format) => renderFields([["cancelled", "the pending withdrawal"], ...transactionFields(result)], { format }) });
    });

  const delegate = program.command("delegate").description("let another key pay from this account, up to a cap");
  delegate
    .command("add")
    .description("authorize (or update) a delegate: it may sign vouchers on this account up to --cap in total")
    .argument("<address>", "the delegate's address")
    .requiredOption("--cap <usdc>", "the most the delegate may ever spend in total, in USDC")
    .option("--expires <time>", "when the delegation ends: an ISO 8601 time or a duration such as 30d, 12h (never by default)")
    .action(async (addressText: string, options: { cap: string; expires?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const address = parseAddress(addressText, { name: "delegate" });
      const cap = parseUsdc(options.cap, { name: "--cap" });
      const expiresAt = options.expires === undefined ? undefined : parseExpiry(options.expires);
      const client = await agentClient(ctx);
      const result = await withSpinner(ctx, `Authorizing ${address}`, () => client.authorizeDelegate(address, { cap, ...(expiresAt ? { expiresAt } : {}) }));
      print(ctx, {
        json: result,
        human: (format) =>
          renderFields(
            [
              ["delegate", result.delegate],
              ["cap", `${formatUsdc(result.cap)} USDC`],
              ["expires", result.expiresAt === 0n ? "never" : new Date(Number(result.expiresAt) * 1000).toISOString()],
              ...transactionFields(result),
            ],
            { format },
          ),
      });
    });
  delegate
    .command("revoke")
    .description("revoke a delegate at once")
    .argument("<address>", "the delegate's address")
    .action(async (addressText: string, _options: object, command: Command) => {
      const ctx = contextOf(command, io);
      const address = parseAddress(addressText, { name: "delegate" });
      const client = await agentClient(ctx);
      const result = await withSpinner(ctx, `Revoking ${address}`, () => client.revokeDelegate(address));
      print(ctx, { json: { delegate: address, ...result }, human: (format) => renderFields([["revoked", address], ...transactionFields(result)], { format }) });
    });
}

/**
 * Runs an on-chain step under a spinner (stderr, terminals only), ending with ✔ or ✖.
 *
 * @example
 * const result = await withSpinner(ctx, "Cancelling", () => client.cancelWithdrawal());
 */
export async function withSpinner<result>(ctx: CliContext, text: string, run: (spinner: { update(text: string): void }) => Promise<result>): Promise<result> {
  const spinner = startSpinner(text, { stream: ctx.stderr });
  try {
    const result = await run(spinner);
    spinner.stop({ ok: true, text });
    return result;
  } catch (error) {
    spinner.stop({ ok: false, text });
    throw error;
  }
}

/**
 * The rows every transaction shows: hash, block, gas.
 *
 * @example
 * renderFields([["cancelled", "yes"], ...transactionFields(result)], { format });
 */
export function transactionFields(result: TransactionResult): [string, string][] {
  return [
    ["transaction", result.hash],
    ["block", result.blockNumber.toString()],
    ["gas used", result.gasUsed.toString()],
  ];
}

function depositStep(status: DepositStatus): string {
  switch (status.step) {
    case "signing":
      return `Signing a ${status.method}`;
    case "submitting":
      return status.relayed ? "Relaying through the API (gasless)" : "Sending the deposit";
    case "approving":
      return `Approving USDC (${status.hash})`;
    case "submitted":
      return `Waiting for ${status.hash} to be mined`;
    case "mined":
      return `Mined in block ${status.blockNumber}; waiting for the API to see it`;
    case "indexed":
      return `Indexed: ${formatUsdc(status.deposited)} USDC deposited`;
  }
}

/** An ISO 8601 time, or a duration from now (`90s`, `30m`, `12h`, `30d`). */
function parseExpiry(text: string): Date {
  const duration = /^([0-9]+)([smhd])$/.exec(text);
  if (duration) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as "s" | "m" | "h" | "d"];
    return new Date(Date.now() + Number(duration[1]) * unit);
  }
  const time = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(time.getTime())) throw new CliUsageError(`--expires must be an ISO 8601 time or a duration like 30d, got "${text}"`);
  if (time.getTime() <= Date.now()) throw new CliUsageError("--expires is in the past");
  return time;
}
