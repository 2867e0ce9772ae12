/**
 * Promises of values that change rarely, kept for `ttlMs` after they were asked for, at most
 * `maxSize` of them (the oldest dropped first). Callers share one load in flight, and a load that
 * fails is dropped at once, so the next call tries again instead of being served the failure for
 * the rest of its time. Expired entries are replaced on their next lookup, or dropped with the
 * oldest.
 *
 * `get` and `set` apart (rather than a `get(key, load)`) so that a hit allocates nothing: no loader
 * closure per lookup on a paid call's path.
 *
 * @example
 * const services = new TtlCache<string, Service>({ ttlMs: 1_000, maxSize: 10_000 });
 * const service = await (services.get(id) ?? services.set(id, loadService(id)));
 */
export class TtlCache<K, V> {
  readonly ttlMs: number;
  readonly maxSize: number;
  readonly #now: () => number;
  readonly #entries = new Map<K, { at: number; value: Promise<V> }>();

  /** @param now the clock, in milliseconds (tests pass their own). */
  constructor({ ttlMs, maxSize, now = Date.now }: { ttlMs: number; maxSize: number; now?: () => number }) {
    if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be positive, not ${ttlMs}`);
    if (!Number.isSafeInteger(maxSize) || maxSize < 1) throw new RangeError(`maxSize must be a positive integer, not ${maxSize}`);
    this.ttlMs = ttlMs;
    this.maxSize = maxSize;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value stored for `key` less than `ttlMs` ago, if any (possibly still loading). */
  get(key: K): Promise<V> | undefined {
    const hit = this.#entries.get(key);
    return hit !== undefined && this.#now() - hit.at < this.ttlMs ? hit.value : undefined;
  }

  /** Stores `value` for `key` from now on, and returns it; dropped again if it rejects. */
  set(key: K, value: Promise<V>): Promise<V> {
    const entry = { at: this.#now(), value };
    // Deleted first, so that insertion order stays age order and the oldest is the one dropped.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    // Only this entry: a newer one stored meanwhile for the same key stays.
    value.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    if (this.#entries.size > this.maxSize) this.#entries.delete(this.#entries.keys().next().value as K);
    return value;
  }
}
