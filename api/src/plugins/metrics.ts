import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

declare module "fastify" {
  interface FastifyInstance {
    metrics: ApiMetrics;
  }
}

/** What the proxy reports to Prometheus. */
export type ApiMetrics = {
  registry: Registry;
  /** Paid calls by service and outcome (charged, upstream_failed, upstream_timeout, upstream_unreachable). */
  calls: Counter<"service" | "outcome">;
  /** USDC atomic units charged, by service. */
  charged: Counter<"service">;
  /** Upstream failures that were not charged, by service and kind. */
  upstreamErrors: Counter<"service" | "kind">;
  /** End-to-end latency of proxied calls, by service. */
  callLatency: Histogram<"service">;
  /** Every response by route and status. */
  responses: Counter<"route" | "status">;
};

/** Prometheus metrics at `/metrics`: calls, charges, latency histogram, upstream errors, responses. */
export default fp(
  async function metrics(app: FastifyInstance) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: "agenttab_" });
    const m: ApiMetrics = {
      registry,
      calls: new Counter({ name: "agenttab_calls_total", help: "Proxied calls by outcome", labelNames: ["service", "outcome"], registers: [registry] }),
      charged: new Counter({ name: "agenttab_charged_usdc_atomic_total", help: "USDC atomic units charged", labelNames: ["service"], registers: [registry] }),
      upstreamErrors: new Counter({ name: "agenttab_upstream_errors_total", help: "Upstream failures (not charged)", labelNames: ["service", "kind"], registers: [registry] }),
      callLatency: new Histogram({
        name: "agenttab_call_latency_seconds",
        help: "Latency of proxied calls",
        labelNames: ["service"],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
      responses: new Counter({ name: "agenttab_http_responses_total", help: "Responses by route and status", labelNames: ["route", "status"], registers: [registry] }),
    };
    app.decorate("metrics", m);
    app.addHook("onResponse", async (request, reply) => {
      m.responses.inc({ route: request.routeOptions.url ?? "unmatched", status: String(reply.statusCode) });
    });
    app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
      reply.header("content-type", registry.contentType);
      return registry.metrics();
    });
  },
  { name: "agenttab-metrics" },
);
