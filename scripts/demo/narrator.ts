import { formatUnits } from "viem";

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
    fact: (label, value) => write(`    ${`${label}:`.padEnd(18)}${value}`),
    note: (text) => write(`    ${text}`),
  };
}
