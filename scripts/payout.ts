/**
 * A provider's payout: `npm run payout`. Withdraws the provider's credited earnings from the escrow
 * (`withdrawEarnings(to, amount)`, sent from the provider's own key) to an address it chooses.
 * See `payoutUsage` for the flags; the core, `runPayout` / `payout`, is in payout/run.ts.
 *
 * With no placement variable set, a running `npm start` stack (.data/local-stack.json) is used.
 *
 * Exit codes: 0 paid out (or dry run), 3 nothing to withdraw, 1 failure.
 */
import path from "node:path";

import { attachedLine, withLocalStack } from "./lib/localStackFile.ts";
import { exitCodeOfError, payoutUsage, runPayout } from "./payout/run.ts";

let code = 0;
if (process.argv.includes("--help")) {
  console.log(payoutUsage);
} else {
  try {
    const env = withLocalStack(process.env, { root: path.join(import.meta.dirname, ".."), onAttach: (file, record) => console.error(attachedLine(file, record)) });
    await runPayout({ argv: process.argv.slice(2), env });
  } catch (error) {
    code = exitCodeOfError(error);
    console.error(code === 3 ? (error as Error).message : `payout failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
// Explicit: an open handle (an RPC keep-alive socket) must not hold the process, nor reset its code.
process.exit(code);
