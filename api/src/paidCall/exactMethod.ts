import { randomUUID } from "node:crypto";

import type { FastifyInstance } from "fastify";
import { BaseError, ContractFunctionRevertedError, createPublicClient, http } from "viem";
import type { Address, Hex } from "viem";

import { agentTabEscrowAbi } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";
import type { Relayer } from "../plugins/relayer.ts";
import {
  checkExactAuthorization,
  decodeExactPayment,
  exactPaymentResponseHeader,
  exactRequirements,
  exactRevertError,
  isExactPaymentHeader,
  transferAuthorizationDigest,
} from "../payments/exact.ts";
import type { ExactAuthorization } from "../payments/exact.ts";
import { countExactAttempt, exactClientKey, exactPayerKey } from "../payments/exactRateLimit.ts";
import type { ExactAttemptLimit } from "../payments/exactRateLimit.ts";
import { scheduleExactReconciliation } from "../payments/exactReconcile.ts";
import { feeOf } from "../payments/pricing.ts";
import { recoverSigner } from "../payments/recoverSigner.ts";
import type { Authorization, PaymentMethod } from "./paymentMethod.ts";
import type { PaidService } from "./services.ts";

/** An exact-paid call, authorized: its recorded EIP-3009 authorization and the settlement to send. */
export type ExactCallAuthorization = Authorization & { value: bigint; write: ReturnType<typeof settlementOf> };

/** How an `exact_payments` row is closed. */
type Closing = { status: "settled" | "released" | "failed"; upstreamStatus?: number | null; latencyMs?: number; txHash?: Hex; blockNumber?: bigint; error?: string | null };

// The longest an authorization may stay valid: a row that moved no money is dropped once its
// authorization has expired, and this bounds how long that takes (stock x402 clients sign for the
// offer's `maxTimeoutSeconds`, a minute or so).
const MAX_VALIDITY_SECONDS = 86_400n;

/**
 * x402 `exact` payments (EIP-3009) as a payment method of the paid call, offered only with a
 * relayer (it needs the escrow's exact-payment role) and only for fixed-price services.
 * Authorizing decodes and checks the authorization, counts the attempt against the payer's and the
 * client's rate limits, verifies its signature (ECDSA; a contract wallet's is left to the
 * simulation), records it (one call per authorization, ever) and simulates `settleExactPayment`.
 * The pipeline reads the upstream's whole response (`maxExactResponseBytes`) before settling, so
 * the payer gets the whole response it paid for or pays nothing: settling sends the settlement
 * on-chain. Anything refused before settling, or whose settlement reverted, moves no money; a
 * settlement whose outcome is unknown (receipt timeout, RPC error, replaced transaction) stays
 * `pending` for the reconciler, which this also schedules.
 *
 * @example
 * const methods = app.relayer ? [voucher, exactPayments(app, app.relayer)] : [voucher];
 */
