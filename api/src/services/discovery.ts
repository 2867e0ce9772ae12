import { ApiError } from "../errors.ts";

export type ServiceSort = "reputation" | "price";

/** What discovery orders by: reputation (desc, unrated last) or max price (asc); ties by id. */
export type SortKey = { id: string; score: number | null; maxPrice: bigint };

/**
 * The order of discovery results. Total (ids are unique), so a page boundary is a single key.
 *
 * @example
 * candidates.sort((a, b) => compareServices("price", a, b));
 */
export function compareServices(sort: ServiceSort, a: SortKey, b: SortKey): number {
  if (sort === "reputation") {
    if (a.score !== b.score) {
      if (a.score === null) return 1;
      if (b.score === null) return -1;
      return b.score - a.score;
    }
  } else if (a.maxPrice !== b.maxPrice) {
    return a.maxPrice < b.maxPrice ? -1 : 1;
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * An opaque page cursor: base64url JSON of the sort and the last item's key. The next page starts
 * strictly after that key (keyset pagination), so items never repeat or get skipped because others
 * were added or removed meanwhile; an item whose own reputation moves between pages may.
 *
 * @example
 * const cursor = encodeCursor("price", { id: "weather-api", score: 0.57, maxPrice: 2_500n });
 */
export function encodeCursor(sort: ServiceSort, key: SortKey): string {
  const payload = sort === "reputation" ? { sort, id: key.id, score: key.score } : { sort, id: key.id, maxPrice: key.maxPrice.toString() };
  return Buffer.from(JSON.stringify(payload)).toString("base64url");
}

/**
 * Reads a cursor made by {@link encodeCursor} for the same sort; throws `invalid_cursor` otherwise.
 *
 * @example
 * const after = decodeCursor("price", query.cursor);
 */
export function decodeCursor(sort: ServiceSort, cursor: string): SortKey {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor("it is not one this API issued");
  }
  if (typeof payload !== "object" || payload === null) throw invalidCursor("it is not one this API issued");
  const { sort: cursorSort, id, score, maxPrice } = payload as Record<string, unknown>;
  if (cursorSort !== sort) throw invalidCursor(`it belongs to sort=${String(cursorSort)}, not sort=${sort}`);
  if (typeof id !== "string") throw invalidCursor("it is not one this API issued");
  if (sort === "reputation") {
    if (score !== null && (typeof score !== "number" || !Number.isFinite(score))) throw invalidCursor("it is not one this API issued");
    return { id, score, maxPrice: 0n };
  }
  if (typeof maxPrice !== "string" || !/^(0|[1-9][0-9]{0,38})$/.test(maxPrice)) throw invalidCursor("it is not one this API issued");
  return { id, score: null, maxPrice: BigInt(maxPrice) };
}

function invalidCursor(why: string): ApiError {
  return new ApiError({ status: 400, code: "invalid_cursor", message: `Invalid cursor: ${why}. Start again without one.` });
}

/**
 * One page of `candidates` in `sort` order, after the key `after` if given.
 *
 * @example
 * const { page, more } = paginate(candidates, { sort: "reputation", limit: 20 });
 */
export function paginate<T extends SortKey>(
  candidates: readonly T[],
  { sort, limit, after }: { sort: ServiceSort; limit: number; after?: SortKey },
): { page: T[]; more: boolean } {
  const sorted = [...candidates].sort((a, b) => compareServices(sort, a, b));
  const rest = after === undefined ? sorted : sorted.filter((c) => compareServices(sort, c, after) > 0);
  return { page: rest.slice(0, limit), more: rest.length > limit };
}
