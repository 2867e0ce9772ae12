import { errors as undiciErrors } from "undici";

import { ApiError } from "../errors.ts";

/** How an upstream failed a call: no answer in time, no answer at all (or a cut one), or a 5xx. */
export type UpstreamFailure = { kind: "upstream_timeout" | "upstream_unreachable" } | { kind: "upstream_failed"; upstreamStatus: number };

/**
 * What went wrong with an upstream exchange that threw (not the proxy's own refusals, which are
 * `ApiError`s): undici's header or body timeout, or the forwarding deadline's `TimeoutError`, is a
 * timeout; anything else (refused, reset, a body cut short, a name that resolves where the proxy
 * does not call) is unreachable.
 *
 * @example
 * upstreamErrorKind(new undiciErrors.HeadersTimeoutError()); // "upstream_timeout"
 */
export function upstreamErrorKind(error: unknown): "upstream_timeout" | "upstream_unreachable" {
  const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError || (error as Error).name === "TimeoutError";
  return timedOut ? "upstream_timeout" : "upstream_unreachable";
}

/**
 * The refusal a caller gets for an upstream failure: 504 `upstream_timeout`, 502
 * `upstream_unreachable`, 502 `upstream_failed` (with `upstreamStatus`). The message ends with
 * `unpaid`, what happened to the caller's money; `wholeResponse` says the proxy was reading the
 * whole response, which can also fail part-way.
 *
 * @example
 * upstreamFailureError({ kind: "upstream_failed", upstreamStatus: 503 }, { timeoutMs: 15_000, unpaid: "nothing was charged", wholeResponse: false });
 */
export function upstreamFailureError(failure: UpstreamFailure, { timeoutMs, unpaid, wholeResponse }: { timeoutMs: number; unpaid: string; wholeResponse: boolean }): ApiError {
  switch (failure.kind) {
    case "upstream_timeout":
      return new ApiError({ status: 504, code: "upstream_timeout", message: `The service did not answer${wholeResponse ? " in full" : ""} within ${timeoutMs} ms; ${unpaid}` });
    case "upstream_unreachable":
      return new ApiError({ status: 502, code: "upstream_unreachable", message: `The service could not be reached${wholeResponse ? ", or its response was cut" : ""}; ${unpaid}` });
    case "upstream_failed":
      return new ApiError({
        status: 502,
        code: "upstream_failed",
        message: `The service failed with ${failure.upstreamStatus}; ${unpaid}`,
        details: { upstreamStatus: failure.upstreamStatus },
      });
  }
}
