import type { Address, Hex } from "viem";

/** What one provider earned from the charges one claim covers. */
export type ProviderShare = { provider: Address; amount: bigint; fee: bigint; calls: number };

/**
 * One claim of a batch: a spend track (account, signer) of the ledger, its best voucher, and what
 * is to be claimed on it: from `claimedOnChain` (read from the chain) up to `cumulative` (the
 * track's charged total when planned).
 */
export type Entry = {
  account: Address;
  signer: Address;
  voucherMax: bigint;
  signature: Hex;
  /** The new claimed total on the signer's track. */
  cumulative: bigint;
  /** What the chain says was already claimed on the track when planned. */
  claimedOnChain: bigint;
  /** cumulative − claimedOnChain: what this claim debits. */
  delta: bigint;
  fee: bigint;
  shares: ProviderShare[];
  chargeCount: number;
};

/** An entry left out of the batch, and why; it stays unsettled for the next run. */
export type Excluded = { account: Address; signer: Address; reason: string; detail?: string | undefined };

/** One provider's credit in a batch. */
export type PayoutLine = { provider: Address; amount: bigint; fee: bigint; callsServed: number; callsFailed: number };

/** A batch as recorded before it is sent: enough to re-send it and to mark what it covers. */
export type BatchPlan = {
  seq: bigint;
  batchId: Hex;
  chainId: number;
  escrow: Address;
  entries: Entry[];
  payouts: PayoutLine[];
  fee: bigint;
  /** The fee rate the entries' fees were computed at (the escrow's, when planned); marking records them. */
  feeBps?: number | undefined;
  /** Failed calls up to this time (ISO) of the payouts' providers are reported by this batch. */
  failedBefore: string;
};

/** The outcome of one batch. */
export type BatchResult = {
  batchId: Hex;
  txHash: Hex | undefined;
  gasUsed: bigint | undefined;
  agents: number;
  claims: number;
  debited: bigint;
  fee: bigint;
  payouts: PayoutLine[];
  /** True when the chain had already applied the batch (a recovered run). */
  recovered: boolean;
};

/** A structured log event: `event` names it, the rest are its fields. */
export type SettleLog = (event: string, fields?: Record<string, unknown>) => void;

/** Progress of a run's current step, for a progress bar: `done` of `total` units. */
export type SettleProgress = (step: "recover" | "plan" | "verify" | "simulate" | "send", done: number, total: number) => void;
