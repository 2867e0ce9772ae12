import type { Address, Hex } from "viem";

import type { PayoutLine } from "@agenttab/ledger/settlement";

/** An entry left out of the batch, and why; it stays unsettled for the next run. */
export type Excluded = { account: Address; signer: Address; provider?: Address | undefined; reason: string; detail?: string | undefined };

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
