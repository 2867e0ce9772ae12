export { addressKey, toBigInt } from "./reader.ts";
export type { ChainStateReader } from "./reader.ts";
export { getAgentAccount, getDelegation, getProviderAccount, listPendingWithdrawals } from "./accounts.ts";
export type { IndexedAgentAccount, IndexedDelegation, IndexedProviderAccount } from "./accounts.ts";
export { getIndexerStatus } from "./status.ts";
export type { IndexerStatus } from "./status.ts";
