import { describe, expect, it } from "vitest";

import { refusedBeforeWork, retryDelayMs, sendWithRetry } from "./retry.ts";

describe("retry policy", () => {
  it("waits what Retry-After says, backs off without it, and gives up on a wait above the cap", () => {
    expect(retryDelayMs({ retry: 0, retryAfter: "1", maxDelayMs: 5_000 })).toBe(1_000);
    expect(retryDelayMs({ retry: 3, retryAfter: "2", maxDelayMs: 5_000 })).toBe(2_000);
    expect(retryDelayMs({ retry: 0, retryAfter: null, maxDelayMs: 5_000 })).toBe(250);
    expect(retryDelayMs({ retry: 2, retryAfter: null, maxDelayMs: 5_000 })).toBe(1_000);
    expect(retryDelayMs({ retry: 10, retryAfter: "soon", maxDelayMs: 5_000 })).toBe(5_000);
    expect(retryDelayMs({ retry: 0, retryAfter: "60", maxDelayMs: 5_000 })).toBeUndefined();
  });

  it("counts only refusals made before any work as retryable", () => {
    expect(refusedBeforeWork(429, { code: "rate_limited" })).toBe(true);
    expect(refusedBeforeWork(503, { code: "index_stale" })).toBe(true);
    expect(refusedBeforeWork(503, { code: "relayer_unavailable" })).toBe(false);
    expect(refusedBeforeWork(503, "down")).toBe(false);
    expect(refusedBeforeWork(502, { code: "upstream_failed" })).toBe(false);
    expect(refusedBeforeWork(504, { code: "upstream_timeout" })).toBe(false);
    expect(refusedBeforeWork(402, { code: "insufficient_funds" })).toBe(false);
  });

  it("sends again up to the attempts, and returns the last response", async () => {
    const statuses = [429, 429, 429, 200];
    let sent = 0;
    const send = async () => new Response(null, { status: statuses[sent++] ?? 200, headers: { "retry-after": "0" } });
    const last = await sendWithRetry(send, { retry: { attempts: 2 }, shouldRetry: async (r) => r.status === 429 });
    expect(last.status).toBe(429);
    expect(sent).toBe(3);
    sent = 0;
    expect((await sendWithRetry(send, { retry: { attempts: 3 }, shouldRetry: async (r) => r.status === 429 })).status).toBe(200);
    expect(sent).toBe(4);
  });
});
