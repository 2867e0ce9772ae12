import { randomUUID } from "node:crypto";

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { errors as undiciErrors } from "undici";
import type { Dispatcher } from "undici";
import { getAddress } from "viem";
import type { Address } from "viem";

import { charge, getTrackCharged, release } from "@agenttab/ledger";
import type { Reservation } from "@agenttab/ledger";
import { serviceIdToBytes32 } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";
import { gateRouter } from "../gates/router.ts";
import { reserveWithTeamRules } from "../teams/reserve.ts";
import { billingHeaders } from "../payments/billing.ts";
import { relayableHeaders, requestReceived, upstreamForwarder } from "../forwarding/forward.ts";
import { proxiedTarget } from "../forwarding/path.ts";
import { assertUpstreamHostAllowed } from "../forwarding/target.ts";
import { feeOf, priceOf } from "../payments/pricing.ts";
import type { ServicePricing } from "../payments/pricing.ts";
import { receiptSigner, requestIdToBytes32 } from "../payments/receipts.ts";
import { recoverSigner } from "../payments/recoverSigner.ts";
import { voucherDigester } from "../payments/voucherDigest.ts";
import {
  decodeVoucherPayment,
  paymentRequiredHeader,
  paymentResponseHeader,
  voucherRequirements,
} from "../payments/x402.ts";
import { exactPayments } from "../payments/exactCall.ts";
import { localAddresses } from "../services/upstreamUrl.ts";

// `/v1/proxy/<service>`: the segments of the request-target that are the proxy's own.
const PROXY_PREFIX_SEGMENTS = 3;

type ServiceRow = ServicePricing & {
  id: string;
  provider: Address;
  name: string;
  upstreamUrl: string;
};

const ProxyParams = Type.Object({
  serviceId: Type.String({ pattern: "^[a-z0-9][a-z0-9-]{2,63}$" }),
  "*": Type.String({ maxLength: 2048 }),
});

/**
 * The paid call: any method on `/v1/proxy/:serviceId/*`. Without payment → 402 with
 * PAYMENT-REQUIRED (x402 v2) naming the addressed service's provider as the payee; with
 * PAYMENT-SIGNATURE → verify the voucher, route it (quality gates), refuse it with 402
 * `wrong_provider` unless it pays the serving service's provider (the 402 names that provider and
 * the signer's charged total on its track, so one re-signed voucher gets through), reserve the
 * call's maximum on the (account, signer, provider) track, forward, charge the actual price and
 * sign the receipt (committed before answering), then stream the upstream's response with
 * PAYMENT-RESPONSE and the X-ACF-* billing headers. An upstream timeout, connection error or 5xx
 * releases the reservation: nothing is charged.
 */
