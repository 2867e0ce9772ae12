import { concat, getAddress, numberToHex, padHex } from "viem";
import type { Address } from "viem";
import { describe, expect, it } from "vitest";

import { decodeClaims, decodeClaimsLog, encodeClaims, settlementProviders } from "./claims.ts";
import { ClaimEncodingError, ClaimsDecodingError } from "./errors.ts";

const account = "0x1111111111111111111111111111111111111111" as const;
const delegate = "0x2222222222222222222222222222222222222222" as const;
const weather = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as const;
const search = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65" as const;
const providers = [search, weather];
const signature = `0x${"ab".repeat(65)}` as const;
const u128 = (value: bigint) => numberToHex(value, { size: 16 });
const u16 = (value: number) => numberToHex(value, { size: 2 });

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("settlementProviders", () => {
  it("lists each provider once, checksummed, ascending by address value", () => {
    const claims = [
      { provider: weather.toLowerCase() as Address },
      { provider: search },
      { provider: weather },
      { provider: "0x00000000000000000000000000000000000000ff" as Address },
    ];
    expect(settlementProviders(claims)).toEqual([getAddress("0x00000000000000000000000000000000000000ff"), search, weather]);
    expect(settlementProviders([])).toEqual([]);
  });

  it("orders by numeric value, not by the checksum's letter case", () => {
    // Checksummed, 0xa1… sorts after 0xB3… as a string ("a" > "B"), though it is the smaller number.
    const smaller = "0xa111111111111111111111111111111111111111" as Address;
    const larger = "0xB333333333333333333333333333333333333333" as Address;
    expect(settlementProviders([{ provider: larger }, { provider: smaller }])).toEqual([smaller, larger]);
  });

  it("refuses a provider that is not an address, naming the claim", () => {
    const error = thrown(() => settlementProviders([{ provider: weather }, { provider: "0x12" as Address }]));
    expect(error).toBeInstanceOf(ClaimEncodingError);
    expect((error as ClaimEncodingError).index).toBe(1);
  });
});

describe("encodeClaims", () => {
  it("packs an own claim as flags(0) account providerIndex maxCumulative cumulative sigLen sig", () => {
    const encoded = encodeClaims([{ account, provider: weather, maxCumulative: 500n, cumulative: 300n, signature }], providers);
    expect(encoded).toBe(concat(["0x00", account, u16(1), u128(500n), u128(300n), "0x0041", signature]));
    expect((encoded.length - 2) / 2).toBe(1 + 20 + 2 + 16 + 16 + 2 + 65);
  });

  it("packs a delegate claim with flags(1) and the signer; a signer equal to the account is no delegate", () => {
    expect(encodeClaims([{ account, signer: delegate, provider: search, maxCumulative: 1n, cumulative: 1n, signature: "0x" }], providers)).toBe(
      concat(["0x01", account, delegate, u16(0), u128(1n), u128(1n), "0x0000"]),
    );
    const sameAsAccount = account.toUpperCase().replace("0X", "0x") as Address;
    expect(encodeClaims([{ account, signer: sameAsAccount, provider: search, maxCumulative: 1n, cumulative: 1n, signature: "0x" }], providers)).toBe(
      concat(["0x00", account, u16(0), u128(1n), u128(1n), "0x0000"]),
    );
  });

  it("finds the provider case-insensitively and writes its index in the list given", () => {
    const claim = { account, provider: weather.toLowerCase() as Address, maxCumulative: 1n, cumulative: 1n, signature: "0x" as const };
    const many = Array.from({ length: 300 }, (_, i) => padHex(numberToHex(i + 1), { size: 20 }));
    many[258] = weather;
    expect(encodeClaims([claim], many)).toBe(concat(["0x00", account, u16(258), u128(1n), u128(1n), "0x0000"]));
  });

  it("concatenates claims back to back and round-trips through decodeClaims", () => {
    const claims = [
      { account, provider: weather, maxCumulative: 2n ** 128n - 1n, cumulative: 0n, signature },
      { account, signer: delegate, provider: search, maxCumulative: 9n, cumulative: 7n, signature: padHex("0x01", { size: 300 }) },
    ];
    const decoded = decodeClaims(encodeClaims(claims, providers), providers);
    expect(decoded).toEqual([
      { ...claims[0], signer: account },
      { ...claims[1], signer: delegate },
    ]);
    expect(encodeClaims([], [])).toBe("0x");
  });

  it("refuses a claim whose provider is not in the providers given", () => {
    const error = thrown(() =>
      encodeClaims(
        [
          { account, provider: weather, maxCumulative: 1n, cumulative: 1n, signature },
          { account, provider: delegate, maxCumulative: 1n, cumulative: 1n, signature },
        ],
        providers,
      ),
    );
    expect(error).toBeInstanceOf(ClaimEncodingError);
    expect((error as ClaimEncodingError).index).toBe(1);
    expect((error as Error).message).toMatch(`provider ${delegate} is not in the batch's providers`);
  });

  it("rejects amounts beyond 128 bits, long signatures and malformed input with the claim's index", () => {
    const ok = { account, provider: weather, maxCumulative: 1n, cumulative: 1n, signature };
    const cases = [
      [{ ...ok, maxCumulative: 2n ** 128n }, /maxCumulative .* outside \[0, 2\^128\)/],
      [{ ...ok, cumulative: -1n }, /cumulative -1 is outside/],
      [{ ...ok, cumulative: 1 as unknown as bigint }, /cumulative must be a bigint/],
      [{ ...ok, signature: `0x${"00".repeat(65_536)}` as const }, /signature is 65536 bytes, the limit is 65535/],
      [{ ...ok, signature: "0xabc" as const }, /not a hex byte string/],
      [{ ...ok, account: "0x1234" as const }, /account 0x1234 is not an address/],
      [{ ...ok, signer: "nope" as `0x${string}` }, /signer nope is not an address/],
      [{ ...ok, provider: "nope" as `0x${string}` }, /provider nope is not an address/],
    ] as const;
    for (const [claim, message] of cases) {
      const error = thrown(() => encodeClaims([ok, claim], providers));
      expect(error).toBeInstanceOf(ClaimEncodingError);
      expect((error as ClaimEncodingError).index).toBe(1);
      expect((error as Error).message).toMatch(message);
    }
    expect(encodeClaims([{ ...ok, signature: `0x${"00".repeat(65_535)}` }], providers).length).toBe(2 + 2 * (57 + 65_535));
  });
});

