import type { FastifyInstance } from "fastify";
import type { Address, Hex } from "viem";

import { getServiceReputations } from "@agenttab/indexer/read";
import type { ServiceReputation } from "@agenttab/indexer/read";
import { serviceIdToBytes32 } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";

/** Reputations of services, from the indexer; look one up with {@link reputationOf}. */
export type ServiceReputations = Map<string, ServiceReputation>;

/**
 * The services' reputations, read from the indexer's views (503 `reputation_unavailable` when
 * they cannot be read).
 *
 * @throws {ApiError} 503 `reputation_unavailable`.
 * @example
 * const reputations = await readServiceReputations(app, rows);
 * reputationOf(reputations, rows[0])?.score;
 */
export async function readServiceReputations(app: FastifyInstance, rows: readonly { id: string; provider: string }[]): Promise<ServiceReputations> {
  try {
    return await getServiceReputations(
      app.chain.reader,
      rows.map((row) => ({ provider: row.provider as Address, serviceId: serviceIdHash(row.id) })),
    );
  } catch (error) {
    app.log.error({ err: error }, "reading service reputations failed");
    throw new ApiError({ status: 503, code: "reputation_unavailable", message: "Service reputations cannot be read right now; try again shortly." });
  }
}

/** A service's reputation in what {@link readServiceReputations} read, if the indexer has one. */
export function reputationOf(reputations: ServiceReputations, row: { id: string; provider: string }): ServiceReputation | undefined {
  return reputations.get(`${row.provider.toLowerCase()}:${serviceIdHash(row.id)}`);
}

// Discovery hashes every candidate's id on every request; ids never change, so remember them.
const serviceIdHashes = new Map<string, Hex>();
function serviceIdHash(id: string): Hex {
  let hash = serviceIdHashes.get(id);
  if (hash === undefined) {
    if (serviceIdHashes.size >= 100_000) serviceIdHashes.clear();
    hash = serviceIdToBytes32(id);
    serviceIdHashes.set(id, hash);
  }
  return hash;
}
