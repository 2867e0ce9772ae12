import { concat, numberToHex, padHex } from "viem";
import { describe, expect, it } from "vitest";

import { decodeClaims, decodeClaimsLog, encodeClaims } from "./claims.ts";
import { ClaimEncodingError, ClaimsDecodingError } from "./errors.ts";

const account = "0x1111111111111111111111111111111111111111" as const;
const delegate = "0x2222222222222222222222222222222222222222" as const;
const signature = `0x${"ab".repeat(65)}` as const;
const u128 = (value: bigint) => numberToHex(value, { size: 16 });

describe("encodeClaims", () => {
  it("packs an own claim as flags(0) account maxCumulative cumulative sigLen sig", () => {
    const encoded = encodeClaims([{ account, maxCumulative: 500n, cumulative: 300n, signature }]);
    expect(encoded).toBe(concat(["0x00", account, u128(500n), u128(300n), "0x0041", signature]));
    expect((encoded.length - 2) / 2).toBe(1 + 20 + 16 + 16 + 2 + 65);
  });

  it("packs a delegate claim with flags(1) and the signer; a signer equal to the account is no delegate", () => {
    expect(encodeClaims([{ account, signer: delegate, maxCumulative: 1n, cumulative: 1n, signature: "0x" }])).toBe(
      concat(["0x01", account, delegate, u128(1n), u128(1n), "0x0000"]),
    );
    expect(encodeClaims([{ account, signer: account.toUpperCase().replace("0X", "0x") as `0x${string}`, maxCumulative: 1n, cumulative: 1n, signature: "0x" }])).toBe(
      concat(["0x00", account, u128(1n), u128(1n), "0x0000"]),
    );
  });

  it("concatenates claims back to back and round-trips through decodeClaims", () => {
    const claims = [
      { account, maxCumulative: 2n ** 128n - 1n, cumulative: 0n, signature },
      { account, signer: delegate, maxCumulative: 9n, cumulative: 7n, signature: padHex("0x01", { size: 300 }) },
    ];
    const decoded = decodeClaims(encodeClaims(claims));
    expect(decoded).toEqual([
      { ...claims[0], signer: account },
      { ...claims[1], signer: delegate },
    ]);
    expect(encodeClaims([])).toBe("0x");
  });

  it("rejects amounts beyond 128 bits, long signatures and malformed input with the claim's index", () => {
    const ok = { account, maxCumulative: 1n, cumulative: 1n, signature };
    const cases = [
      [{ ...ok, maxCumulative: 2n ** 128n }, /maxCumulative .* outside \[0, 2\^128\)/],
      [{ ...ok, cumulative: -1n }, /cumulative -1 is outside/],
      [{ ...ok, cumulative: 1 as unknown as bigint }, /cumulative must be a bigint/],
      [{ ...ok, signature: `0x${"00".repeat(65_536)}` as const }, /signature is 65536 bytes, the limit is 65535/],
      [{ ...ok, signature: "0xabc" as const }, /not a hex byte string/],
      [{ ...ok, account: "0x1234" as const }, /account 0x1234 is not an address/],
      [{ ...ok, signer: "nope" as `0x${string}` }, /signer nope is not an address/],
    ] as const;
    for (const [claim, message] of cases) {
      const error = (() => {
        try {
          encodeClaims([ok, claim]);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ClaimEncodingError);
      expect((error as ClaimEncodingError).index).toBe(1);
      expect((error as Error).message).toMatch(message);
    }
    expect(encodeClaims([{ ...ok, signature: `0x${"00".repeat(65_535)}` }]).length).toBe(2 + 2 * (55 + 65_535));
  });
});

describe("decodeClaimsLog", () => {
  it("reads own and delegated entries with checksummed addresses", () => {
    const log = concat([
      "0x00", account, u128(300n), u128(300n),
      "0x01", account, delegate, u128(5n), u128(12n),
    ]);
    expect(decodeClaimsLog(log)).toEqual([
      { account, signer: account, amount: 300n, cumulative: 300n, delegated: false },
      { account, signer: delegate, amount: 5n, cumulative: 12n, delegated: true },
    ]);
    expect(decodeClaimsLog("0x")).toEqual([]);
  });

  it("rejects a cut-short entry and a reserved flag", () => {
    const entry = concat(["0x00", account, u128(1n), u128(1n)]);
    expect(() => decodeClaimsLog(entry.slice(0, -2) as `0x${string}`)).toThrow(ClaimsDecodingError);
    expect(() => decodeClaimsLog(concat([entry, "0x02"]))).toThrow(/byte 53: reserved flags 0x2/);
    expect(() => decodeClaims(concat(["0x00", account, u128(1n), u128(1n), "0x0041", "0xabab"]))).toThrow(/signature cut short/);
  });
});
