import { ChargedTotalMismatchError } from "./errors.ts";
import { Mutex } from "./mutex.ts";
import { SpendBudget } from "./spendBudget.ts";

/** One signed voucher of a call in flight; `settle` once the call is over, whatever its outcome. */
export type VoucherTicket = {
  maxCumulative: bigint;
  signature: `0x${string}`;
  /**
   * Ends the call: frees its maximum and, when charged, records the receipt's `cumulative` (at most
   * the highest voucher this book has signed: the proxy can claim no more than that).
   */
  settle: (chargedCumulative?: bigint) => void;
};

/**
 * One spend track's voucher state in memory (a track is (account, signer, provider): vouchers on it
 * name one provider, and `maxCumulative` is cumulative on it): the charged total it knows of (from
 * receipts), the maxima of its calls in flight, so that concurrent calls sign cumulative totals
 * that cover each other, and the highest total the proxy has claimed (a corrective 402's
 * `charged`, charged and in flight), which vouchers cover only within the `maxCatchUp` a `sign`
 * allows. Signing is serialized by a mutex.
 *
 * The known total only grows. A claim counts the proxy's calls in flight, this book's own among
 * them, so it is weighed against `known charged + in flight`; it never moves the known total. What
 * the book signs counts against its {@link SpendBudget}, which the books of one escrow's other
 * provider tracks share: `maxSpend` bounds the sum.
 *
 * @example
 * const budget = new SpendBudget({ maxSpend: 1_000_000n });
 * const book = new VoucherBook({ budget, sign: (maxCumulative) => signVoucher(agent, { chainId, escrow, account, provider, maxCumulative }) });
 * const ticket = await book.sign(25_000n);
 * try {
 *   // ...send the call with ticket.maxCumulative and ticket.signature...
 * } finally {
 *   ticket.settle(receiptCumulative);
 * }
 */
export class VoucherBook {
  readonly #mutex = new Mutex();
  readonly #sign: (maxCumulative: bigint) => Promise<`0x${string}`>;
  readonly #budget: SpendBudget;
  #charged = 0n;
  #inFlight = 0n;
  #claimed = 0n;
  #signedMax = 0n;

  /**
   * @param budget - the escrow's budget this track shares with the signer's other provider tracks;
   *   without one, the book has its own, of `maxSpend` (unbounded without either).
   */
  constructor({ sign, budget, maxSpend }: { sign: (maxCumulative: bigint) => Promise<`0x${string}`>; budget?: SpendBudget | undefined; maxSpend?: bigint | undefined }) {
    this.#sign = sign;
    this.#budget = budget ?? new SpendBudget({ maxSpend });
  }

  /** The charged total known from receipts (and from `observeCharged`). */
  get charged(): bigint {
    return this.#charged;
  }

  /** The sum of the maxima of calls signed and not yet settled. */
  get inFlight(): bigint {
    return this.#inFlight;
  }

  /** The highest voucher signed on this track: what the escrow may claim on it at most. */
  get signedMax(): bigint {
    return this.#signedMax;
  }

  /** Raises the known charged total (it never goes down). */
  observeCharged(charged: bigint): void {
    if (charged > this.#charged) this.#charged = charged;
  }

  /**
   * Records the proxy's claim of what is charged and in flight on this track (a corrective 402's
   * `extra.charged`) without believing it: `sign` covers it only within its `maxCatchUp`.
   */
  observeClaim(claimed: bigint): void {
    if (claimed > this.#claimed) this.#claimed = claimed;
  }

  /**
   * Signs a voucher for `known charged + in flight + amount` (or `claimed + amount`, when the
   * proxy's claim is higher) and counts `amount` in flight.
   *
   * @throws {SpendLimitError} before signing, when that total, with what the budget's other tracks
   *   have signed, is above `maxSpend`.
   * @throws {ChargedTotalMismatchError} before signing, when the claim is more than `maxCatchUp`
   *   above `known charged + in flight`.
   */
  sign(amount: bigint, { maxCatchUp }: { maxCatchUp?: bigint } = {}): Promise<VoucherTicket> {
    return this.#mutex.run(async () => {
      const explained = this.#charged + this.#inFlight;
      const covered = this.#claimed > explained ? this.#claimed : explained;
      const maxCumulative = covered + amount;
      const raise = this.#budget.raise({ trackSigned: this.#signedMax, wouldSign: maxCumulative });
      if (maxCatchUp !== undefined && covered - explained > maxCatchUp) {
        this.#budget.release(raise);
        throw new ChargedTotalMismatchError({ knownCharged: this.#charged, inFlight: this.#inFlight, claimedCharged: this.#claimed, maxCatchUp });
      }
      this.#inFlight += amount;
      let signature: `0x${string}`;
      try {
        signature = await this.#sign(maxCumulative);
      } catch (error) {
        this.#inFlight -= amount;
        this.#budget.release(raise);
        throw error;
      }
      if (maxCumulative > this.#signedMax) this.#signedMax = maxCumulative;
      let settled = false;
      return {
        maxCumulative,
        signature,
        settle: (chargedCumulative?: bigint) => {
          if (settled) return;
          settled = true;
          if (chargedCumulative !== undefined) this.observeCharged(chargedCumulative < this.#signedMax ? chargedCumulative : this.#signedMax);
          this.#inFlight -= amount;
        },
      };
    });
  }
}
