import type { Address } from "viem";

import { authorizationHeader, parseSignInToken, signIn } from "../apiTypedData.ts";
import type { SignInSigner } from "../apiTypedData.ts";

/**
 * A cached sign-in for the API's read endpoints: signs once, reuses the token, and signs again
 * `renewBeforeSeconds` before it expires. Concurrent callers share one signing.
 *
 * @example
 * const session = new SignInSession({ signer: agent, chainId, escrow });
 * await fetch(url, { headers: { authorization: await session.authorization() } });
 */
export class SignInSession {
  readonly #signer: SignInSigner;
  readonly #chainId: number;
  readonly #escrow: Address;
  readonly #ttlSeconds: number;
  readonly #renewBeforeSeconds: number;
  #token: Promise<{ header: string; expiresAt: number }> | undefined;

  constructor({
    signer,
    chainId,
    escrow,
    ttlSeconds = 3_600,
    renewBeforeSeconds = 60,
  }: {
    signer: SignInSigner;
    chainId: number;
    escrow: Address;
    ttlSeconds?: number;
    renewBeforeSeconds?: number;
  }) {
    this.#signer = signer;
    this.#chainId = chainId;
    this.#escrow = escrow;
    this.#ttlSeconds = ttlSeconds;
    this.#renewBeforeSeconds = renewBeforeSeconds;
  }

  /** The `Authorization` header value, signing in when there is no token or it is about to expire. */
  async authorization(): Promise<string> {
    const now = Date.now() / 1000;
    const pending = this.#token;
    const current = pending && (await pending.catch(() => undefined));
    if (current && current.expiresAt - this.#renewBeforeSeconds > now) return current.header;
    // Whoever sees the stale token first replaces it; the others await that same signing.
    if (this.#token === pending) this.#token = this.#signIn();
    const renewing = this.#token as Promise<{ header: string; expiresAt: number }>;
    try {
      return (await renewing).header;
    } catch (error) {
      if (this.#token === renewing) this.#token = undefined;
      throw error;
    }
  }

  async #signIn() {
    const token = await signIn(this.#signer, { chainId: this.#chainId, escrow: this.#escrow, ttlSeconds: this.#ttlSeconds });
    const expiresAt = Number(parseSignInToken(token)?.expiresAt ?? 0n);
    return { header: authorizationHeader(token), expiresAt };
  }
}
