import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { Address } from "viem";

import { ApiError } from "../errors.ts";
import { signInVerifier } from "./signIn.ts";

declare module "fastify" {
  interface FastifyInstance {
    /** preHandler: a valid sign-in (`Authorization: AgentTab <token>`) or 401; sets `request.signedInAccount`. */
    requireSignIn: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /** The account that signed the request's sign-in token (lowercase), once `requireSignIn` ran. */
    signedInAccount: Address | null;
  }
}

/**
 * Stateless sign-in for the routes that read one account's own data: every instance verifies the
 * token from its signature alone (see `signInVerifier`), so any number of proxies can serve it.
 */
export default fp(
  async function signIn(app: FastifyInstance, { cacheSize }: { cacheSize?: number } = {}) {
    const { chainId, escrow } = app.config.deployment;
    const verify = signInVerifier({ chainId, escrow, ...(cacheSize === undefined ? {} : { cacheSize }) });
    app.decorateRequest("signedInAccount", null);
    app.decorate("requireSignIn", async (request: FastifyRequest) => {
      request.signedInAccount = await verify(request.headers.authorization);
    });
  },
  { name: "agenttab-sign-in" },
);

/**
 * The one 403 of every account read: the same body whatever the route or the address, so that a
 * refusal reveals nothing about the account asked for.
 */
export const forbidden = () =>
  new ApiError({ status: 403, code: "forbidden", message: "A sign-in reads only its own account's data, or that of an agent account it is an active delegate of" });

/**
 * preHandler, after `requireSignIn`: the route's `:address` must be the signed-in account. The
 * 403 is the same whether or not that address has any data, so it reveals nothing about it.
 *
 * @example
 * app.get("/v1/agents/:address/balance", { preHandler: [app.requireSignIn, requireOwnAddress] }, handler);
 */
export async function requireOwnAddress(request: FastifyRequest): Promise<void> {
  const { address } = request.params as { address?: string };
  if (request.signedInAccount === null || address === undefined || address.toLowerCase() !== request.signedInAccount) {
    throw forbidden();
  }
}
