import { SpendLimitError } from "./errors.ts";

/**
 * What a signer has signed for on one escrow, over all its provider tracks: the sum of the highest
 * voucher signed on each track (a voucher pays one provider, and the escrow may claim each track up
 * to its highest voucher). `maxSpend` bounds that sum; a track raises its share before it signs and
 * gives the raise back if signing fails.
 *
 * @example
 * const budget = new SpendBudget({ maxSpend: 1_000_000n });
 * const weather = new VoucherBook({ budget, sign: (maxCumulative) => signVoucher(agent, { ...where, provider: weatherProvider, maxCumulative }) });
 * const search = new VoucherBook({ budget, sign: (maxCumulative) => signVoucher(agent, { ...where, provider: searchProvider, maxCumulative }) });
 */
export class SpendBudget {
  readonly maxSpend: bigint | undefined;
  #signed = 0n;

  constructor({ maxSpend }: { maxSpend?: bigint | undefined } = {}) {
    this.maxSpend = maxSpend;
  }

  /** The sum over tracks of the highest voucher signed on each (and of raises being signed). */
  get signed(): bigint {
    return this.#signed;
  }

  /**
   * Takes a track from `trackSigned` (its highest voucher so far) to `wouldSign`; returns the raise
   * taken, to give back with {@link SpendBudget.release} if the voucher is not signed after all.
   *
   * @throws {SpendLimitError} when the sum over tracks would go above `maxSpend`; nothing is taken.
   */
  raise({ trackSigned, wouldSign }: { trackSigned: bigint; wouldSign: bigint }): bigint {
    const raise = wouldSign > trackSigned ? wouldSign - trackSigned : 0n;
    if (this.maxSpend !== undefined && this.#signed + raise > this.maxSpend) {
      // Checked against the whole track, so a single track reads as before: "a voucher for X is above maxSpend".
      throw new SpendLimitError({ maxSpend: this.maxSpend, wouldSign, signedElsewhere: this.#signed - trackSigned });
    }
    this.#signed += raise;
    return raise;
  }

  /** Gives back a raise whose voucher was never signed. */
  release(raise: bigint): void {
    this.#signed -= raise;
  }
}
