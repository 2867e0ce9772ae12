import { SpendLimitError } from "./errors.ts";
import { Mutex } from "./mutex.ts";

/** One signed voucher of a call in flight; `settle` once the call is over, whatever its outcome. */
export type VoucherTicket = {
  maxCumulative: bigint;
  signature: `0x${string}`;
  /** Ends the call: frees its maximum and, when charged, records the receipt's `cumulative`. */
  settle: (chargedCumulative?: bigint) => void;
};

/**
 * A signer's voucher state in memory: the charged total it knows of (from receipts and the proxy's
 * corrective 402s) and the maxima of its calls in flight, so that concurrent calls sign
 * cumulative totals that cover each other. Signing is serialized by a mutex.
 *
 * The known total only grows. A corrective 402's `charged` also counts calls in flight, so after a
 * recovery the client may sign a little above what is strictly needed: never above `maxSpend`.
 *
 * @example
 * const book = new VoucherBook({ maxSpend: 1_000_000n, sign: (maxCumulative) => signVoucher(agent, { chainId, escrow, account, maxCumulative }) });
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
  readonly #maxSpend: bigint | undefined;
  #charged = 0n;
  #inFlight = 0n;

  constructor({ sign, maxSpend }: { sign: (maxCumulative: bigint) => Promise<`0x${string}`>; maxSpend?: bigint | undefined }) {
    this.#sign = sign;
    this.#maxSpend = maxSpend;
  }

  /** The charged total known from receipts and corrective 402s. */
  get charged(): bigint {
    return this.#charged;
  }

  /** The sum of the maxima of calls signed and not yet settled. */
  get inFlight(): bigint {
    return this.#inFlight;
  }

  /** Raises the known charged total (it never goes down). */
  observeCharged(charged: bigint): void {
    if (charged > this.#charged) this.#charged = charged;
  }

  /**
   * Signs a voucher for `known charged + in flight + amount` and counts `amount` in flight.
   *
   * @throws {SpendLimitError} before signing, when that total is above `maxSpend`.
   */
  sign(amount: bigint): Promise<VoucherTicket> {
    return this.#mutex.run(async () => {
      const maxCumulative = this.#charged + this.#inFlight + amount;
      if (this.#maxSpend !== undefined && maxCumulative > this.#maxSpend) throw new SpendLimitError({ maxSpend: this.#maxSpend, wouldSign: maxCumulative });
      this.#inFlight += amount;
      let signature: `0x${string}`;
      try {
        signature = await this.#sign(maxCumulative);
      } catch (error) {
        this.#inFlight -= amount;
        throw error;
      }
      let settled = false;
      return {
        maxCumulative,
        signature,
        settle: (chargedCumulative?: bigint) => {
          if (settled) return;
          settled = true;
          if (chargedCumulative !== undefined) this.observeCharged(chargedCumulative);
          this.#inFlight -= amount;
        },
      };
    });
  }
}
