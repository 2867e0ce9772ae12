import { randomUUID } from "node:crypto";

import type { FastifyInstance } from "fastify";
import { getAddress } from "viem";

import { charge, getTrackCharged, release } from "@agenttab/ledger";
import type { Reservation } from "@agenttab/ledger";

import { ApiError } from "../errors.ts";
import { discardBody } from "../forwarding/responseBody.ts";
import { gateRouter } from "../gates/router.ts";
import { feeOf, priceOf } from "../payments/pricing.ts";
import { recoverSigner } from "../payments/recoverSigner.ts";
import { voucherDigester } from "../payments/voucherDigest.ts";
import { decodeVoucherPayment, paymentRequiredHeader, paymentResponseHeader, voucherRequirements } from "../payments/x402.ts";
import { reserveWithTeamRules } from "../teams/reserve.ts";
import { indexFreshness } from "./indexFreshness.ts";
import type { Authorization, PaidCall, PaymentMethod } from "./paymentMethod.ts";
import type { PaidService, PaidServices } from "./services.ts";

/** A voucher-paid call, authorized: its reservation on the (account, signer, provider) track. */
export type VoucherAuthorization = Authorization & { reservation: Reservation };

// The ledger's amounts are uint128: a service priced above it reserves this much at most.
const MAX_RESERVED = (1n << 128n) - 1n;

/**
 * AgentTab's voucher scheme (`agenttab-voucher`) as a payment method of the paid call. Authorizing
 * verifies the voucher (natively, before anything else), stops new spending on a stale chain index,
 * routes the call through the account's quality gates (`X-ACF-Served-By`), refuses with 402
 * `wrong_provider` a voucher that does not pay the serving service's provider (the 402 names that
 * provider and the signer's charged total on its track, so one re-signed voucher gets through), and
 * reserves the call's maximum on the (account, signer, provider) track under the team's rules.
 * Settling charges the actual price (fixed, or metered from the upstream's usage header) in one
 * transaction that commits before the response starts; releasing gives the reservation back.
 *
 * @example
 * const voucher = voucherPayments(app, { services });
 * const handler = paidCallPipeline(app, { services, methods: [voucher] });
 */
export function voucherPayments(app: FastifyInstance, { services }: { services: PaidServices }): PaymentMethod<VoucherAuthorization> {
  const { deployment } = app.config;
  const digestOf = voucherDigester({ chainId: deployment.chainId, escrow: deployment.escrow });
  const gates = gateRouter(app);
  const indexIsFresh = indexFreshness(app);
  const load = (id: string) => services.get(id);

  /** A 402 offers a voucher for the service that would serve the call (the backup once routed). */
  const refuse = (
    call: PaidCall,
    service: PaidService,
    code: string,
    message: string,
    extra: { charged?: bigint; reason?: string; details?: Record<string, unknown> } = {},
  ) => {
    call.reply.header(
      "payment-required",
      paymentRequiredHeader({
        url: call.resourceUrl,
        resource: service.listing.resource, extensions: service.listing.paymentRequiredExtensions,
        error: code,
        requirements: voucherRequirements({ deployment, amount: service.maxPrice, provider: service.provider, charged: extra.charged }),
      }),
    );
    return new ApiError({ status: 402, code, message, reason: extra.reason ?? "invalid_payload", ...(extra.details ? { details: extra.details } : {}) });
  };

  return {
    offers: (service) => [voucherRequirements({ deployment, amount: service.maxPrice, provider: service.provider })],
    // The house scheme: the pipeline gives it every header no other method takes, and the decoder
    // refuses whatever is not a voucher.
    handles: () => true,
    unpaid: "nothing was charged",
    paidOutcome: "charged",
    wholeResponseBytes: undefined,

    async authorize(call) {
      const { reply, header, cap } = call;
      const payment = decodeVoucherPayment(header, deployment);
      if (recoverSigner(digestOf(payment), payment.signature)?.toLowerCase() !== payment.signer.toLowerCase()) {
        throw refuse(call, call.service, "invalid_signature", "The voucher's signature does not recover to its signer");
      }
      if (!(await indexIsFresh())) {
        throw new ApiError({ status: 503, code: "index_stale", message: "The chain index is behind; no new spending until it catches up", headers: { "retry-after": "2" } });
      }

      // Quality gates (api/src/gates): a call to a degraded primary is served by its backup.
      const { service } = await gates.route({ account: payment.account, service: call.service, cap, payee: payment.provider, load });
      const serviceId = service.id;
      reply.header("x-acf-served-by", serviceId);

      // The voucher pays the provider it names and no other: nothing is reserved on any track for
      // a voucher made out to another provider (another service's, or the primary's when a gate
      // routed the call to a backup run by someone else).
      if (payment.provider.toLowerCase() !== service.provider.toLowerCase()) {
        const charged = await getTrackCharged(app.sql, { account: payment.account, signer: payment.signer, provider: service.provider });
        throw refuse(call, service, "wrong_provider", `"${serviceId}" is served by ${getAddress(service.provider)}; the voucher pays ${payment.provider}. Sign one for ${getAddress(service.provider)}`, {
          charged,
          details: { provider: getAddress(service.provider), servedBy: serviceId, charged: charged.toString() },
        });
      }

      const requestId = randomUUID();
      let reservation: Reservation;
      try {
        reservation = await reserveWithTeamRules(app.sql, {
          addressedServiceId: call.service.id,
          requestId,
          account: payment.account,
          signer: payment.signer,
          provider: service.provider,
          serviceId,
          maxAmount: service.maxPrice > MAX_RESERVED ? MAX_RESERVED : service.maxPrice,
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
          throw refuse(call, service, error.code, error.message, {
            ...(typeof charged === "string" ? { charged: BigInt(charged) } : {}),
            reason: error.reason ?? "invalid_payload",
            ...(error.details ? { details: error.details } : {}),
          });
        }
        throw error;
      }
      reply.header("x-acf-rate-limit-remaining", String(reservation.rateRemaining));
      return { service, requestId, payer: payment.signer, reservation };
    },

    async release(_call, { reservation }, unpaid) {
      // Only the upstream's failures join its record (call_outcomes).
      await release(app.sql, reservation, unpaid.upstreamsFault ? unpaid : undefined);
    },

    async settle(call, { service, reservation }, upstream, latencyMs) {
      const amount = priceOf(service, (name) => {
        const value = upstream.headers[name.toLowerCase()];
        return Array.isArray(value) ? value[0] : value;
      });
      const issuedAt = BigInt(Math.floor(Date.now() / 1000));
      try {
        const { cumulative } = await charge(app.sql, reservation, {
          amount,
          fee: feeOf(amount, app.chain.feeBps()),
          method: call.request.method,
          path: call.path,
          upstreamStatus: upstream.statusCode,
          latencyMs,
          issuedAt,
        });
        return { amount, cumulative, issuedAt };
      } catch (error) {
        discardBody(upstream);
        await release(app.sql, reservation);
        throw error;
      }
    },

    paymentResponse: ({ payer }, { amount }, receipt) => paymentResponseHeader({ deployment, payer, amount, receipt }),
  };
}
