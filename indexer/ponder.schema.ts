import { index, onchainTable } from "ponder";

// Running totals are keyed by address; event rows by Ponder's event id. Amounts are USDC atomic
// units (numeric(78,0)); times are unix seconds as bigint.

/** One row per agent account: what it deposited, was claimed, withdrew, and holds now. */
export const agentAccount = onchainTable("agent_account", (t) => ({
  address: t.hex().primaryKey(),
  deposited: t.bigint().notNull(),
  /** Claimed by settlements over all signers and providers. */
  claimed: t.bigint().notNull(),
  withdrawn: t.bigint().notNull(),
  balance: t.bigint().notNull(),
  /** Requested withdrawal still pending (0 when none). */
  pendingWithdrawal: t.bigint().notNull(),
  /** When the pending withdrawal can be finalized (null when none). */
  withdrawalUnlockAt: t.bigint(),
  updatedBlock: t.bigint().notNull(),
}));

/** A key allowed to sign vouchers against an account, and what was claimed on its vouchers (over all providers). */
export const delegation = onchainTable(
  "delegation",
  (t) => ({
    id: t.text().primaryKey(),
    account: t.hex().notNull(),
    delegate: t.hex().notNull(),
    cap: t.bigint().notNull(),
    claimed: t.bigint().notNull(),
    expiresAt: t.bigint().notNull(),
    active: t.boolean().notNull(),
  }),
  (table) => ({ accountIdx: index().on(table.account) }),
);

export const deposit = onchainTable(
  "deposit",
  (t) => ({
    id: t.text().primaryKey(),
    account: t.hex().notNull(),
    payer: t.hex().notNull(),
    amount: t.bigint().notNull(),
    balance: t.bigint().notNull(),
    blockNumber: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    transactionHash: t.hex().notNull(),
  }),
  (table) => ({ accountIdx: index().on(table.account) }),
);

/** Every step of agent withdrawals: requested, cancelled, finalized. */
export const withdrawal = onchainTable(
  "withdrawal",
  (t) => ({
    id: t.text().primaryKey(),
    account: t.hex().notNull(),
    kind: t.text().notNull(),
    amount: t.bigint().notNull(),
    unlockAt: t.bigint(),
    blockNumber: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    transactionHash: t.hex().notNull(),
  }),
  (table) => ({ accountIdx: index().on(table.account) }),
);

export const settlementBatch = onchainTable("settlement_batch", (t) => ({
  batchId: t.hex().primaryKey(),
  debited: t.bigint().notNull(),
  fee: t.bigint().notNull(),
  claimCount: t.integer().notNull(),
  blockNumber: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
  transactionHash: t.hex().notNull(),
}));

/** One claim of a settlement: what it debited from the account on one (account, signer, provider) track, paid to that provider. */
export const settlementClaim = onchainTable(
  "settlement_claim",
  (t) => ({
    id: t.text().primaryKey(),
    batchId: t.hex().notNull(),
    account: t.hex().notNull(),
    signer: t.hex().notNull(),
    /** The provider the voucher names, credited this claim's amount less its share of the fee. */
    provider: t.hex().notNull(),
    delegated: t.boolean().notNull(),
    amount: t.bigint().notNull(),
    /** The track's claimed total after this claim. */
    cumulative: t.bigint().notNull(),
    blockNumber: t.bigint().notNull(),
  }),
  (table) => ({ accountIdx: index().on(table.account), batchIdx: index().on(table.batchId), providerIdx: index().on(table.provider) }),
);

/** One row per provider: credits, withdrawals, balance, and the call counts settlements reported. */
export const providerAccount = onchainTable("provider_account", (t) => ({
  address: t.hex().primaryKey(),
  credited: t.bigint().notNull(),
  withdrawn: t.bigint().notNull(),
  balance: t.bigint().notNull(),
  callsServed: t.bigint().notNull(),
  callsFailed: t.bigint().notNull(),
  /** USDC settled to the provider (credits from batches and exact payments). */
  volume: t.bigint().notNull(),
  updatedBlock: t.bigint().notNull(),
}));

export const providerCredit = onchainTable(
  "provider_credit",
  (t) => ({
    id: t.text().primaryKey(),
    /** The settlement batch, or null for an x402 exact payment. */
    batchId: t.hex(),
    provider: t.hex().notNull(),
    /** What the provider was credited (after the fee). */
    amount: t.bigint().notNull(),
    /** The fee the escrow took on the payment (a batch's: on the provider's claims in it). */
    fee: t.bigint().notNull(),
    callsServed: t.bigint().notNull(),
    callsFailed: t.bigint().notNull(),
    payer: t.hex(),
    blockNumber: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    transactionHash: t.hex().notNull(),
  }),
  (table) => ({ providerIdx: index().on(table.provider) }),
);

export const providerWithdrawal = onchainTable(
  "provider_withdrawal",
  (t) => ({
    id: t.text().primaryKey(),
    provider: t.hex().notNull(),
    to: t.hex().notNull(),
    amount: t.bigint().notNull(),
    blockNumber: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    transactionHash: t.hex().notNull(),
  }),
  (table) => ({ providerIdx: index().on(table.provider) }),
);

/** The last block the indexer processed, per chain. */
export const indexedHead = onchainTable("indexed_head", (t) => ({
  chainId: t.integer().primaryKey(),
  blockNumber: t.bigint().notNull(),
  blockHash: t.hex().notNull(),
  timestamp: t.bigint().notNull(),
}));

/** Feedback a paying agent left on a call, proven by the proxy's receipt (one per call). */
export const feedback = onchainTable(
  "feedback",
  (t) => ({
    requestId: t.hex().primaryKey(),
    provider: t.hex().notNull(),
    serviceId: t.hex().notNull(),
    payer: t.hex().notNull(),
    score: t.integer().notNull(),
    tags: t.text().array().notNull(),
    amount: t.bigint().notNull(),
    blockNumber: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (table) => ({ serviceIdx: index().on(table.provider, table.serviceId) }),
);

/** Running feedback totals per (provider, service): the reputation score's feedback input. */
export const serviceFeedback = onchainTable(
  "service_feedback",
  (t) => ({
    id: t.text().primaryKey(),
    provider: t.hex().notNull(),
    serviceId: t.hex().notNull(),
    feedbackCount: t.bigint().notNull(),
    scoreSum: t.bigint().notNull(),
    /** USDC the feedback givers paid for the rated calls. */
    ratedVolume: t.bigint().notNull(),
  }),
  (table) => ({ providerIdx: index().on(table.provider) }),
);

/** Keys currently allowed to sign receipts. */
export const receiptSigner = onchainTable("receipt_signer", (t) => ({
  address: t.hex().primaryKey(),
  allowed: t.boolean().notNull(),
  updatedBlock: t.bigint().notNull(),
}));

/** The escrow's settings that change over time: its fee rate (from `FeeRateUpdated`; until the first, the deployment's). */
export const escrowSettings = onchainTable("escrow_settings", (t) => ({
  escrow: t.hex().primaryKey(),
  feeBps: t.integer().notNull(),
  updatedBlock: t.bigint().notNull(),
}));