export function exactPayments(app: FastifyInstance, relayer: Relayer): PaymentMethod<ExactCallAuthorization> {
  const { deployment } = app.config;
  const publicClient = createPublicClient({ transport: http(app.config.rpcUrl, { timeout: 5_000, retryCount: 1 }) });
  // An authorization must outlive the upstream call and the settlement that follows it.
  const marginSeconds = BigInt(Math.ceil(app.config.upstreamTimeoutMs / 1000) + 15);
  const maxTimeoutSeconds = Number(marginSeconds) + 30;
  const { exactRateLimit } = app.config;
  const countAttempt = (service: PaidService, limits: ExactAttemptLimit[]) =>
    countExactAttempt(app.sql, { serviceId: service.id, windowMs: exactRateLimit.windowMs, limits });
  scheduleExactReconciliation(app, { publicClient });

  const offers = (service: PaidService) =>
    service.pricing === "fixed" && service.price > 0n ? [exactRequirements({ deployment, price: service.price, maxTimeoutSeconds })] : [];

  const finish = async (requestId: string, service: PaidService, outcome: Closing) => {
    await app.sql.begin(async (tx) => {
      const [payment] = await tx<{ payer: string }[]>`
        UPDATE exact_payments SET status = ${outcome.status}, upstream_status = ${outcome.upstreamStatus ?? null},
          latency_ms = ${outcome.latencyMs ?? null}, tx_hash = ${outcome.txHash ?? null},
          block_number = ${outcome.blockNumber?.toString() ?? null}, error = ${outcome.error ?? null}, updated_at = now()
        WHERE request_id = ${requestId}
        RETURNING payer`;
      // Calls that reached the upstream join its record, as voucher-paid calls do. A failure goes
      // through record_failed_call (migrations/009): it counts against the service only with a paid
      // call of the payer behind it, within a daily cap.
      if (outcome.latencyMs === undefined || !payment) return;
      const upstreamStatus = outcome.upstreamStatus ?? null;
      if (upstreamStatus !== null && upstreamStatus < 500) {
        await tx`
          INSERT INTO call_outcomes (request_id, service_id, ok, upstream_status, latency_ms, account)
          VALUES (${requestId}, ${service.id}, true, ${upstreamStatus}, ${outcome.latencyMs}, ${payment.payer})
          ON CONFLICT (request_id) DO NOTHING`;
      } else {
        await tx`
          SELECT record_failed_call(${requestId}, ${payment.payer}, ${service.id}, ${upstreamStatus},
            ${upstreamStatus === null ? (outcome.error ?? null) : null}, ${outcome.latencyMs})`;
      }
    });
  };

  /** Whether the authorization's ECDSA signature recovers to its `from` (no RPC call). */
  const signedByFrom = (authorization: ExactAuthorization) => {
    const digest = transferAuthorizationDigest(authorization, { chainId: deployment.chainId, usdc: deployment.usdc });
    return authorization.signature.length === 132 && recoverSigner(digest, authorization.signature)?.toLowerCase() === authorization.from.toLowerCase();
  };

  /** A `from` its ECDSA signature does not prove must be a contract wallet, whose signature USDC checks (ERC-1271) in the simulation. */
  const requireContractWallet = async (authorization: ExactAuthorization) => {
    let code: Hex | undefined;
    try {
      code = await publicClient.getCode({ address: authorization.from });
    } catch {
      throw new ApiError({ status: 503, code: "chain_unavailable", message: "The chain could not be reached to check the payment; nothing was charged", headers: { "retry-after": "2" } });
    }
    if (code === undefined || code === "0x") {
      throw new ApiError({ status: 402, code: "invalid_signature", message: "The authorization's signature does not recover to its `from`", reason: "invalid_exact_evm_payload_signature" });
    }
  };

  return {
    offers,
    handles: isExactPaymentHeader,
    unpaid: "the payment was not settled",
    paidOutcome: "exact_settled",
    wholeResponseBytes: app.config.maxExactResponseBytes,

    // Every 402 thrown here is offered again by the pipeline (every method's offers, naming the error).
    async authorize({ request, service, header, path }) {
      if (offers(service).length === 0) {
        throw new ApiError({ status: 400, code: "unsupported_scheme", message: `"${service.id}" is not priced per call; pay it with the agenttab-voucher scheme`, reason: "unsupported_scheme" });
      }
      const authorization = decodeExactPayment(header, deployment);
      const payerLimit = { key: exactPayerKey(authorization.from), max: exactRateLimit.perPayer };
      const clientLimit = { key: exactClientKey(request.ip), max: exactRateLimit.perClient };
      checkExactAuthorization(authorization, { price: service.price, now: BigInt(Math.floor(Date.now() / 1000)), marginSeconds, maxValiditySeconds: MAX_VALIDITY_SECONDS });
      const proven = signedByFrom(authorization);
      // Counted before the attempt costs an RPC call or leaves a row. A `from` that only a contract
      // wallet could be is not proven until the simulation: counting it now would let anyone use up
      // any address's allowance by naming it; its attempts are held to the client's limit meanwhile.
      await countAttempt(service, proven ? [payerLimit, clientLimit] : [clientLimit]);
      if (!proven) await requireContractWallet(authorization);

      const { value } = authorization;
      const fee = feeOf(value, app.chain.feeBps());
      const requestId = randomUUID();
      const recorded = await app.sql`
        INSERT INTO exact_payments (request_id, payer, nonce, service_id, provider, value, fee, valid_before, signature, status, method, path)
        VALUES (${requestId}, ${authorization.from.toLowerCase()}, ${authorization.nonce}, ${service.id}, ${service.provider.toLowerCase()},
          ${value.toString()}, ${fee.toString()}, ${authorization.validBefore.toString()}, ${authorization.signature}, 'pending', ${request.method}, ${path})
        ON CONFLICT (payer, nonce) DO NOTHING
        RETURNING request_id`;
      if (recorded.length === 0) {
        throw new ApiError({ status: 402, code: "authorization_used", message: "This authorization has already paid for a call", reason: "invalid_exact_evm_payload_authorization_nonce_used" });
      }

      const write = settlementOf({ escrow: deployment.escrow, authorization, service, fee });
      try {
        await relayer.simulate(write);
      } catch (error) {
        const refusal = exactRevertError(error);
        if (refusal.status >= 500) request.log.warn({ err: error }, "exact payment simulation failed");
        await finish(requestId, service, { status: "released", error: refusal.code });
        throw refusal;
      }
      if (!proven) {
        // The simulation accepted the wallet's signature: `from` is proven, and now counts.
        try {
          await countAttempt(service, [payerLimit]);
        } catch (error) {
          await finish(requestId, service, { status: "released", error: error instanceof ApiError ? error.code : String(error).slice(0, 500) });
          throw error;
        }
      }
      return { service, requestId, payer: authorization.from, value, write };
    },

    async release(_call, { requestId, service }, unpaid) {
      // What is not the upstream's failure (a request body over the limit, a client that hung up, a
      // response over the exact limit) must not count against the service's reliability.
      await finish(requestId, service, {
        status: "released",
        ...(unpaid.upstreamsFault ? { upstreamStatus: unpaid.upstreamStatus, latencyMs: unpaid.latencyMs } : {}),
        error: unpaid.error,
      });
    },

    async settle({ request }, { requestId, service, value, write }, upstream, latencyMs) {
      let settlement: Awaited<ReturnType<Relayer["send"]>>;
      try {
        settlement = await relayer.send(write);
      } catch (error) {
        if (!isRevert(error)) {
          // A receipt timeout, an RPC error after the transaction may have been accepted, a replaced
          // transaction: it may still settle. The row stays pending; the reconciler closes it from the chain.
          request.log.error({ err: error, requestId }, "exact payment settlement unconfirmed; left pending for the reconciler");
          app.metrics.calls.inc({ service: service.id, outcome: "exact_unconfirmed" });
          throw new ApiError({
            status: 503,
            code: "settlement_unconfirmed",
            message: "The settlement's outcome is not known yet: the payment may still settle on-chain (check the authorization's nonce). The response was withheld",
            details: { requestId },
          });
        }
        // A decoded revert (simulation, gas estimate) sent nothing; USDC did not move.
        request.log.error({ err: error, requestId }, "exact payment settlement failed");
        const refusal = exactRevertError(error);
        await finish(requestId, service, { status: "failed", upstreamStatus: upstream.statusCode, latencyMs, error: `${refusal.code}: ${String((error as Error).message).slice(0, 400)}` });
        if (refusal.status === 402) throw refusal;
        throw new ApiError({ status: 502, code: "settlement_failed", message: "The escrow refused the settlement; the payment was not charged and the response was withheld" });
      }
      if (settlement.receipt.status !== "success") {
        // Mined and reverted: the authorization was not used, no USDC moved.
        request.log.error({ requestId, txHash: settlement.hash }, "exact payment settlement reverted");
        await finish(requestId, service, { status: "failed", upstreamStatus: upstream.statusCode, latencyMs, txHash: settlement.hash, blockNumber: settlement.receipt.blockNumber, error: "settlement_reverted" });
        throw new ApiError({ status: 502, code: "settlement_failed", message: "The settlement reverted on-chain; the payment was not charged and the response was withheld" });
      }
      try {
        await finish(requestId, service, { status: "settled", upstreamStatus: upstream.statusCode, latencyMs, txHash: settlement.hash, blockNumber: settlement.receipt.blockNumber });
      } catch (error) {
        // The payment is on-chain: the payer gets what it paid for. The row stays pending and the
        // reconciler records it from the ExactPaymentSettled event.
        request.log.error({ err: error, requestId, txHash: settlement.hash }, "exact payment settled but not recorded; left pending for the reconciler");
      }
      // An exact payment stands alone: its receipt's cumulative is its own amount.
      return { amount: value, cumulative: value, issuedAt: BigInt(Math.floor(Date.now() / 1000)), transaction: settlement.hash };
    },

    paymentResponse: ({ payer }, { amount, transaction }, receipt) =>
      exactPaymentResponseHeader({ deployment, payer, amount, transaction: transaction as Hex, receipt }),
  };
}

/** The escrow call that settles an authorization, paying `service`'s provider less the fee. */
function settlementOf({ escrow, authorization, service, fee }: { escrow: Address; authorization: ExactAuthorization; service: PaidService; fee: bigint }) {
  return {
    address: escrow,
    abi: agentTabEscrowAbi,
    functionName: "settleExactPayment",
    args: [
      { from: authorization.from, value: authorization.value, validAfter: authorization.validAfter, validBefore: authorization.validBefore, nonce: authorization.nonce, provider: service.provider, fee },
      authorization.signature,
    ],
  } as const;
}

/** Whether a settlement error is the escrow's (or USDC's) decoded revert: nothing was sent, or it reverted. */
function isRevert(error: unknown): boolean {
  return error instanceof BaseError && error.walk((e) => e instanceof ContractFunctionRevertedError) instanceof ContractFunctionRevertedError;
}
