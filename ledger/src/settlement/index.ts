export { planFromJson, planToJson } from "./codec.ts";
export {
  discardBatch,
  markBatch,
  nextSeq,
  openBatches,
  recentlyClosed,
  recordBatch,
  reopenAsMined,
  sentTxHashes,
  setMined,
  setSent,
  unmarkBatch,
} from "./store.ts";
export type { BatchFees, BatchRecord, BatchStatus } from "./store.ts";
export type { BatchPlan, BatchResult, Entry, Excluded, PayoutLine, SettleLog, SettleProgress } from "./types.ts";
