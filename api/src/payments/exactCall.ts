import { randomUUID } from "node:crypto";

import type { PaymentRequirements } from "@x402/core/types";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errors as undiciErrors } from "undici";
import type { Dispatcher } from "undici";
import { BaseError, ContractFunctionRevertedError, createPublicClient, http } from "viem";
import type { Address, Hex } from "viem";

import { agentTabEscrowAbi, serviceIdToBytes32 } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";
import type { Relayer } from "../plugins/relayer.ts";
import { billingHeaders } from "./billing.ts";
import {
  checkExactAuthorization,
  decodeExactPayment,
  exactPaymentResponseHeader,
  exactRequirements,
  exactRevertError,
  isExactPaymentHeader,
  transferAuthorizationDigest,
} from "./exact.ts";
import type { ExactAuthorization } from "./exact.ts";
import { countExactAttempt, exactClientKey, exactPayerKey } from "./exactRateLimit.ts";
import type { ExactAttemptLimit } from "./exactRateLimit.ts";
import { pruneExactPayments, reconcileExactPayments } from "./exactReconcile.ts";
import { feeOf } from "./pricing.ts";
import type { ServicePricing } from "./pricing.ts";
import { receiptSigner, requestIdToBytes32 } from "./receipts.ts";
import { recoverSigner } from "./recoverSigner.ts";
import { paymentRequiredHeader, voucherRequirements } from "./x402.ts";

/** The service being paid for, as the proxy loaded it. */
export type ExactService = ServicePricing & { id: string; provider: Address; name: string };

/** What the proxy hands over for one exact-paid call. */
export type ExactCallParameters = {
  request: FastifyRequest;
  reply: FastifyReply;
  service: ExactService;
  /** The PAYMENT-SIGNATURE header (an `exact` payload). */
  header: string;
  /** The resource URL the 402s name. */
  resourceUrl: string;
  path: string;
  /** `performance.now()` when the request arrived. */
  started: number;
  /** Sends the call upstream (the proxy's own forwarding). */
  forward: () => Promise<Dispatcher.ResponseData>;
  /** Copies the upstream's response headers that may cross the proxy onto the reply. */
  relayHeaders: (headers: Dispatcher.ResponseData["headers"]) => void;
};

type Outcome = { status: "settled" | "released" | "failed"; upstreamStatus?: number | null; latencyMs?: number; txHash?: Hex; blockNumber?: bigint; error?: string | null };

/**
 * x402 `exact` payments on the proxy, offered only with a relayer (it needs the escrow's settler
 * role) and only for fixed-price services. A paid call: decode and check the EIP-3009
 * authorization, count the attempt against the payer's and the client's rate limits, verify its
 * signature (ECDSA; a contract wallet's is left to the simulation), record it (one call per
 * authorization, ever), simulate `settleExactPayment`, forward, read the upstream's whole response,
 * and only when it answered below 500 and its body arrived whole settle it on-chain, then send the
 * response. Anything refused before settling, or whose settlement reverted, moves no money; a
 * settlement whose outcome is unknown (receipt timeout, RPC error, replaced transaction) stays
 * `pending` for the reconciler.
 *
 * @example
 * const exact = app.relayer ? exactPayments(app, app.relayer) : undefined;
 * const offers = exact?.offers(service) ?? [];
 * if (exact?.handles(header)) return exact.pay({ request, reply, service, header, resourceUrl, path, started, forward, relayHeaders });
 */
