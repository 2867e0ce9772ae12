import { toBigInt } from "./reader.ts";
import type { ChainStateReader } from "./reader.ts";

/** How fresh the index is. */
export type IndexerStatus = {
  /** Whether the indexer has written anything yet (its views exist and hold a head). */
  ready: boolean;
  indexedBlock: bigint | undefined;
  /** Unix seconds of the indexed block. */
  indexedTimestamp: bigint | undefined;
  /** The chain's latest block, when the caller supplied it. */
  chainHead: bigint | undefined;
  /** chainHead − indexedBlock (0n at best), when both are known. */
  lagBlocks: bigint | undefined;
};

/**
 * The last block the indexer processed and, given the chain head (e.g. a cached eth_blockNumber),
 * how many blocks it lags behind. A reader that must not rely on a stale index compares
 * `lagBlocks` with its bound; `ready: false` means there is nothing to rely on yet.
 *
 * @example
 * const status = await getIndexerStatus(reader, { chainId: 31337, chainHead: await client.getBlockNumber() });
 * if (!status.ready || status.lagBlocks! > 5n) refuseNewSpending();
 */
export async function getIndexerStatus(
  { sql, viewsSchema }: ChainStateReader,
  { chainId, chainHead }: { chainId: number; chainHead?: bigint },
): Promise<IndexerStatus> {
  let rows: { block_number: string; timestamp: string }[];
  try {
    rows = await sql`SELECT block_number, timestamp FROM ${sql(viewsSchema)}.indexed_head WHERE chain_id = ${chainId}`;
  } catch (error) {
    // 42P01: the views do not exist yet (the indexer has not finished its first start).
    if ((error as { code?: string }).code === "42P01") rows = [];
    else throw error;
  }
  const row = rows[0];
  const indexedBlock = row === undefined ? undefined : toBigInt(row.block_number);
  const lagBlocks =
    indexedBlock === undefined || chainHead === undefined ? undefined : chainHead > indexedBlock ? chainHead - indexedBlock : 0n;
  return {
    ready: indexedBlock !== undefined,
    indexedBlock,
    indexedTimestamp: row === undefined ? undefined : toBigInt(row.timestamp),
    chainHead,
    lagBlocks,
  };
}

/**
 * The escrow's fee rate in force as indexed (`FeeRateUpdated`), or undefined before the first
 * change (the deployment's initial rate then holds) or before the views exist.
 *
 * @example
 * const feeBps = (await getIndexedFeeRate(reader, { escrow: deployment.escrow })) ?? deployment.feeBps;
 */
export async function getIndexedFeeRate({ sql, viewsSchema }: ChainStateReader, { escrow }: { escrow: string }): Promise<number | undefined> {
  try {
    const [row] = await sql<{ fee_bps: number }[]>`SELECT fee_bps FROM ${sql(viewsSchema)}.escrow_settings WHERE escrow = ${escrow.toLowerCase()}`;
    return row?.fee_bps;
  } catch (error) {
    if ((error as { code?: string }).code === "42P01") return undefined;
    throw error;
  }
}
