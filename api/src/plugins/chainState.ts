import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { createPublicClient, http } from "viem";

import { getIndexedFeeRate, getIndexerStatus } from "@agenttab/indexer/read";
import type { ChainStateReader, IndexerStatus } from "@agenttab/indexer/read";

declare module "fastify" {
  interface FastifyInstance {
    chain: ChainState;
  }
}

/** The indexed chain state, and how much it can be trusted right now. */
export type ChainState = {
  reader: ChainStateReader;
  /** The latest chain head seen by the background poller (undefined until the first poll). */
  head: () => bigint | undefined;
  /** The indexer's status against that head. */
  status: () => Promise<IndexerStatus>;
  /** Whether new spending may rely on the index: ready, within the lag bound, and the head recent. */
  fresh: () => Promise<{ ok: boolean; status: IndexerStatus }>;
  /** The escrow's fee rate in force, as indexed (re-read with every head poll; the deployment's until the first change). */
  feeBps: () => number;
};

/**
 * Reads the indexer's views (SELECT only) and polls the chain head in the background, off the
 * request path, so that spending stops when the index falls behind.
 */
export default fp(
  async function chainState(
    app: FastifyInstance,
    {
      rpcUrl,
      chainId,
      escrow,
      initialFeeBps,
      viewsSchema,
      maxLagBlocks,
      pollMs,
      maxHeadAgeMs = 30_000,
    }: { rpcUrl: string; chainId: number; escrow: string; initialFeeBps: number; viewsSchema: string; maxLagBlocks: bigint; pollMs: number; maxHeadAgeMs?: number },
  ) {
    const client = createPublicClient({ transport: http(rpcUrl, { timeout: 5_000, retryCount: 0 }) });
    let head: bigint | undefined;
    let headSeenAt = 0;
    let feeBps = initialFeeBps;
    let stopped = false;
    const reader: ChainStateReader = { sql: app.sql, viewsSchema };
    const poll = async () => {
      try {
        head = await client.getBlockNumber({ cacheTime: 0 });
        headSeenAt = Date.now();
      } catch (error) {
        app.log.warn({ err: error }, "chain head poll failed");
        // Keep the last head for a while; past maxHeadAgeMs the index is no longer trusted.
      }
      try {
        feeBps = (await getIndexedFeeRate(reader, { escrow })) ?? initialFeeBps;
      } catch (error) {
        app.log.warn({ err: error }, "fee rate read failed; keeping the last one");
      }
    };
    await poll();
    const timer = setInterval(() => {
      if (!stopped) void poll();
    }, pollMs);
    timer.unref();
    app.addHook("onClose", async () => {
      stopped = true;
      clearInterval(timer);
    });

    const status = () => getIndexerStatus(reader, { chainId, chainHead: head });
    app.decorate("chain", {
      reader,
      head: () => head,
      status,
      fresh: async () => {
        const s = await status();
        const headIsRecent = Date.now() - headSeenAt <= maxHeadAgeMs;
        return { ok: headIsRecent && s.ready && s.lagBlocks !== undefined && s.lagBlocks <= maxLagBlocks, status: s };
      },
      feeBps: () => feeBps,
    } satisfies ChainState);
  },
  { name: "agenttab-chain-state", dependencies: ["agenttab-db"] },
);
