import { recoverTypedDataAddress } from "viem";
import { describe, expect, it } from "vitest";

import {
  MAX_SIGN_IN_TTL_SECONDS,
  SignInLifetimeError,
  apiDomain,
  authorizationHeader,
  encodeSignInToken,
  parseSignInToken,
  signIn,
  signInTypedData,
  signInTypes,
} from "@agenttab/sdk";

import { LruCache } from "../../api/src/auth/lruCache.ts";
import { signInVerifier } from "../../api/src/auth/signIn.ts";
import { ApiError } from "../../api/src/errors.ts";
import { testAccount } from "../indexer/helpers/actions.ts";

const chainId = 31337;
const escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" as const;
const agent = testAccount("sign-in agent");
const issuedAt = 1_735_689_600n;

/** The ApiError code a verification fails with, or "ok". */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof ApiError) return `${error.status} ${error.code}`;
    throw error;
  }
}

describe("sdk: sign-in tokens", () => {
  it("signs SignIn(address account,uint64 issuedAt,uint64 expiresAt) under the API domain", async () => {
    const token = await signIn(agent, { chainId, escrow, ttlSeconds: 900, issuedAt });
    const signed = parseSignInToken(token);
    expect(signed).toEqual({ account: agent.address, issuedAt, expiresAt: issuedAt + 900n, signature: expect.stringMatching(/^0x[0-9a-f]{130}$/) });
    const typedData = signInTypedData({ chainId, escrow, signIn: { account: agent.address, issuedAt, expiresAt: issuedAt + 900n } });
    expect(typedData.domain).toEqual({ name: "AgentTab API", version: "1", chainId, verifyingContract: escrow });
    expect(typedData.domain).toEqual(apiDomain({ chainId, escrow }));
    expect(signInTypes.SignIn.map((f) => `${f.type} ${f.name}`).join(",")).toBe("address account,uint64 issuedAt,uint64 expiresAt");
    expect(await recoverTypedDataAddress({ ...typedData, signature: signed!.signature })).toBe(agent.address);
  });

  it("is base64url JSON with times as numbers, and parses back", async () => {
    const token = await signIn(agent, { chainId, escrow, issuedAt });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    const json = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    expect(json).toEqual({ account: agent.address, issuedAt: Number(issuedAt), expiresAt: Number(issuedAt) + 3_600, signature: expect.any(String) });
    expect(encodeSignInToken(parseSignInToken(token)!)).toBe(token);
    expect(authorizationHeader(token)).toBe(`AgentTab ${token}`);
  });

  it("parses nothing that is not exactly a token", () => {
    const base = { account: agent.address, issuedAt: 1, expiresAt: 2, signature: `0x${"11".repeat(65)}` };
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    expect(parseSignInToken(encode(base))).toBeDefined();
    for (const bad of [
      "",
      "!!!",
      "a",
      encode([base]),
      encode(null),
      encode({ ...base, extra: 1 }),
      encode({ ...base, account: "0x1234" }),
      encode({ ...base, issuedAt: "1" }),
      encode({ ...base, expiresAt: -1 }),
      encode({ ...base, expiresAt: 1.5 }),
      encode({ ...base, expiresAt: 2 ** 53 }),
      encode({ ...base, signature: "0x11" }),
      "A".repeat(2_000),
    ]) {
      expect(parseSignInToken(bad)).toBeUndefined();
    }
  });

  it("refuses a lifetime the API would refuse", async () => {
    await expect(signIn(agent, { chainId, escrow, ttlSeconds: MAX_SIGN_IN_TTL_SECONDS + 1 })).rejects.toThrow(SignInLifetimeError);
    await expect(signIn(agent, { chainId, escrow, ttlSeconds: 0 })).rejects.toThrow(SignInLifetimeError);
    await expect(signIn(agent, { chainId, escrow, ttlSeconds: MAX_SIGN_IN_TTL_SECONDS })).resolves.toEqual(expect.any(String));
  });
});

describe("api: sign-in verification", () => {
  it("checks the times on every request, cached or not", async () => {
    const verify = signInVerifier({ chainId, escrow });
    const header = authorizationHeader(await signIn(agent, { chainId, escrow, ttlSeconds: 600, issuedAt }));
    const lower = agent.address.toLowerCase();
    expect(await verify(header, { nowSeconds: issuedAt })).toBe(lower);
    expect(await verify(header, { nowSeconds: issuedAt + 599n })).toBe(lower);
    expect(await outcome(verify(header, { nowSeconds: issuedAt + 600n }))).toBe("401 authorization_expired");
    expect(await outcome(verify(header, { nowSeconds: issuedAt - 61n }))).toBe("401 invalid_authorization");
    expect(await verify(header, { nowSeconds: issuedAt - 60n })).toBe(lower);
  });

  it("gives the same answers with a cache of one entry as with a large one", async () => {
    const small = signInVerifier({ chainId, escrow, cacheSize: 1 });
    const large = signInVerifier({ chainId, escrow });
    const other = testAccount("sign-in other");
    const headers = [
      authorizationHeader(await signIn(agent, { chainId, escrow, issuedAt })),
      authorizationHeader(await signIn(other, { chainId, escrow, issuedAt })),
      authorizationHeader(await signIn(other, { chainId: 1, escrow, issuedAt })),
      authorizationHeader(
        encodeSignInToken({
          account: agent.address,
          issuedAt,
          expiresAt: issuedAt + 60n,
          signature: await other.signTypedData(signInTypedData({ chainId, escrow, signIn: { account: agent.address, issuedAt, expiresAt: issuedAt + 60n } })),
        }),
      ),
    ];
    for (let round = 0; round < 3; round++) {
      for (const header of headers) {
        for (const nowSeconds of [issuedAt, issuedAt + 3_600n]) {
          expect(await outcome(small(header, { nowSeconds }))).toBe(await outcome(large(header, { nowSeconds })));
        }
      }
    }
    expect(await outcome(large(headers[3], { nowSeconds: issuedAt }))).toBe("401 invalid_authorization");
  });

  it("keeps its cache bounded, evicting the least recently used", () => {
    const cache = new LruCache<string, number>({ maxSize: 2 });
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
  });
});
