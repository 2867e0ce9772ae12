import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/** OpenAPI from the routes' TypeBox schemas, served at /docs (JSON at /docs/json). */
export default fp(
  async function docs(app: FastifyInstance) {
    await app.register(swagger, {
      openapi: {
        info: {
          title: "AgentTab API",
          version: "0.1.0",
          description:
            "Pay-per-call proxy for AI agents: x402 v2 vouchers against a USDC escrow on Base, discovery, balances and reports. Amounts are USDC atomic units as decimal strings.",
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
  },
  { name: "agenttab-docs" },
);
