import { describe, expect, it } from "vitest";

import { batcher } from "./batcher.ts";

describe("batcher", () => {
  it("runs the first item alone, then everything that arrived meanwhile as one batch, answering each its own result", async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const b = batcher(async (items: number[]) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return items.map((n) => n * 10);
    });
    const first = b.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = [2, 3, 4].map((n) => b.submit(n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it("retries a batch PostgreSQL aborted for a deadlock, and fails every item of a batch that failed otherwise", async () => {
    let attempts = 0;
    const retried = batcher(async (items: string[]) => {
      attempts++;
      if (attempts < 3) throw Object.assign(new Error("deadlock detected"), { code: "40P01" });
      return items;
    });
    expect(await Promise.all([retried.submit("a"), retried.submit("b")])).toEqual(["a", "b"]);
    expect(attempts).toBe(3);

    const failing = batcher(async (_items: string[]): Promise<string[]> => {
      throw Object.assign(new Error("connection lost"), { code: "ECONNRESET" });
    });
    const results = await Promise.allSettled([failing.submit("a"), failing.submit("b")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });

  it("splits a queue longer than maxBatch and keeps at most maxInFlight batches running", async () => {
    const sizes: number[] = [];
    let running = 0;
    let most = 0;
    const b = batcher(
      async (items: number[]) => {
        running++;
        most = Math.max(most, running);
        sizes.push(items.length);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return items;
      },
      { maxBatch: 4, maxInFlight: 2 },
    );
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(i)));
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(10);
    expect(most).toBe(2);
  });
});
