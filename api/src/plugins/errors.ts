import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";

import { ApiError } from "../errors.ts";
import type { ErrorBody } from "../errors.ts";

// Fastify's own 4xx errors, mapped to stable codes.
const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "body_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "invalid_content_length",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_ERR_NOT_FOUND: "not_found",
};

// The ledger's PostgreSQL is down or restarting: postgres.js connection errors, the socket errors
// under them, and SQLSTATE class 08 (connection exception) or 57P01–57P03 (shutdown, starting up).
const DATABASE_DOWN = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);
const isDatabaseDown = (error: { code?: unknown }) =>
  typeof error.code === "string" && (DATABASE_DOWN.has(error.code) || /^(08[0-9A-Z]{3}|57P0[123])$/.test(error.code));

/**
 * The one error handler: 4xx bodies carry a stable snake_case `code`; 5xx details go to the log
 * only.
 */
export default fp(
  async function errors(app: FastifyInstance) {
    app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
      if (error instanceof ApiError) {
        if (error.headers) reply.headers(error.headers);
        const body: ErrorBody = { code: error.code, message: error.message };
        if (error.reason) body.reason = error.reason;
        if (error.details) body.details = error.details;
        return reply.status(error.status).send(body);
      }
      if (error.validation) {
        return reply.status(400).send({ code: "invalid_request", message: error.message });
      }
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        const code = fastifyCodes[error.code] ?? "bad_request";
        return reply.status(error.statusCode).send({ code, message: error.message });
      }
      if (isDatabaseDown(error)) {
        request.log.error({ err: error }, "database unavailable");
        reply.header("retry-after", "1");
        return reply.status(503).send({ code: "database_unavailable", message: "The ledger is unavailable for a moment; retry shortly" });
      }
      request.log.error({ err: error }, "request failed");
      return reply.status(500).send({ code: "internal_error", message: "Internal error; it has been logged." });
    });
    app.setNotFoundHandler((request, reply) => {
      // The router refuses some dot-segment forms (e.g. %2e%2e) before the proxy sees them.
      if (request.url.startsWith("/v1/proxy/")) {
        return reply.status(400).send({ code: "invalid_path", message: "The proxied path is not valid" });
      }
      return reply.status(404).send({ code: "not_found", message: `No route ${request.method} ${request.url.split("?")[0]}` });
    });
  },
  { name: "agenttab-errors" },
);
