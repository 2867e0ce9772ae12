import { readFile } from "node:fs/promises";

import { Command } from "commander";
import type { Address } from "viem";

import { accountOption, agentClient, contextOf, maxSpendOption, print, spendingLimits } from "../config.ts";
import type { CliIo } from "../config.ts";
import { CliUsageError } from "../exitCodes.ts";
import { formatUsdc, parseUsdc, renderFields } from "../format.ts";

/**
 * `call <service> [path]`: one paid call through the proxy, printing the response, what it cost
 * and the proxy's signed receipt (verified), within `--max-spend`.
 *
 * @example
 * registerCallCommand(program, io);
 */
export function registerCallCommand(program: Command, io: CliIo): void {
  program
    .command("call")
    .description("call a service through the paying proxy: prints the response, the amount charged and the signed receipt")
    .argument("<service>", "the service id")
    .argument("[path]", "path and query under the service, e.g. /weather?city=paris", "/")
    .option("-X, --method <method>", "HTTP method", "GET")
    .option("-d, --data <body>", "request body: JSON is sent as JSON, other text as is; @file reads a file, @- stdin")
    .option("-H, --header <header>", "an extra request header, 'name: value' (repeatable)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option("--max <usdc>", "refuse (before signing) if the call may cost more than this, in USDC")
    .addOption(maxSpendOption())
    .addOption(accountOption())
    .addHelpText(
      "after",
      `
Each run starts with no record of what this key was charged before: it believes the proxy's charged
total up to --max-spend, and refuses (exit 3, spend_limit) to sign past it. It checks the receipt
(the API's receipt signer, this key as payer, at most the price signed for) and fails with
receipt_rejected (exit 1) when it does not hold. With --account, the key pays from that account as
its delegate (authorized by the account's owner), within the delegate's cap.

Examples:
  agenttab call weather /forecast?city=lisbon --max 0.01
  agenttab call translate /v1 -X POST -d '{"text":"hello"}' --json
  AGENTTAB_MAX_SPEND=50 agenttab call weather /forecast
  agenttab call weather /forecast --account 0xOwnerOfTheEscrowAccount`,
    )
    .action(async (service: string, path: string, options: { method: string; data?: string; header: string[]; max?: string; maxSpend?: string; account?: Address }, command: Command) => {
      const ctx = contextOf(command, io);
      const maxAmount = options.max === undefined ? undefined : parseUsdc(options.max, { name: "--max" });
      const limits = spendingLimits(ctx, { flag: options.maxSpend });
      const headers = Object.fromEntries(options.header.map(parseHeader));
      const body = options.data === undefined ? undefined : bodyOf(await readData(options.data));
      const client = await agentClient(ctx, { ...limits, account: options.account });
      const result = await client.call(service, { path, method: options.method.toUpperCase(), body, headers, maxAmount });
      const { receipt } = result;
      print(ctx, {
        json: { status: result.status, data: result.data, amount: result.amount, latencyMs: result.latencyMs, requestId: result.requestId, receipt },
        human: (format) => {
          const data = typeof result.data === "string" ? result.data : JSON.stringify(result.data, null, 2);
          const fields = renderFields(
            [
              ["status", String(result.status)],
              ["charged", `${formatUsdc(result.amount)} USDC`],
              ["cumulative", `${formatUsdc(receipt.cumulative)} USDC`],
              ["request id", result.requestId],
              ["latency", `${result.latencyMs} ms`],
              ["provider", receipt.provider],
              ["receipt", receipt.signature],
            ],
            { format },
          );
          return `${data}${data.endsWith("\n") ? "" : "\n"}\n${fields}`;
        },
      });
    });
}

function parseHeader(text: string): [string, string] {
  const at = text.indexOf(":");
  if (at <= 0) throw new CliUsageError(`--header must look like 'name: value', got "${text}"`);
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

async function readData(data: string): Promise<string> {
  if (data === "@-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
  if (data.startsWith("@")) {
    try {
      return await readFile(data.slice(1), "utf8");
    } catch (error) {
      throw new CliUsageError(`Cannot read ${data.slice(1)} (${(error as NodeJS.ErrnoException).code ?? "unreadable"}).`);
    }
  }
  return data;
}

/** A JSON object or array goes as JSON (with its content type); anything else as the text itself. */
function bodyOf(text: string): unknown {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === "object" && parsed !== null ? parsed : text;
  } catch {
    return text;
  }
}
