/**
 * A refusal the client can act on: an HTTP status, a stable snake_case `code`, a message, and the
 * x402 error reason where one applies. Thrown anywhere in a request; the API's error handler
 * answers it. Defined here because the ledger's own refusals (`reserve`) are answered as they are.
 *
 * @example
 * throw new ApiError({ status: 404, code: "service_not_found", message: `No service "${id}"` });
 */
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;
  readonly reason: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor({
    status,
    code,
    message,
    reason,
    details,
    headers,
  }: {
    status: number;
    code: string;
    message: string;
    reason?: string;
    details?: Record<string, unknown>;
    headers?: Record<string, string>;
  }) {
    super(message);
    this.status = status;
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.headers = headers;
  }
}
