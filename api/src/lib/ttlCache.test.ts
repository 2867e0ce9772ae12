import { describe, expect, it } from "vitest";

import { TtlCache } from "./ttlCache.ts";

/** A cache on a clock the test moves by hand. */
function cacheAt(options: { ttlMs: number; maxSize: number }) {
  const clock = { ms: 1_000_000 };
  const cache = new TtlCache<string, string>({ ...options, now: () => clock.ms });
  return { cache, clock };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("TtlCache", () => {
  it("serves a value until its time to live has passed, then asks for it again", async () => {
    const { cache, clock } = cacheAt({ ttlMs: 1_000, maxSize: 10 });
    const stored = cache.set("a", Promise.resolve("one"));
    expect(cache.get("a")).toBe(stored);
    clock.ms += 999;
    expect(await cache.get("a")).toBe("one");
    clock.ms += 1;
    expect(cache.get("a")).toBeUndefined();
    cache.set("a", Promise.resolve("two"));
    expect(await cache.get("a")).toBe("two");
  });

  it("shares one load in flight between callers", async () => {
    const { cache } = cacheAt({ ttlMs: 1_000, maxSize: 10 });
    let loads = 0;
    const lookup = () => cache.get("a") ?? cache.set("a", new Promise((resolve) => setImmediate(() => resolve(`load ${++loads}`))));
    const [first, second] = await Promise.all([lookup(), lookup()]);
    expect([first, second, loads]).toEqual(["load 1", "load 1", 1]);
  });

  it("drops a failed load at once, so the next lookup tries again", async () => {
    const { cache } = cacheAt({ ttlMs: 60_000, maxSize: 10 });
    const failed = cache.set("a", Promise.reject(new Error("database down")));
    await expect(failed).rejects.toThrow("database down");
    await settle();
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("keeps a newer value when an older load for the same key fails", async () => {
    const { cache, clock } = cacheAt({ ttlMs: 1_000, maxSize: 10 });
    let fail!: (error: Error) => void;
    const older = cache.set("a", new Promise<string>((_, reject) => (fail = reject)));
    older.catch(() => {});
    clock.ms += 1_000;
    const newer = cache.set("a", Promise.resolve("fresh"));
    fail(new Error("late failure"));
    await settle();
    expect(cache.get("a")).toBe(newer);
  });

  it("holds at most maxSize entries, dropping the oldest first", async () => {
    const { cache, clock } = cacheAt({ ttlMs: 1_000, maxSize: 2 });
    cache.set("a", Promise.resolve("a"));
    cache.set("b", Promise.resolve("b"));
    clock.ms += 1_000;
    // "a" expired and is stored again: it is now the newest, so "b" is the one dropped.
    cache.set("a", Promise.resolve("a2"));
    cache.set("c", Promise.resolve("c"));
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(await cache.get("a")).toBe("a2");
    expect(await cache.get("c")).toBe("c");
  });

  it("works on the real clock too", async () => {
    const cache = new TtlCache<string, number>({ ttlMs: 30, maxSize: 10 });
    cache.set("a", Promise.resolve(1));
    expect(await cache.get("a")).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 45));
    expect(cache.get("a")).toBeUndefined();
  });

  it("refuses a time to live or a size that cannot work", () => {
    expect(() => new TtlCache({ ttlMs: 0, maxSize: 1 })).toThrow(RangeError);
    expect(() => new TtlCache({ ttlMs: 1, maxSize: 0 })).toThrow(RangeError);
  });
});
