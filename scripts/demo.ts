/**
 * `npm run demo`: brings up the whole system on this machine (Hardhat node, contracts, embedded
 * PostgreSQL, indexer, API, demo providers; all on 127.0.0.1), runs a scripted agent through it,
 * narrating amounts, transaction hashes and gas, then stops everything it started and exits 0.
 * Ctrl-C, SIGTERM (to npm, to this process or to the group) or the end of whatever started it
 * stops everything cleanly at any point (exit 130, 143, 129).
 *
 *   --quiet   only the story, not the start-up lines
 */
import { parseArgs } from "node:util";

import { startLocalStack } from "./lib/localStack.ts";
import type { LocalStack } from "./lib/localStack.ts";
import { exitCodeOf, holdSignals } from "./lib/signals.ts";
import { createNarrator, usdc } from "./demo/narrator.ts";
import { startDemoProviders } from "./demo/providers/catalog.ts";
import type { DemoProviders } from "./demo/providers/catalog.ts";
import { runStory } from "./demo/story.ts";

const { values } = parseArgs({ options: { quiet: { type: "boolean", default: false }, help: { type: "boolean", default: false } } });
if (values.help) {
  console.log("Usage: npm run demo [-- --quiet]\n\nStarts a local AgentTab, runs a scripted agent through it, stops everything. Exit 0 on success, 1 on failure, 130 on Ctrl-C.");
  process.exit(0);
}

let stack: LocalStack | undefined;
let starting: Promise<LocalStack> | undefined;
let providers: DemoProviders | undefined;
const abort = new AbortController();
const shutdown = async () => {
  await providers?.close();
  // A start in progress stops what it has started, then rejects.
  abort.abort(new Error("stopped"));
  await (await starting?.catch(() => undefined))?.stop();
};
let interrupted = false;
const claimSignals = holdSignals(async (reason) => {
  interrupted = true;
  console.log(`\n${reason}: stopping the demo stack…`);
  await shutdown();
  process.exit(exitCodeOf(reason));
});

const started = performance.now();
const say = createNarrator();
try {
  console.log("AgentTab demo: starting a local stack (first start takes about a minute)");
  starting = startLocalStack({
    signal: abort.signal,
    log: (line) => {
      claimSignals();
      if (!values.quiet) console.log(`  · ${line}`);
    },
  });
  stack = await starting;
  claimSignals();
  providers = await startDemoProviders();
  const outcome = await runStory({ stack, providers, say });
  say.step("Done");
  say.fact("calls paid", String(outcome.calls));
  say.fact("spent", usdc(outcome.spent));
  say.fact("settled batches", String(outcome.settledBatches));
  say.fact("provider withdrew", usdc(outcome.providerWithdrawn));
  say.fact("took", `${((performance.now() - started) / 1000).toFixed(1)} s`);
  await shutdown();
  console.log("\nEverything stopped. Next: `npm start` keeps the same stack running to play with.");
  process.exit(0);
} catch (error) {
  // After Ctrl-C the story fails as its stack goes away: the signal handler finishes the exit.
  if (interrupted) await new Promise((resolve) => setTimeout(resolve, 120_000));
  console.error(`\ndemo failed: ${(error as Error)?.stack ?? String(error)}`);
  await shutdown();
  process.exit(1);
}
