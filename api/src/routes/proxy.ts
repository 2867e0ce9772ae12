import type { FastifyInstance } from "fastify";
import { Type } from "typebox";

import { exactPayments } from "../paidCall/exactMethod.ts";
import type { PaymentMethod } from "../paidCall/paymentMethod.ts";
import { paidCallPipeline } from "../paidCall/pipeline.ts";
import { paidServices } from "../paidCall/services.ts";
import type { PaidServices } from "../paidCall/services.ts";
import { voucherPayments } from "../paidCall/voucherMethod.ts";

const ProxyParams = Type.Object({
  serviceId: Type.String({ pattern: "^[a-z0-9][a-z0-9-]{2,63}$" }),
  "*": Type.String({ maxLength: 2048 }),
});

/** The services paid calls are made to, and the ways to pay for them, in the order a 402 offers them. */
export type PaidCalls = { services: PaidServices; methods: readonly [PaymentMethod, ...PaymentMethod[]] };

/**
 * How this API takes payment: a voucher (`agenttab-voucher`, the house scheme, offered first) or,
 * with a relayer, an x402 `exact` payment for a fixed-price service. Made once per app: the proxy
 * takes payments with it and discovery lists its offers.
 *
 * @example
 * const paidCalls = paidCallMethods(app);
 * await app.register(proxy, paidCalls);
 */
export function paidCallMethods(app: FastifyInstance): PaidCalls {
  const services = paidServices(app);
  const voucher = voucherPayments(app, { services });
  return { services, methods: app.relayer ? [voucher, exactPayments(app, app.relayer)] : [voucher] };
}

/** The paid call: any method on `/v1/proxy/:serviceId/*` (api/src/paidCall/pipeline.ts). */
export default async function proxy(app: FastifyInstance, { services, methods }: PaidCalls) {
  // Bodies are forwarded as streams, never parsed, in this plugin's scope.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));

  const handler = paidCallPipeline(app, { services, methods });

  app.route({
    method: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    url: "/v1/proxy/:serviceId/*",
    schema: { params: ProxyParams },
    handler,
  });
}
