import type { FastifyInstance, FastifySchemaValidationError } from "fastify";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Address } from "viem";

import { getAgentAccount, getProviderAccount } from "@agenttab/indexer/read";
import { getSpendableBalance } from "@agenttab/ledger";

import { decodeTransactionCursor, encodeTransactionCursor, listTransactions, providerUnsettledEarnings, spendingReport } from "../accounts/reads.ts";
import {
  AccountParams,
  BalanceResponse,
  EarningsResponse,
  SignInHeaders,
  SpendingQuery,
  SpendingResponse,
  TransactionsQuery,
  TransactionsResponse,
} from "../accounts/schemas.ts";
import signIn, { requireOwnAddress } from "../auth/plugin.ts";
import { requireAccountOrDelegate } from "../auth/delegates.ts";
import { unauthorized } from "../auth/signIn.ts";
import { addressKey } from "../config.ts";
import { ApiError } from "../errors.ts";
import { ErrorResponse } from "../services/schemas.ts";

const DEFAULT_PAGE_SIZE = 20;
const DAY_MS = 86_400_000;
const PERIOD_MS = { day: DAY_MS, week: 7 * DAY_MS, month: 30 * DAY_MS } as const;
const DEFAULT_SPENDING_PERIOD_MS = PERIOD_MS.month;

// Schema failures on these fields get their own code; everything else is `invalid_request`.
const fieldCodes: Record<string, string> = {
  address: "invalid_address",
  cursor: "invalid_cursor",
  limit: "invalid_limit",
  service_id: "invalid_service_id",
  from: "invalid_time_range",
  to: "invalid_time_range",
  period: "invalid_time_range",
};

function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const [first] = errors;
  const field = first?.instancePath.split("/")[1] ?? "";
  const message = `${dataVar}${first?.instancePath ?? ""} ${first?.message ?? "is invalid"}`;
  // A sign-in header that cannot even be a token is a failed sign-in, like a garbled one.
  if (dataVar === "headers") return unauthorized("invalid_authorization", message);
  return new ApiError({ status: 400, code: fieldCodes[field] ?? "invalid_request", message });
}

const errorResponses = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse };

const invalidTimeRange = (message: string) => new ApiError({ status: 400, code: "invalid_time_range", message });

function parseTime(text: string, field: string): Date {
  const time = new Date(text);
  // Validation already checked the form; this catches what a Date cannot hold (e.g. 23:59:60).
  if (Number.isNaN(time.getTime()) || time.getTime() < 0) throw invalidTimeRange(`${field} must be a time from 1970 on`);
  return time;
}

function checkTimeRange(from: Date | undefined, to: Date | undefined) {
  if (from !== undefined && to !== undefined && from.getTime() >= to.getTime()) throw invalidTimeRange("from must be before to");
}

async function indexerView(app: FastifyInstance) {
  const { ok, status } = await app.chain.fresh();
  return { indexedBlock: status.indexedBlock === undefined ? null : status.indexedBlock.toString(), fresh: ok };
}

/**
 * Reading your own money, signed in (`Authorization: AgentTab <token>`, see `signIn` in the SDK)
 * as the path's address (an agent's data also by its active on-chain delegates); anyone else gets
 * 403 and learns nothing. Amounts are USDC atomic units
 * as decimal strings.
 *
 *   GET /v1/agents/:address/balance        on-chain balance less what is spoken for
 *   GET /v1/agents/:address/transactions   charges and settled exact payments, newest first, cursor pages, filters
 *   GET /v1/agents/:address/spending       totals per period and per service, both schemes
 *   GET /v1/providers/:address/earnings    pending off-chain, settled and withdrawable on-chain
 */