export default async function proxy(app: FastifyInstance) {
  const { deployment } = app.config;
  const digestOf = voucherDigester({ chainId: deployment.chainId, escrow: deployment.escrow });
  const receipts = receiptSigner({ chainId: deployment.chainId, reputation: deployment.reputation, privateKey: app.config.receiptSignerKey });
  const maxAmountCap = (1n << 128n) - 1n;

  // Bodies are forwarded as streams, never parsed, in this plugin's scope.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));

  const forward = upstreamForwarder(app);
  const services = serviceCache(app);
  const gates = gateRouter(app);
  const exact = app.relayer ? exactPayments(app, app.relayer) : undefined;
  let freshness = { ok: false, checkedAt: 0 };
  let checking: Promise<boolean> | undefined;
  const indexIsFresh = async () => {
    // Re-checked every 200 ms (one query at a time): new spending stops within that time of the
    // index falling behind.
    if (Date.now() - freshness.checkedAt <= 200) return freshness.ok;
    checking ??= app.chain
      .fresh()
      .then(({ ok }) => {
        freshness = { ok, checkedAt: Date.now() };
        return ok;
      })
      .finally(() => {
        checking = undefined;
      });
    return checking;
  };

  app.route({
    method: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    url: "/v1/proxy/:serviceId/*",
    schema: { params: ProxyParams },
    handler: async (request: FastifyRequest<{ Params: { serviceId: string; "*": string } }>, reply: FastifyReply) => {
      const started = performance.now();
      let { serviceId } = request.params;
      const target = proxiedTarget(request.raw.url ?? request.url, PROXY_PREFIX_SEGMENTS);
      const { path } = target;
      let service = await services.get(serviceId);
      let maxAmount = service.maxPrice;

      const cap = parseMaxAmountHeader(request.headers["x-payment-max-amount"]);
      if (cap !== undefined && maxAmount > cap) {
        throw new ApiError({
          status: 402,
          code: "price_exceeds_max",
          message: `This call may cost up to ${maxAmount}, above X-Payment-Max-Amount ${cap}`,
          details: { price: maxAmount.toString(), max: cap.toString() },
        });
      }
      const declaredLength = Number(request.headers["content-length"] ?? 0);
      if (declaredLength > app.config.maxBodyBytes) {
        throw new ApiError({ status: 413, code: "body_too_large", message: `Bodies are limited to ${app.config.maxBodyBytes} bytes` });
      }

      const resourceUrl = `/v1/proxy/${serviceId}${path}`;
      const paymentHeader = request.headers["payment-signature"];
      if (paymentHeader === undefined || paymentHeader === "") {
        reply.header("payment-required", paymentRequiredHeader({ url: resourceUrl, description: service.name, requirements: [voucherRequirements({ deployment, amount: maxAmount, provider: service.provider }), ...(exact?.offers(service) ?? [])] }));
        throw new ApiError({ status: 402, code: "payment_required", message: `Paying for "${serviceId}" takes a voucher in PAYMENT-SIGNATURE (x402 v2, scheme agenttab-voucher)` });
      }
      if (Array.isArray(paymentHeader)) throw new ApiError({ status: 400, code: "invalid_payment_header", message: "Send one PAYMENT-SIGNATURE header", reason: "invalid_payload" });
      if (exact?.handles(paymentHeader)) {
        return exact.pay({ request, reply, service, header: paymentHeader, resourceUrl, path, started, forward: () => forward(request, service, target), relayHeaders: (headers) => relayUpstreamHeaders(reply, headers) });
      }
      const payment = decodeVoucherPayment(paymentHeader, deployment);
      // A 402 offers a voucher for the service that would serve the call (the backup once routed).
      const refuse = (code: string, message: string, extra: { charged?: bigint; reason?: string; details?: Record<string, unknown> } = {}) => {
        reply.header(
          "payment-required",
          paymentRequiredHeader({
            url: resourceUrl,
            description: service.name,
            error: code,
            requirements: voucherRequirements({ deployment, amount: maxAmount, provider: service.provider, charged: extra.charged }),
          }),
        );
        return new ApiError({ status: 402, code, message, reason: extra.reason ?? "invalid_payload", ...(extra.details ? { details: extra.details } : {}) });
      };
      if (recoverSigner(digestOf(payment), payment.signature)?.toLowerCase() !== payment.signer.toLowerCase()) {
        throw refuse("invalid_signature", "The voucher's signature does not recover to its signer");
      }
      if (!(await indexIsFresh())) {
        throw new ApiError({ status: 503, code: "index_stale", message: "The chain index is behind; no new spending until it catches up", headers: { "retry-after": "2" } });
      }

      // Quality gates (api/src/gates): a call to a degraded primary is served by its backup.
      ({ service } = await gates.route({ account: payment.account, service, cap, payee: payment.provider, load: (id) => services.get(id) }));
      serviceId = service.id;
      maxAmount = service.maxPrice;
      reply.header("x-acf-served-by", serviceId);

      // The voucher pays the provider it names and no other: nothing is reserved on any track for
      // a voucher made out to another provider (another service's, or the primary's when a gate
      // routed the call to a backup run by someone else).
      if (payment.provider.toLowerCase() !== service.provider.toLowerCase()) {
        const charged = await getTrackCharged(app.sql, { account: payment.account, signer: payment.signer, provider: service.provider });
        throw refuse("wrong_provider", `"${serviceId}" is served by ${getAddress(service.provider)}; the voucher pays ${payment.provider}. Sign one for ${getAddress(service.provider)}`, {
          charged,
          details: { provider: getAddress(service.provider), servedBy: serviceId, charged: charged.toString() },
        });
      }

      const requestId = randomUUID();
      let reservation: Reservation;
      try {
        reservation = await reserveWithTeamRules(app.sql, {
          addressedServiceId: request.params.serviceId,
          requestId,
          account: payment.account,
          signer: payment.signer,
          provider: service.provider,
          serviceId,
          maxAmount: maxAmount > maxAmountCap ? maxAmountCap : maxAmount,
          voucherMax: payment.maxCumulative,
          signature: payment.signature,
          viewsSchema: app.config.chainViewsSchema,
          ttlMs: app.config.reservationTtlMs,
          rateLimit: app.config.rateLimit,
        });
      } catch (error) {
        if (error instanceof ApiError && error.status === 402) {
          if (error.headers) reply.headers(error.headers);
          const charged = error.details?.charged;
          throw refuse(error.code, error.message, {
            ...(typeof charged === "string" ? { charged: BigInt(charged) } : {}),
            reason: error.reason ?? "invalid_payload",
            ...(error.details ? { details: error.details } : {}),
          });
        }
        throw error;
      }
      reply.header("x-acf-rate-limit-remaining", String(reservation.rateRemaining));

      let upstream: Dispatcher.ResponseData;
      try {
        upstream = await forward(request, service, target);
      } catch (error) {
        // Only the upstream's failures join its record (call_outcomes, which quality gates judge it
        // on): a body over the limit, a client that aborted or was still sending when the time ran
        // out are the client's, and would otherwise let anyone trip a gate with uncharged calls.
        const upstreamsFault = !(error instanceof ApiError) && requestReceived(request);
        await release(app.sql, reservation, upstreamsFault ? { upstreamStatus: null, error: String((error as Error).message).slice(0, 500), latencyMs: elapsed(started) } : undefined);
        if (error instanceof ApiError) throw error;
        const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || (error as Error).name === "TimeoutError";
        const kind = timedOut ? "upstream_timeout" : "upstream_unreachable";
        app.metrics.calls.inc({ service: serviceId, outcome: kind });
        app.metrics.upstreamErrors.inc({ service: serviceId, kind });
        throw new ApiError(
          timedOut
            ? { status: 504, code: "upstream_timeout", message: `The service did not answer within ${app.config.upstreamTimeoutMs} ms; nothing was charged` }
            : { status: 502, code: "upstream_unreachable", message: "The service could not be reached; nothing was charged" },
        );
      }
      if (upstream.statusCode >= 500) {
        upstream.body.resume();
        await release(app.sql, reservation, { upstreamStatus: upstream.statusCode, error: null, latencyMs: elapsed(started) });
        app.metrics.calls.inc({ service: serviceId, outcome: "upstream_failed" });
        app.metrics.upstreamErrors.inc({ service: serviceId, kind: `http_${upstream.statusCode}` });
        throw new ApiError({
          status: 502,
          code: "upstream_failed",
          message: `The service failed with ${upstream.statusCode}; nothing was charged`,
          details: { upstreamStatus: upstream.statusCode },
        });
      }

      const header = (name: string) => {
        const value = upstream.headers[name.toLowerCase()];
        return Array.isArray(value) ? value[0] : value;
      };
      const amount = priceOf(service, header);
      const fee = feeOf(amount, app.chain.feeBps());
      const latencyMs = Math.round(performance.now() - started);
      const issuedAt = BigInt(Math.floor(Date.now() / 1000));
      const receiptBase = {
        requestId: requestIdToBytes32(requestId),
        serviceId: serviceIdToBytes32(serviceId),
        provider: service.provider,
        payer: payment.signer,
        amount,
        issuedAt,
      };
      let cumulative: bigint;
      try {
        ({ cumulative } = await charge(app.sql, reservation, {
          amount,
          fee,
          method: request.method,
          path,
          upstreamStatus: upstream.statusCode,
          latencyMs,
          issuedAt,
        }));
      } catch (error) {
        // Destroying an unfinished undici body emits an AbortError: without a listener it would be
        // an uncaught exception, taking the process down (e.g. whenever the ledger is unreachable).
        upstream.body.on("error", () => {}).destroy();
        await release(app.sql, reservation);
        throw error;
      }
      // Signed after the charge committed: the signature is deterministic over the charge row.
      const receiptSignature = receipts.sign({ ...receiptBase, cumulative });
      app.metrics.calls.inc({ service: serviceId, outcome: "charged" });
      app.metrics.charged.inc({ service: serviceId }, Number(amount));
      app.metrics.callLatency.observe({ service: serviceId }, latencyMs / 1000);

      relayUpstreamHeaders(reply, upstream.headers);
      const receipt = {
        requestId: receiptBase.requestId,
        serviceId: receiptBase.serviceId,
        provider: service.provider,
        payer: payment.signer,
        amount: amount.toString(),
        cumulative: cumulative.toString(),
        issuedAt: issuedAt.toString(),
        signature: receiptSignature,
        signer: receipts.address,
        reputation: deployment.reputation,
      };
      reply
        .status(upstream.statusCode)
        .header("payment-response", paymentResponseHeader({ deployment, payer: payment.signer, amount, receipt }))
        .headers(billingHeaders({ amount, provider: service.provider, latencyMs, requestId }));
      return reply.send(upstream.body);
    },
  });
}

