import { Type } from "typebox";

import { AddressString, ServiceId } from "../services/schemas.ts";

/** USDC atomic units as a decimal string. */
const Amount = Type.String({ pattern: "^[0-9]+$", description: "USDC atomic units, decimal" });
const Time = Type.String({ format: "date-time", description: "ISO 8601 with a time zone, e.g. 2025-01-31T00:00:00Z" });

export const AccountParams = Type.Object({ address: AddressString });

/** Only the sign-in header; its form is checked by the sign-in verifier, which answers 401. */
export const SignInHeaders = Type.Object({ authorization: Type.Optional(Type.String({ maxLength: 2_048 })) });

const IndexerView = Type.Object({
  /** The last block the index reflects; null before the indexer's first block. */
  indexedBlock: Type.Union([Type.String(), Type.Null()]),
  /** Whether the index is within the lag bound the proxy spends on. */
  fresh: Type.Boolean(),
});

export const BalanceResponse = Type.Object({
  account: Type.String(),
  /** All-time deposits (on-chain). */
  deposited: Amount,
  /** USDC in the escrow now (on-chain, indexed). */
  balance: Amount,
  /** A requested withdrawal not yet finalized: counted as spent. */
  withdrawing: Amount,
  /** Unix seconds from which that withdrawal can be finalized, or null. */
  withdrawalUnlockAt: Type.Union([Type.String(), Type.Null()]),
  /** Charged by the proxy, not yet claimed on-chain. */
  unsettled: Amount,
  /** Held by calls in flight. */
  reserved: Amount,
  /** unsettled + reserved. */
  pending: Amount,
  /** max(0, balance − withdrawing − unsettled − reserved): what new calls may spend. */
  available: Amount,
  indexer: IndexerView,
});

export const TransactionsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: "1 to 100; 20 by default" })),
    /** `nextCursor` of the previous page. */
    cursor: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,128}$" })),
    service_id: Type.Optional(ServiceId),
    /** Inclusive. */
    from: Type.Optional(Time),
    /** Exclusive. */
    to: Type.Optional(Time),
  },
  { additionalProperties: false },
);

/** One paid call: a voucher charge, or an x402 `exact` payment that settled. */
const Transaction = Type.Object({
  requestId: Type.String(),
  /** How it was paid: a cumulative voucher against the escrow, or an `exact` (EIP-3009) payment settled on-chain per call. */
  scheme: Type.Union([Type.Literal("agenttab-voucher"), Type.Literal("exact")]),
  serviceId: Type.String(),
  provider: Type.String(),
  /** The key that paid: a voucher's signer (the account itself or one of its delegates), or the exact payment's payer. */
  signer: Type.String(),
  amount: Amount,
  /** The platform's part of `amount`. */
  fee: Amount,
  /** The (signer, provider) spend track's charged total after this call; for an exact payment, its own amount (as on its receipt). */
  cumulative: Amount,
  method: Type.String(),
  path: Type.String(),
  /** Null only for an exact payment a crash left open and the chain later showed settled. */
  upstreamStatus: Type.Union([Type.Integer(), Type.Null()]),
  /** Null when `upstreamStatus` is. */
  latencyMs: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String(),
  /** The settlement batch that claimed a voucher charge on-chain; null while unsettled, and for exact payments. */
  settlementBatch: Type.Union([Type.String(), Type.Null()]),
  /** The exact payment's settlement transaction hash; null for voucher charges (see `settlementBatch`). */
  transaction: Type.Union([Type.String(), Type.Null()]),
});

export const TransactionsResponse = Type.Object({
  items: Type.Array(Transaction),
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const SpendingQuery = Type.Object(
  {
    /** A period ending now; instead of from/to. */
    period: Type.Optional(Type.Union([Type.Literal("day"), Type.Literal("week"), Type.Literal("month")])),
    /** Inclusive; 30 days before `to` by default. */
    from: Type.Optional(Time),
    /** Exclusive; now by default. */
    to: Type.Optional(Time),
  },
  { additionalProperties: false },
);

const SpendingTotals = {
  total: Amount,
  calls: Type.Integer(),
  /** floor(total / calls); 0 without calls. */
  averagePerCall: Amount,
};

export const SpendingResponse = Type.Object({
  account: Type.String(),
  from: Type.String(),
  to: Type.String(),
  ...SpendingTotals,
  /** Biggest spend first. */
  byService: Type.Array(Type.Object({ serviceId: Type.String(), ...SpendingTotals })),
});

export const EarningsResponse = Type.Object({
  provider: Type.String(),
  /** Earned through the proxy (net of the fee), not yet credited on-chain by a settlement. */
  pending: Amount,
  /** Calls behind `pending`. */
  pendingCalls: Type.Integer(),
  /** All-time credits on-chain (settlements and exact payments), net of fees. */
  settled: Amount,
  /** Withdrawable on-chain now. */
  withdrawable: Amount,
  /** All-time withdrawals on-chain. */
  withdrawn: Amount,
  indexer: IndexerView,
});