export function exactPayments(app: FastifyInstance, relayer: Relayer) {
  const { deployment } = app.config;
  const receipts = receiptSigner({ chainId: deployment.chainId, reputation: deployment.reputation, privateKey: app.config.receiptSignerKey });
  const publicClient = createPublicClient({ transport: http(app.config.rpcUrl, { timeout: 5_000, retryCount: 1 }) });
  // An authorization must outlive the upstream call and the settlement that follows it.
  const marginSeconds = BigInt(Math.ceil(app.config.upstreamTimeoutMs / 1000) + 15);
  const maxTimeoutSeconds = Number(marginSeconds) + 30;
  const { exactRateLimit, maxExactResponseBytes } = app.config;
  const countAttempt = (service: ExactService, limits: ExactAttemptLimit[]) =>
    countExactAttempt(app.sql, { serviceId: service.id, windowMs: exactRateLimit.windowMs, limits });

  // Rows a crash left pending are closed from the chain, once no live call can still own them; rows
  // that moved no money are dropped once their authorization has expired (and a day has passed).
  let reconciling = false;
  const reconciler = setInterval(() => {
    if (reconciling) return;
    reconciling = true;
    const reconciled = reconcileExactPayments(app, { publicClient, olderThanMs: app.config.upstreamTimeoutMs + 120_000 })
      .then((done) => {
        if (done.settled + done.released + done.failed > 0) app.log.warn(done, "reconciled pending exact payments");
      })
      .catch((error: unknown) => app.log.error({ err: error }, "exact payment reconciliation failed"));
    const pruned = pruneExactPayments(app.sql, { olderThanMs: CLOSED_ROW_RETENTION_MS }).catch((error: unknown) => app.log.error({ err: error }, "exact payment pruning failed"));
    void Promise.all([reconciled, pruned]).finally(() => {
      reconciling = false;
    });
  }, 60_000);
  reconciler.unref();
  app.addHook("onClose", async () => clearInterval(reconciler));

  const offers = (service: ServicePricing): PaymentRequirements[] =>
    service.pricing === "fixed" && service.price > 0n ? [exactRequirements({ deployment, price: service.price, maxTimeoutSeconds })] : [];

  const finish = async (requestId: string, service: ExactService, outcome: Outcome) => {
    await app.sql.begin(async (tx) => {
      const [payment] = await tx<{ payer: string }[]>`
        UPDATE exact_payments SET status = ${outcome.status}, upstream_status = ${outcome.upstreamStatus ?? null},
          latency_ms = ${outcome.latencyMs ?? null}, tx_hash = ${outcome.txHash ?? null},
          block_number = ${outcome.blockNumber?.toString() ?? null}, error = ${outcome.error ?? null}, updated_at = now()
        WHERE request_id = ${requestId}
        RETURNING payer`;
      // Calls that reached the upstream join its record, as voucher-paid calls do. A failure goes
      // through record_failed_call (ledger/functions): it counts against the service only with a paid
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

  async function pay({ request, reply, service, header, resourceUrl, path, started, forward, relayHeaders }: ExactCallParameters): Promise<FastifyReply> {
    // A refusal a new payment could fix is a 402 that offers again, naming the error.
    const refuse = (error: ApiError) => {
      if (error.status === 402) {
        reply.header(
          "payment-required",
          paymentRequiredHeader({
            url: resourceUrl,
            description: service.name,
            error: error.code,
            requirements: [voucherRequirements({ deployment, amount: service.maxPrice, provider: service.provider }), ...offers(service)],
          }),
        );
      }
      return error;
    };
    if (offers(service).length === 0) {
      throw new ApiError({ status: 400, code: "unsupported_scheme", message: `"${service.id}" is not priced per call; pay it with the agenttab-voucher scheme`, reason: "unsupported_scheme" });
    }
    const authorization = decodeExactPayment(header, deployment);
    const payerLimit = { key: exactPayerKey(authorization.from), max: exactRateLimit.perPayer };
    const clientLimit = { key: exactClientKey(request.ip), max: exactRateLimit.perClient };
    let proven: boolean;
    try {
      checkExactAuthorization(authorization, { price: service.price, now: BigInt(Math.floor(Date.now() / 1000)), marginSeconds, maxValiditySeconds: MAX_VALIDITY_SECONDS });
      proven = signedByFrom(authorization);
      // Counted before the attempt costs an RPC call or leaves a row. A `from` that only a contract
      // wallet could be is not proven until the simulation: counting it now would let anyone use up
      // any address's allowance by naming it; its attempts are held to the client's limit meanwhile.
      await countAttempt(service, proven ? [payerLimit, clientLimit] : [clientLimit]);
      if (!proven) await requireContractWallet(authorization);
    } catch (error) {
      throw error instanceof ApiError ? refuse(error) : error;
    }

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
      throw refuse(new ApiError({ status: 402, code: "authorization_used", message: "This authorization has already paid for a call", reason: "invalid_exact_evm_payload_authorization_nonce_used" }));
    }

    const write = {
      address: deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "settleExactPayment",
      args: [
        { from: authorization.from, value, validAfter: authorization.validAfter, validBefore: authorization.validBefore, nonce: authorization.nonce, provider: service.provider, fee },
        authorization.signature,
      ],
    } as const;
    try {
      await relayer.simulate(write);
    } catch (error) {
      const refusal = exactRevertError(error);
      if (refusal.status >= 500) request.log.warn({ err: error }, "exact payment simulation failed");
      await finish(requestId, service, { status: "released", error: refusal.code });
      throw refuse(refusal);
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

    /** Releases the payment of a call the upstream did not answer in full, and says why. */
    const upstreamFailed = async (error: unknown): Promise<ApiError> => {
      const latencyMs = elapsed(started);
      // What is not the upstream's failure (a request body over the limit, a client that hung up, a
      // response over the exact limit) must not count against the service's reliability, or anyone
      // could trip a quality gate for free.
      const proxySide = error instanceof ApiError;
      await finish(requestId, service, { status: "released", ...(proxySide ? {} : { upstreamStatus: null, latencyMs }), error: String((error as Error).message).slice(0, 500) });
      if (proxySide) return error;
      const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || (error as Error).name === "TimeoutError";
      const kind = timedOut ? "upstream_timeout" : "upstream_unreachable";
      app.metrics.calls.inc({ service: service.id, outcome: kind });
      app.metrics.upstreamErrors.inc({ service: service.id, kind });
      return new ApiError(
        timedOut
          ? { status: 504, code: "upstream_timeout", message: `The service did not answer in full within ${app.config.upstreamTimeoutMs} ms; the payment was not settled` }
          : { status: 502, code: "upstream_unreachable", message: "The service could not be reached, or its response was cut; the payment was not settled" },
      );
    };
    let upstream: Dispatcher.ResponseData;
    try {
      upstream = await forward();
    } catch (error) {
      throw await upstreamFailed(error);
    }
    if (upstream.statusCode >= 500) {
      upstream.body.resume();
      await finish(requestId, service, { status: "released", upstreamStatus: upstream.statusCode, latencyMs: elapsed(started) });
      app.metrics.calls.inc({ service: service.id, outcome: "upstream_failed" });
      app.metrics.upstreamErrors.inc({ service: service.id, kind: `http_${upstream.statusCode}` });
      throw new ApiError({
        status: 502,
        code: "upstream_failed",
        message: `The service failed with ${upstream.statusCode}; the payment was not settled`,
        details: { upstreamStatus: upstream.statusCode },
      });
    }

    // The whole response is in hand before the payment settles: a body that fails, is cut or runs
    // past the limit settles nothing, and the upstream's deadline (which runs until its body has
    // closed) can no longer cut a response once it is paid for, however long the settlement takes.
    let body: Buffer;
    try {
      body = await readWholeBody(upstream, maxExactResponseBytes);
    } catch (error) {
      if (error instanceof ApiError) app.metrics.calls.inc({ service: service.id, outcome: error.code });
      throw await upstreamFailed(error);
    }
    const latencyMs = elapsed(started);
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
      if (refusal.status === 402) throw refuse(refusal);
      throw new ApiError({ status: 502, code: "settlement_failed", message: "The escrow refused the settlement; the payment was not charged and the response was withheld" });
    }
    if (settlement.receipt.status !== "success") {
      // Mined and reverted: the authorization was not used, no USDC moved.
      request.log.error({ requestId, txHash: settlement.hash }, "exact payment settlement reverted");
      await finish(requestId, service, { status: "failed", upstreamStatus: upstream.statusCode, latencyMs, txHash: settlement.hash, blockNumber: settlement.receipt.blockNumber, error: "settlement_reverted" });
      throw new ApiError({ status: 502, code: "settlement_failed", message: "The settlement reverted on-chain; the payment was not charged and the response was withheld" });
    }
    try {
      await finish(requestId, service, {
        status: "settled",
        upstreamStatus: upstream.statusCode,
        latencyMs,
        txHash: settlement.hash,
        blockNumber: settlement.receipt.blockNumber,
      });
    } catch (error) {
      // The payment is on-chain: the payer gets what it paid for. The row stays pending and the
      // reconciler records it from the ExactPaymentSettled event.
      request.log.error({ err: error, requestId, txHash: settlement.hash }, "exact payment settled but not recorded; left pending for the reconciler");
    }
    app.metrics.calls.inc({ service: service.id, outcome: "exact_settled" });
    app.metrics.charged.inc({ service: service.id }, Number(value));
    app.metrics.callLatency.observe({ service: service.id }, latencyMs / 1000);

    const issuedAt = BigInt(Math.floor(Date.now() / 1000));
    // An exact payment stands alone: its receipt's cumulative is its own amount.
    const signed = {
      requestId: requestIdToBytes32(requestId),
      serviceId: serviceIdToBytes32(service.id),
      provider: service.provider,
      payer: authorization.from,
      amount: value,
      cumulative: value,
      issuedAt,
    };
    const receipt = {
      ...signed,
      amount: value.toString(),
      cumulative: value.toString(),
      issuedAt: issuedAt.toString(),
      signature: receipts.sign(signed),
      signer: receipts.address,
      reputation: deployment.reputation,
      transaction: settlement.hash,
    };
    relayHeaders(upstream.headers);
    reply
      .status(upstream.statusCode)
      .header("payment-response", exactPaymentResponseHeader({ deployment, payer: authorization.from, amount: value, transaction: settlement.hash, receipt }))
      .headers(billingHeaders({ amount: value, provider: service.provider, latencyMs, requestId }));
    return reply.send(body);
  }

  return {
    /** The `exact` entries a 402 for `service` offers (none for metered or free services). */
    offers,
    /** Whether a PAYMENT-SIGNATURE header is an `exact` payment this module takes. */
    handles: isExactPaymentHeader,
    pay,
  };
}

// The longest an authorization may stay valid: a row that moved no money is dropped once its
// authorization has expired, and this bounds how long that takes (stock x402 clients sign for the
// offer's `maxTimeoutSeconds`, a minute or so).
const MAX_VALIDITY_SECONDS = 86_400n;
// How long a row that moved no money (released, failed) is kept, for the record, once closed.
const CLOSED_ROW_RETENTION_MS = 86_400_000;

/**
 * The upstream's whole body, or a rejection: the body failed or was cut (undici's error: a closed
 * socket, the deadline's TimeoutError, a body timeout), or it ran past `limit` bytes
 * (`502 upstream_response_too_large`; a declared `content-length` past it is refused unread).
 */
function readWholeBody(upstream: Dispatcher.ResponseData, limit: number): Promise<Buffer> {
  const tooLarge = () =>
    new ApiError({ status: 502, code: "upstream_response_too_large", message: `The service's response is larger than the ${limit} bytes an exact payment can pay for; the payment was not settled` });
  const { body } = upstream;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Stays attached: undici reports a destroyed body's abort as an error, uncaught without a listener.
    body.on("error", reject);
    body.on("close", () => reject(new Error("The upstream's body closed before it ended")));
    body.on("end", () => resolve(Buffer.concat(chunks, size)));
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) body.destroy(tooLarge());
      else chunks.push(chunk);
    });
    if (Number(upstream.headers["content-length"] ?? 0) > limit) body.destroy(tooLarge());
  });
}

/** Whether a settlement error is the escrow's (or USDC's) decoded revert: nothing was sent, or it reverted. */
function isRevert(error: unknown): boolean {
  return error instanceof BaseError && error.walk((e) => e instanceof ContractFunctionRevertedError) instanceof ContractFunctionRevertedError;
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