async function loadService(app: FastifyInstance, serviceId: string, selfAddresses: ReadonlySet<string> | undefined): Promise<ServiceRow> {
  const [row] = await app.sql<
    { id: string; provider: Address; name: string; upstream_url: string; pricing: "fixed" | "metered"; price: string; max_price: string; usage_header: string | null; status: string }[]
  >`SELECT id, provider, name, upstream_url, pricing, price, max_price, usage_header, status FROM services WHERE id = ${serviceId}`;
  if (!row) throw new ApiError({ status: 404, code: "service_not_found", message: `No service "${serviceId}"` });
  if (row.status !== "active") throw new ApiError({ status: 410, code: "service_delisted", message: `Service "${serviceId}" has been delisted` });
  // Before any 402 or reservation: a service registered while private upstreams were allowed is
  // not called once they are not (forwarding checks it again).
  if (selfAddresses) assertUpstreamHostAllowed(new URL(row.upstream_url), selfAddresses);
  return {
    id: row.id,
    provider: row.provider,
    name: row.name,
    upstreamUrl: row.upstream_url,
    pricing: row.pricing,
    price: BigInt(row.price),
    maxPrice: BigInt(row.max_price),
    usageHeader: row.usage_header,
  };
}

function relayUpstreamHeaders(reply: FastifyReply, headers: Record<string, string | string[] | undefined>) {
  for (const [name, value] of relayableHeaders(headers)) reply.header(name, value);
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

/**
 * Service rows, cached per instance for one second: a paid call need not read the catalogue every
 * time, and a delisting or price change takes effect within that second.
 */
function serviceCache(app: FastifyInstance) {
  const selfAddresses = app.config.allowPrivateUpstreams ? undefined : localAddresses();
  const cache = new Map<string, { at: number; value: Promise<ServiceRow> }>();
  return {
    get(serviceId: string): Promise<ServiceRow> {
      const hit = cache.get(serviceId);
      if (hit && Date.now() - hit.at < 1_000) return hit.value;
      const value = loadService(app, serviceId, selfAddresses);
      cache.set(serviceId, { at: Date.now(), value });
      value.catch(() => cache.delete(serviceId));
      if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
      return value;
    },
  };
}
