import type { Dispatcher } from "undici";

import { ApiError } from "../errors.ts";

/**
 * The upstream's whole body, or a rejection: the body failed or was cut (undici's error: a closed
 * socket, the deadline's TimeoutError, a body timeout), or it ran past `limit` bytes
 * (`502 upstream_response_too_large`; a declared `content-length` past it is refused unread).
 *
 * @example
 * const body = await readWholeBody(upstream, 10 * 1024 * 1024);
 */
export function readWholeBody(upstream: Dispatcher.ResponseData, limit: number): Promise<Buffer> {
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

/**
 * Drops an upstream body that will not be sent (its call was not paid for), freeing its connection.
 * Destroying an unfinished undici body emits an AbortError: without a listener it would be an
 * uncaught exception, taking the process down (e.g. whenever the ledger is unreachable).
 */
export function discardBody(upstream: Dispatcher.ResponseData): void {
  upstream.body.on("error", ignore).destroy();
}

function ignore() {}
