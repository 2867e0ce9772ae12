import type { PaymentRequirements } from "@x402/core/types";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Dispatcher } from "undici";

import { ApiError } from "../errors.ts";
import { relayableHeaders, requestReceived, upstreamForwarder } from "../forwarding/forward.ts";
import { proxiedTarget } from "../forwarding/path.ts";
import { readWholeBody } from "../forwarding/responseBody.ts";
import { publicOrigin } from "../lib/publicOrigin.ts";
import { billingHeaders } from "../payments/billing.ts";
import { paymentRequiredHeader } from "../payments/x402.ts";
import type { Authorization, PaidCall, PaymentMethod, Settlement, Unpaid } from "./paymentMethod.ts";
import { paidCallReceipts } from "./receipt.ts";
import type { PaidService, PaidServices } from "./services.ts";
import { upstreamErrorKind, upstreamFailureError } from "./upstreamFailure.ts";
import type { UpstreamFailure } from "./upstreamFailure.ts";

// `/v1/proxy/<service>`: the segments of the request-target that are the proxy's own.
const PROXY_PREFIX_SEGMENTS = 3;

/** The request of a paid call: `/v1/proxy/:serviceId/*`. */
export type PaidCallRequest = FastifyRequest<{ Params: { serviceId: string; "*": string } }>;

/**
 * The paid call, whatever pays for it: load the addressed service; refuse a price above
 * `X-Payment-Max-Amount` and a declared body over the limit; without PAYMENT-SIGNATURE, a 402
 * offering every method; otherwise let the method the header is meant for authorize it, forward
 * it, and classify the upstream's outcome once: a timeout (504 `upstream_timeout`), a connection
 * error (502 `upstream_unreachable`) or a 5xx (502 `upstream_failed`) is released through the
 * method and counted in `/metrics`; only the upstream's own failures join its record. An answer
 * below 500 is settled through the method (durably, before the response starts), its receipt
 * signed here, and the response sent with PAYMENT-RESPONSE and the `X-ACF-*` billing headers:
 * streamed, or read whole first when the method pays only for a complete response.
 *
 * `methods` come in the order a 402 offers them. The first is the house scheme: it takes every
 * header no other method `handles` (its decoder refuses what it cannot read).
 *
 * @example
 * const handler = paidCallPipeline(app, { services, methods: [voucherPayments(app, { services }), exactPayments(app, app.relayer)] });
 * app.route({ method: "POST", url: "/v1/proxy/:serviceId/*", handler });
 */