describe("decodeClaims", () => {
  it("refuses a provider index outside the providers, a cut-short signature and a reserved flag", () => {
    const claim = concat(["0x00", account, u16(2), u128(1n), u128(1n), "0x0000"]);
    expect(() => decodeClaims(claim, providers)).toThrow(/byte 0: provider index 2 is outside the 2 providers/);
    expect(decodeClaims(claim, [search, weather, delegate])[0]?.provider).toBe(delegate);
    expect(() => decodeClaims(concat(["0x00", account, u16(0), u128(1n), u128(1n), "0x0041", "0xabab"]), providers)).toThrow(/signature cut short/);
    expect(() => decodeClaims(concat(["0x00", account, u16(0), u128(1n), u128(1n)]), providers)).toThrow(/entry cut short/);
    expect(() => decodeClaims(concat(["0x04", account]), providers)).toThrow(ClaimsDecodingError);
  });
});

describe("decodeClaimsLog", () => {
  it("reads own and delegated entries with the provider, checksummed", () => {
    const log = concat([
      "0x00", account, weather.toLowerCase() as Address, u128(300n), u128(300n),
      "0x01", account, delegate, search, u128(5n), u128(12n),
    ]);
    expect(decodeClaimsLog(log)).toEqual([
      { account, signer: account, provider: weather, amount: 300n, cumulative: 300n, delegated: false },
      { account, signer: delegate, provider: search, amount: 5n, cumulative: 12n, delegated: true },
    ]);
    expect(decodeClaimsLog("0x")).toEqual([]);
  });

  it("rejects a cut-short entry and a reserved flag", () => {
    const entry = concat(["0x00", account, weather, u128(1n), u128(1n)]);
    expect(() => decodeClaimsLog(entry.slice(0, -2) as `0x${string}`)).toThrow(ClaimsDecodingError);
    // An entry of the old layout (no provider) is cut short, not misread.
    expect(() => decodeClaimsLog(concat(["0x00", account, u128(1n), u128(1n)]))).toThrow(/entry cut short/);
    expect(() => decodeClaimsLog(concat([entry, "0x02"]))).toThrow(/byte 73: reserved flags 0x2/);
  });
});
