import { recoverTypedDataAddress } from "viem";
import type { Address } from "viem";

import { MAX_SIGN_IN_TTL_SECONDS, SIGN_IN_AUTHORIZATION_SCHEME, parseSignInToken, signInTypedData } from "@agenttab/sdk";
import type { SignedSignIn } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";
import { LruCache } from "./lruCache.ts";

/** How far ahead of the API's clock a sign-in's `issuedAt` may be (the signer's clock may run fast). */
export const SIGN_IN_CLOCK_SKEW_SECONDS = 60n;

const challenge = { "www-authenticate": `${SIGN_IN_AUTHORIZATION_SCHEME} realm="agenttab"` };

/** A 401 with the sign-in challenge (`WWW-Authenticate: AgentTab …`). */
export const unauthorized = (code: "missing_authorization" | "invalid_authorization" | "authorization_expired", message: string) =>
  new ApiError({ status: 401, code, message, headers: challenge });

/**
 * Whether an `Authorization` value is an AgentTab sign-in (scheme `AgentTab`, any casing, as the
 * verifier reads it): the proxy never forwards one to a provider.
 *
 * @example
 * isSignInAuthorization("agenttab eyJ…"); // true
 * isSignInAuthorization("Bearer abc"); // false
 */
export function isSignInAuthorization(authorization: string): boolean {
  return authorization.trim().split(/\s+/, 1)[0]?.toLowerCase() === SIGN_IN_AUTHORIZATION_SCHEME.toLowerCase();
}

/** Checks an `Authorization` header and returns the signed-in account (lowercase). */
export type SignInVerifier = (authorization: string | undefined, options?: { nowSeconds?: bigint }) => Promise<Address>;

/**
 * Builds the verifier of `Authorization: AgentTab <token>` for one deployment (the token's
 * EIP-712 domain is the API domain of `chainId` and `escrow`). A token is accepted while its
 * signature recovers to its `account` (ECDSA), it has not expired, it lasts at most
 * `MAX_SIGN_IN_TTL_SECONDS`, and it was not issued more than a minute in the future.
 *
 * Recovering a signature costs ~1.6 ms of CPU, so tokens whose signature checked out are kept in a
 * bounded LRU and not recovered again; the times are checked on every request, hit or miss, so the
 * cache only saves work and never changes an answer.
 *
 * @throws {ApiError} 401 `missing_authorization`, `invalid_authorization`, `authorization_expired`.
 * @example
 * const verify = signInVerifier({ chainId: 8453, escrow: deployment.escrow });
 * const account = await verify(request.headers.authorization);
 */
export function signInVerifier({ chainId, escrow, cacheSize = 10_000 }: { chainId: number; escrow: Address; cacheSize?: number }): SignInVerifier {
  const verified = new LruCache<string, SignedSignIn>({ maxSize: cacheSize });

  return async (authorization, { nowSeconds = BigInt(Math.floor(Date.now() / 1000)) } = {}) => {
    if (authorization === undefined || authorization.trim() === "") {
      throw unauthorized("missing_authorization", `Sign in: send Authorization: ${SIGN_IN_AUTHORIZATION_SCHEME} <token>`);
    }
    const [, token, ...extra] = authorization.trim().split(/\s+/);
    if (!isSignInAuthorization(authorization) || token === undefined || extra.length > 0) {
      throw unauthorized("invalid_authorization", `The Authorization header must be "${SIGN_IN_AUTHORIZATION_SCHEME} <token>"`);
    }
    const cached = verified.get(token);
    const signed = cached ?? parseSignInToken(token);
    if (signed === undefined) throw unauthorized("invalid_authorization", "The sign-in token is malformed");

    if (signed.expiresAt <= signed.issuedAt || signed.expiresAt - signed.issuedAt > BigInt(MAX_SIGN_IN_TTL_SECONDS)) {
      throw unauthorized("invalid_authorization", `A sign-in must last between 1 and ${MAX_SIGN_IN_TTL_SECONDS} seconds`);
    }
    if (signed.issuedAt > nowSeconds + SIGN_IN_CLOCK_SKEW_SECONDS) {
      throw unauthorized("invalid_authorization", "The sign-in was issued in the future; check the signer's clock");
    }
    if (signed.expiresAt <= nowSeconds) {
      verified.delete(token);
      throw unauthorized("authorization_expired", "The sign-in has expired; sign in again");
    }
    if (cached === undefined) {
      let recovered: Address;
      try {
        recovered = await recoverTypedDataAddress({ ...signInTypedData({ chainId, escrow, signIn: signed }), signature: signed.signature });
      } catch {
        throw unauthorized("invalid_authorization", "The sign-in signature is malformed");
      }
      if (recovered.toLowerCase() !== signed.account.toLowerCase()) {
        throw unauthorized("invalid_authorization", "The sign-in signature does not recover to its account");
      }
      verified.set(token, signed);
    }
    return signed.account.toLowerCase() as Address;
  };
}
