import type { Sql } from "postgres";

/**
 * Where the indexed chain state is read from: a postgres.js client and the Ponder views schema.
 * Readers only ever SELECT.
 */
export type ChainStateReader = {
  sql: Sql;
  viewsSchema: string;
};

/** numeric(78,0) columns arrive from postgres.js as strings; amounts are bigint everywhere else. */
export function toBigInt(value: string | number | bigint | null): bigint {
  if (value === null) throw new Error("unexpected NULL amount");
  return BigInt(value);
}

/** Addresses are indexed lowercase. */
export function addressKey(address: string): string {
  return address.toLowerCase();
}
