import { Command, CommanderError, Option } from "commander";

import { registerAccountCommands } from "./commands/account.ts";
import { registerCallCommand } from "./commands/call.ts";
import { registerEscrowCommands } from "./commands/escrow.ts";
import { registerMcpCommand } from "./commands/mcp.ts";
import { registerProviderCommands } from "./commands/provider.ts";
import { registerServiceCommands } from "./commands/services.ts";
import { DEFAULT_API_URL } from "./config.ts";
import type { CliIo } from "./config.ts";
import { EXIT_CODES_HELP, ExitCode, failureOf } from "./exitCodes.ts";
import { toJson } from "./format.ts";

export { DEFAULT_MAX_SPEND } from "./config.ts";

/**
 * The `agenttab` command tree (commander), writing to `io`; {@link runCli} parses and runs it.
 *
 * @example
 * const program = buildProgram({ env: process.env, stdout: process.stdout, stderr: process.stderr });
 * console.log(program.helpInformation());
 */
export function buildProgram(io: CliIo): Command {
  const program = new Command("agenttab")
    .description("Pay for APIs per call from an AgentTab escrow account (USDC on Base), and run services as a provider.")
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ showGlobalOptions: true })
    .addOption(new Option("--api <url>", "the AgentTab API").env("AGENTTAB_API_URL").default(DEFAULT_API_URL))
    .addOption(new Option("--rpc <url>", "a JSON-RPC endpoint of the chain, for on-chain commands").env("AGENTTAB_RPC_URL"))
    .addOption(new Option("--keystore <file>", "sign with this V3 JSON keystore (password from AGENTTAB_KEYSTORE_PASSWORD) instead of AGENTTAB_PRIVATE_KEY").env("AGENTTAB_KEYSTORE"))
    .addOption(new Option("--json", "machine output on stdout (amounts as strings of USDC atomic units, 1 USDC = 1000000)"))
    .addOption(new Option("--format <format>", "human output layout (default: table on a terminal, tsv otherwise)").choices(["table", "tsv", "json"]))
    .addHelpText(
      "after",
      `
Key: AGENTTAB_PRIVATE_KEY (hex), or --keystore FILE with AGENTTAB_KEYSTORE_PASSWORD. No flag takes a raw key.
Amounts are typed and shown in USDC (e.g. 1.5); --json prints them in atomic units.
${EXIT_CODES_HELP}`,
    );
  registerServiceCommands(program, io);
  registerAccountCommands(program, io);
  registerCallCommand(program, io);
  registerEscrowCommands(program, io);
  registerProviderCommands(program, io);
  registerMcpCommand(program, io);
  return program;
}

/**
 * Runs `agenttab` with `argv` (user arguments only) and resolves to its exit code: failures are one
 * line on stderr (`agenttab: <code>: <message>`, or a JSON object with `--json`), never a stack trace.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2));
 */
export async function runCli(argv: readonly string[], io: CliIo = { env: process.env, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    const failure = failureOf(error);
    if (argv.includes("--json")) io.stderr.write(`${toJson({ error: { name: failure.name, code: failure.code, message: failure.message, exitCode: failure.exitCode } })}\n`);
    else io.stderr.write(`agenttab: ${failure.code}: ${failure.message}\n`);
    return failure.exitCode;
  }
}
