import { formatUnits } from "viem";

import { AgentTabError } from "@agenttab/sdk";


/** Prints the demo's story: numbered steps, indented facts, amounts in USDC. */
export type Narrator = {
  step: (title: string) => void;
  fact: (label: string, value: string) => void;
  note: (text: string) => void;
};

/**
 * USDC atomic units as text, e.g. 1_250_000n → "1.25 USDC".
 *
 * @example
 * usdc(20_000n); // "0.02 USDC"
 */
export const usdc = (amount: bigint) => `${formatUnits(amount, 6)} USDC`;

/**
 * A narrator writing to `write` (stdout by default); steps are numbered in order.
 *
 * @example
 * const say = createNarrator();
 * say.step("Deposit");
 * say.fact("tx", "0x…");
 */
export function createNarrator(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Narrator {
  let n = 0;
  return {
    step: (title) => {
      n += 1;
      write(`\n${String(n).padStart(2)}. ${title}`);
    },
    fact: (label, value) => write(`    ${`${label}:`.padEnd(18)} ${value}`),
    note: (text) => write(`    ${text}`),
  };
}

/**
 * An SDK error in one line: its short message and, for API refusals, the API's own words.
 *
 * @example
 * say.fact(error.name, oneLine(error));
 */
export function oneLine(error: unknown): string {
  if (!(error instanceof AgentTabError)) return String((error as Error)?.message ?? error);
  const details = error.message.split("\n\nDetails: ")[1];
  return details === undefined ? error.shortMessage : `${error.shortMessage} (${details.split("\n")[0]})`;
}
