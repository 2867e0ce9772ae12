import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Address } from "viem";

import { getDelegation } from "@agenttab/indexer/read";

import { forbidden } from "./plugin.ts";

/**
 * preHandler, after `requireSignIn`, for an agent's own data: the route's `:address` must be the
 * signed-in account, or an account whose active, unexpired on-chain delegate signed in (a team
 * member's key reads what it spends from). Delegations are read from the indexer, so a revocation
 * takes effect once indexed. Everyone else gets the same 403, which reveals nothing.
 *
 * @example
 * app.get("/v1/agents/:address/balance", { preHandler: [app.requireSignIn, requireAccountOrDelegate(app)] }, handler);
 */
export function requireAccountOrDelegate(app: FastifyInstance): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const { address } = request.params as { address?: string };
    const signedIn = request.signedInAccount;
    if (signedIn === null || address === undefined) throw forbidden();
    if (address.toLowerCase() === signedIn) return;
    const delegation = await getDelegation(app.chain.reader, { account: address as Address, delegate: signedIn });
    const now = BigInt(Math.floor(Date.now() / 1000));
    if (delegation === undefined || !delegation.active || (delegation.expiresAt !== 0n && delegation.expiresAt <= now)) throw forbidden();
  };
}