const accounts: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(signIn);
  const preHandler = [app.requireSignIn, requireOwnAddress];
  // An agent's delegates may read the account they spend from; a provider's earnings stay its own.
  const agentPreHandler = [app.requireSignIn, requireAccountOrDelegate(app)];
  app.addHook("onSend", async (_request, reply) => {
    reply.header("cache-control", "private, no-store");
  });

  app.get(
    "/v1/agents/:address/balance",
    {
      schema: { params: AccountParams, headers: SignInHeaders, response: { 200: BalanceResponse, ...errorResponses } },
      schemaErrorFormatter,
      preHandler: agentPreHandler,
    },
    async (request) => {
      const account = addressKey(request.params.address);
      // The spendable balance as reserve_call computes it; the deposit and the unlock time beside it.
      const spendable = await getSpendableBalance(app.sql, { account, viewsSchema: app.chain.reader.viewsSchema });
      const indexed = await getAgentAccount(app.chain.reader, { account: account as Address });
      return {
        account,
        deposited: (indexed?.deposited ?? 0n).toString(),
        balance: spendable.balance.toString(),
        withdrawing: spendable.pendingWithdrawal.toString(),
        withdrawalUnlockAt: indexed?.withdrawalUnlockAt?.toString() ?? null,
        unsettled: spendable.unsettled.toString(),
        reserved: spendable.reserved.toString(),
        pending: spendable.held.toString(),
        available: spendable.available.toString(),
        indexer: await indexerView(app),
      };
    },
  );

  app.get(
    "/v1/agents/:address/transactions",
    {
      schema: {
        params: AccountParams,
        headers: SignInHeaders,
        querystring: TransactionsQuery,
        response: { 200: TransactionsResponse, ...errorResponses },
      },
      schemaErrorFormatter,
      preHandler: agentPreHandler,
    },
    async (request) => {
      const { query } = request;
      const from = query.from === undefined ? undefined : parseTime(query.from, "from");
      const to = query.to === undefined ? undefined : parseTime(query.to, "to");
      checkTimeRange(from, to);
      const after = query.cursor === undefined ? undefined : decodeTransactionCursor(query.cursor);
      if (query.cursor !== undefined && after === undefined) {
        throw new ApiError({ status: 400, code: "invalid_cursor", message: "cursor must be a nextCursor this API returned" });
      }
      const { transactions, next } = await listTransactions(app.sql, {
        account: addressKey(request.params.address),
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        after,
        serviceId: query.service_id,
        from,
        to,
        // A delegate sees the escrow it spends from, not the owner's wallet-level `exact` payments.
        includeExact: request.signedInAccount === addressKey(request.params.address),
      });
      return {
        items: transactions.map((transaction) => ({
          ...transaction,
          amount: transaction.amount.toString(),
          fee: transaction.fee.toString(),
          cumulative: transaction.cumulative.toString(),
          createdAt: transaction.createdAt.toISOString(),
        })),
        nextCursor: next === undefined ? null : encodeTransactionCursor(next),
      };
    },
  );

  app.get(
    "/v1/agents/:address/spending",
    {
      schema: { params: AccountParams, headers: SignInHeaders, querystring: SpendingQuery, response: { 200: SpendingResponse, ...errorResponses } },
      schemaErrorFormatter,
      preHandler: agentPreHandler,
    },
    async (request) => {
      const { period, ...range } = request.query;
      if (period !== undefined && (range.from !== undefined || range.to !== undefined)) {
        throw invalidTimeRange("Pass either period or from/to, not both");
      }
      const to = range.to === undefined ? new Date() : parseTime(range.to, "to");
      const from =
        range.from === undefined ? new Date(to.getTime() - (period === undefined ? DEFAULT_SPENDING_PERIOD_MS : PERIOD_MS[period])) : parseTime(range.from, "from");
      checkTimeRange(from, to);
      const account = addressKey(request.params.address);
      const report = await spendingReport(app.sql, { account, from, to, includeExact: request.signedInAccount === account });
      const totals = (t: { total: bigint; calls: number; averagePerCall: bigint }) => ({
        total: t.total.toString(),
        calls: t.calls,
        averagePerCall: t.averagePerCall.toString(),
      });
      return {
        account,
        from: from.toISOString(),
        to: to.toISOString(),
        ...totals(report),
        byService: report.byService.map((s) => ({ serviceId: s.serviceId, ...totals(s) })),
      };
    },
  );

  app.get(
    "/v1/providers/:address/earnings",
    {
      schema: { params: AccountParams, headers: SignInHeaders, response: { 200: EarningsResponse, ...errorResponses } },
      schemaErrorFormatter,
      preHandler,
    },
    async (request) => {
      const provider = addressKey(request.params.address);
      // Two stores: a settlement marks its charges in the ledger and credits the provider on-chain
      // in separate steps, so for a moment around a settlement a batch may count in both or neither.
      const unsettled = await providerUnsettledEarnings(app.sql, { provider });
      const indexed = await getProviderAccount(app.chain.reader, { provider: provider as Address });
      return {
        provider,
        pending: unsettled.pending.toString(),
        pendingCalls: unsettled.calls,
        settled: (indexed?.credited ?? 0n).toString(),
        withdrawable: (indexed?.balance ?? 0n).toString(),
        withdrawn: (indexed?.withdrawn ?? 0n).toString(),
        indexer: await indexerView(app),
      };
    },
  );
};

export default accounts;
