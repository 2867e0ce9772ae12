import { errors as undiciErrors } from "undici";
import { describe, expect, it } from "vitest";

import { upstreamErrorKind, upstreamFailureError } from "./upstreamFailure.ts";

describe("upstream failures, classified once for every payment method", () => {
  it("tells a timeout from a connection error", () => {
    expect(upstreamErrorKind(new undiciErrors.HeadersTimeoutError())).toBe("upstream_timeout");
    expect(upstreamErrorKind(new undiciErrors.BodyTimeoutError())).toBe("upstream_timeout");
    expect(upstreamErrorKind(new DOMException("The upstream did not answer within 15000 ms", "TimeoutError"))).toBe("upstream_timeout");
    expect(upstreamErrorKind(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" }))).toBe("upstream_unreachable");
    expect(upstreamErrorKind(new undiciErrors.SocketError("other side closed"))).toBe("upstream_unreachable");
  });

  it("answers a streamed (voucher) call's failures as before", () => {
    const options = { timeoutMs: 1_500, unpaid: "nothing was charged", wholeResponse: false };
    expect(upstreamFailureError({ kind: "upstream_timeout" }, options)).toMatchObject({
      status: 504,
      code: "upstream_timeout",
      message: "The service did not answer within 1500 ms; nothing was charged",
    });
    expect(upstreamFailureError({ kind: "upstream_unreachable" }, options)).toMatchObject({
      status: 502,
      code: "upstream_unreachable",
      message: "The service could not be reached; nothing was charged",
    });
    expect(upstreamFailureError({ kind: "upstream_failed", upstreamStatus: 503 }, options)).toMatchObject({
      status: 502,
      code: "upstream_failed",
      message: "The service failed with 503; nothing was charged",
      details: { upstreamStatus: 503 },
    });
  });

  it("answers a whole-response (exact) call's failures as before", () => {
    const options = { timeoutMs: 1_500, unpaid: "the payment was not settled", wholeResponse: true };
    expect(upstreamFailureError({ kind: "upstream_timeout" }, options).message).toBe("The service did not answer in full within 1500 ms; the payment was not settled");
    expect(upstreamFailureError({ kind: "upstream_unreachable" }, options).message).toBe("The service could not be reached, or its response was cut; the payment was not settled");
    expect(upstreamFailureError({ kind: "upstream_failed", upstreamStatus: 500 }, options).message).toBe("The service failed with 500; the payment was not settled");
  });
});
