/**
 * A bounded least-recently-used map: at most `maxSize` entries, the stalest evicted first. A
 * `Map` keeps insertion order, so re-inserting on every hit keeps the stalest entry first.
 *
 * @example
 * const cache = new LruCache<string, number>({ maxSize: 2 });
 * cache.set("a", 1); cache.set("b", 2); cache.get("a"); cache.set("c", 3); // evicts "b"
 */
export class LruCache<K, V> {
  readonly maxSize: number;
  readonly #entries = new Map<K, V>();

  constructor({ maxSize }: { maxSize: number }) {
    if (!Number.isSafeInteger(maxSize) || maxSize < 1) throw new RangeError(`maxSize must be a positive integer, not ${maxSize}`);
    this.maxSize = maxSize;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.maxSize) this.#entries.delete(this.#entries.keys().next().value as K);
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }
}
