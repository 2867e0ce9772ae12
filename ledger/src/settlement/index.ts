export { planFromJson, planToJson } from "./codec.ts";
export { SettlementBusyError, withSettlementLock } from "./lock.ts";
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
  setTxHash,
  unmarkBatch,
} from "./store.ts";
export type { BatchFees, BatchRecord, BatchStatus } from "./store.ts";
export { failedCalls, ledgerNow, listUnsettledTracks, sumUnsettledCharges } from "./tracks.ts";
export type { UnsettledTrack } from "./tracks.ts";
export type { BatchPlan, Entry, PayoutLine } from "./types.ts";
export { hasIndexerViews, listDelegatesAtRisk, withUnsettledCharges } from "./watch.ts";
export type { DelegateAtRisk } from "./watch.ts";
