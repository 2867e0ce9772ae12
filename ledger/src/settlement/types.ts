import type { Address, Hex } from "viem";

/**
 * One claim of a batch: a spend track (account, signer, provider) of the ledger, its best voucher,
 * and what is to be claimed on it: from `claimedOnChain` (read from the chain) up to `cumulative`
 * (the track's charged total when planned). The escrow pays the claim, less the fee, to `provider`.
 */
export type Entry = {
  account: Address;
  signer: Address;
  /** The provider the voucher names: the one paid from this track. */
  provider: Address;
  voucherMax: bigint;
  signature: Hex;
  /** The new claimed total on the track. */
  cumulative: bigint;
  /** What the chain says was already claimed on the track when planned. */
  claimedOnChain: bigint;
  /** cumulative − claimedOnChain: what this claim debits (and what its charges add up to). */
  delta: bigint;
  chargeCount: number;
};

/**
 * One provider of a batch: the report `settle` receives (provider, calls served and failed) and
 * what the escrow credits it: `gross` (its claims' deltas) less `fee` (floor(gross · feeBps / 10⁴))
 * is `amount`.
 */
export type PayoutLine = { provider: Address; gross: bigint; fee: bigint; amount: bigint; callsServed: number; callsFailed: number };

/** A batch as recorded before it is sent: enough to re-send it and to mark what it covers. */
export type BatchPlan = {
  seq: bigint;
  batchId: Hex;
  chainId: number;
  escrow: Address;
  entries: Entry[];
  /** One line per provider of the entries, ascending by address: the batch's provider reports. */
  payouts: PayoutLine[];
  /** Σ payouts' fees. */
  fee: bigint;
  /** The fee rate the payouts' fees were computed at (the escrow's, when planned). */
  feeBps: number;
  /** Failed calls up to this time (ISO) of the payouts' providers are reported by this batch. */
  failedBefore: string;
};
