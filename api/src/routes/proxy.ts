import type { FastifyInstance } from "fastify";
import { Type } from "typebox";

import { exactPayments } from "../paidCall/exactMethod.ts";
import { paidCallPipeline } from "../paidCall/pipeline.ts";
import { paidServices } from "../paidCall/services.ts";
import { voucherPayments } from "../paidCall/voucherMethod.ts";

const ProxyParams = Type.Object({
  serviceId: Type.String({ pattern: "^[a-z0-9][a-z0-9-]{2,63}$" }),
  "*": Type.String({ maxLength: 2048 }),
});

/**
 * The paid call: any method on `/v1/proxy/:serviceId/*` (api/src/paidCall/pipeline.ts). Paid with
 * a voucher (`agenttab-voucher`, the house scheme, offered first) or, with a relayer, an x402
 * `exact` payment for a fixed-price service.
 */
export default async function proxy(app: FastifyInstance) {
  // Bodies are forwarded as streams, never parsed, in this plugin's scope.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));

  const services = paidServices(app);
  const voucher = voucherPayments(app, { services });
  const handler = paidCallPipeline(app, { services, methods: app.relayer ? [voucher, exactPayments(app, app.relayer)] : [voucher] });

  app.route({
    method: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    url: "/v1/proxy/:serviceId/*",
    schema: { params: ProxyParams },
    handler,
  });
}