export function paidCallPipeline(app: FastifyInstance, { services, methods }: { services: PaidServices; methods: readonly [PaymentMethod, ...PaymentMethod[]] }) {
  const { deployment, maxBodyBytes, upstreamTimeoutMs } = app.config;
  const forward = upstreamForwarder(app);
  const receipts = paidCallReceipts({ chainId: deployment.chainId, reputation: deployment.reputation, privateKey: app.config.receiptSignerKey });
  const [house] = methods;
  const offersOf = paymentOffers(methods);

  /** The method a PAYMENT-SIGNATURE header is meant for. */
  const methodFor = (header: string): PaymentMethod => {
    for (let i = 1; i < methods.length; i++) if (methods[i]!.handles(header)) return methods[i]!;
    return house;
  };

  /** A 402 a new payment could fix offers every method again, naming the error, unless the method made its own offer. */
  const offerAgain = (call: PaidCall, error: unknown) => {
    if (error instanceof ApiError && error.status === 402 && !call.reply.hasHeader("payment-required")) {
      call.reply.header(
        "payment-required",
        paymentRequiredHeader({ url: call.resourceUrl, resource: call.service.listing.resource, extensions: call.service.listing.paymentRequiredExtensions, error: error.code, requirements: offersOf(call.service) }),
      );
    }
    return error;
  };

  /** Releases the payment of a call its upstream failed, counts the failure, and says what the caller gets. */
  const upstreamFailed = async (call: PaidCall, method: PaymentMethod, authorization: Authorization, failure: UpstreamFailure, reason: Unpaid) => {
    await method.release(call, authorization, reason);
    const serviceId = authorization.service.id;
    app.metrics.calls.inc({ service: serviceId, outcome: failure.kind });
    app.metrics.upstreamErrors.inc({ service: serviceId, kind: failure.kind === "upstream_failed" ? `http_${failure.upstreamStatus}` : failure.kind });
    return upstreamFailureError(failure, { timeoutMs: upstreamTimeoutMs, unpaid: method.unpaid, wholeResponse: method.wholeResponseBytes !== undefined });
  };

  /** An upstream exchange that threw: the proxy's own refusals pass through; the rest is the upstream's failure. */
  const exchangeFailed = async (call: PaidCall, method: PaymentMethod, authorization: Authorization, error: unknown, started: number) => {
    const reason: Unpaid = {
      upstreamStatus: null,
      error: String((error as Error).message).slice(0, 500),
      latencyMs: elapsed(started),
      // A body over the limit, a client that aborted or was still sending when the time ran out
      // are the client's, and would otherwise let anyone trip a quality gate with unpaid calls.
      upstreamsFault: !(error instanceof ApiError) && requestReceived(call.request),
    };
    if (error instanceof ApiError) {
      await method.release(call, authorization, reason);
      return error;
    }
    return upstreamFailed(call, method, authorization, { kind: upstreamErrorKind(error) }, reason);
  };

  return async function paidCall(request: PaidCallRequest, reply: FastifyReply): Promise<FastifyReply> {
    const started = performance.now();
    const target = proxiedTarget(request.raw.url ?? request.url, PROXY_PREFIX_SEGMENTS);
    const { path } = target;
    const { serviceId } = request.params;
    const service = await services.get(serviceId);

    const cap = parseMaxAmountHeader(request.headers["x-payment-max-amount"]);
    if (cap !== undefined && service.maxPrice > cap) {
      throw new ApiError({
        status: 402,
        code: "price_exceeds_max",
        message: `This call may cost up to ${service.maxPrice}, above X-Payment-Max-Amount ${cap}`,
        details: { price: service.maxPrice.toString(), max: cap.toString() },
      });
    }
    const declaredLength = Number(request.headers["content-length"] ?? 0);
    if (declaredLength > maxBodyBytes) {
      throw new ApiError({ status: 413, code: "body_too_large", message: `Bodies are limited to ${maxBodyBytes} bytes` });
    }

    const resourceUrl = `${publicOrigin(app.config, request)}/v1/proxy/${serviceId}${path}`;
    const header = request.headers["payment-signature"];
    if (header === undefined || header === "") {
      reply.header("payment-required", paymentRequiredHeader({ url: resourceUrl, resource: service.listing.resource, extensions: service.listing.paymentRequiredExtensions, requirements: offersOf(service) }));
      throw new ApiError({ status: 402, code: "payment_required", message: `Paying for "${serviceId}" takes a voucher in PAYMENT-SIGNATURE (x402 v2, scheme agenttab-voucher)` });
    }
    if (Array.isArray(header)) throw new ApiError({ status: 400, code: "invalid_payment_header", message: "Send one PAYMENT-SIGNATURE header", reason: "invalid_payload" });

    const method = methodFor(header);
    const call: PaidCall = { request, reply, service, header, resourceUrl, path, cap };
    let authorization: Authorization;
    try {
      authorization = await method.authorize(call);
    } catch (error) {
      throw offerAgain(call, error);
    }
    const served = authorization.service;

    let upstream: Dispatcher.ResponseData;
    try {
      upstream = await forward(request, served, target);
    } catch (error) {
      throw await exchangeFailed(call, method, authorization, error, started);
    }
    const { statusCode } = upstream;
    if (statusCode >= 500) {
      upstream.body.resume();
      throw await upstreamFailed(call, method, authorization, { kind: "upstream_failed", upstreamStatus: statusCode }, {
        upstreamStatus: statusCode,
        error: null,
        latencyMs: elapsed(started),
        upstreamsFault: true,
      });
    }
    // A method that pays only for a complete response has it in hand before settling: a body that
    // fails, is cut or runs past its limit is paid for by nobody, and the upstream's deadline (which
    // runs until its body has closed) can no longer cut a response once it is paid for.
    let body: Buffer | undefined;
    if (method.wholeResponseBytes !== undefined) {
      try {
        body = await readWholeBody(upstream, method.wholeResponseBytes);
      } catch (error) {
        if (error instanceof ApiError) app.metrics.calls.inc({ service: served.id, outcome: error.code });
        throw await exchangeFailed(call, method, authorization, error, started);
      }
    }

    const latencyMs = elapsed(started);
    let settlement: Settlement;
    try {
      settlement = await method.settle(call, authorization, upstream, latencyMs);
    } catch (error) {
      throw offerAgain(call, error);
    }
    const { requestId, payer } = authorization;
    const { amount } = settlement;
    const receipt = receipts.issue({ requestId, serviceId: served.id, provider: served.provider, payer, settlement });
    app.metrics.calls.inc({ service: served.id, outcome: method.paidOutcome });
    app.metrics.charged.inc({ service: served.id }, Number(amount));
    app.metrics.callLatency.observe({ service: served.id }, latencyMs / 1000);

    for (const [name, value] of relayableHeaders(upstream.headers)) reply.header(name, value);
    reply
      .status(statusCode)
      .header("payment-response", method.paymentResponse(authorization, settlement, receipt))
      .headers(billingHeaders({ amount, provider: served.provider, latencyMs, requestId }));
    return reply.send(body ?? upstream.body);
  };
}

/**
 * What a 402 for a service offers: every method's offers, in the methods' order. Discovery lists
 * the same offers (`api/src/routes/discovery.ts`), so a client can pay from a listing as from a 402.
 *
 * @example
 * const offersOf = paymentOffers(methods);
 * offersOf(service); // [{ scheme: "agenttab-voucher", … }, { scheme: "exact", … }]
 */
export function paymentOffers(methods: readonly PaymentMethod[]): (service: PaidService) => PaymentRequirements[] {
  return (service) => methods.flatMap((method) => method.offers(service));
}

function parseMaxAmountHeader(value: string | string[] | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) || !/^(0|[1-9][0-9]{0,38})$/.test(value.trim())) {
    throw new ApiError({ status: 400, code: "invalid_max_amount", message: "X-Payment-Max-Amount must be one decimal amount of USDC atomic units" });
  }
  return BigInt(value.trim());
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
