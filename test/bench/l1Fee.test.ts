import { concat, hexToBytes, keccak256, toHex } from "viem";
import type { Hex } from "viem";
import { describe, expect, it } from "vitest";

import { fastLzLength, fjordL1Fee } from "../../bench/lib/l1Fee.ts";

/** `length` bytes of a keccak chain: no three-byte sequence repeats within reach, in practice. */
function pseudoRandom(length: number, label: string): Uint8Array {
  const blocks: Hex[] = [];
  let block = keccak256(toHex(label));
  for (let total = 0; total < length; total += 32) {
    blocks.push(block);
    block = keccak256(block);
  }
  return hexToBytes(concat(blocks)).subarray(0, length);
}

describe("fastLzLength", () => {
  it("codes an input too short to search (under 13 bytes) as one literal run: a header byte and the bytes", () => {
    expect(fastLzLength(new Uint8Array(0))).toBe(0);
    expect(fastLzLength(new Uint8Array(12))).toBe(13);
  });

  it("codes zeros as 2 literals, one match to 4 bytes before the end, and the last 5 literals", () => {
    // 100 bytes: literals(2) = 3, a match of 91 (short of 262: 3 bytes), literals(5) = 6.
    expect(fastLzLength(new Uint8Array(100))).toBe(12);
    // 1,000 bytes: the match codes 990 = 3·262 + 204, so 3 long tokens (9) and a 3-byte one.
    expect(fastLzLength(new Uint8Array(1000))).toBe(3 + 12 + 6);
  });

  it("cannot shrink incompressible bytes: each run of 32 costs one header byte", () => {
    expect(fastLzLength(pseudoRandom(1000, "incompressible"))).toBe(1000 + Math.ceil(1000 / 32));
    expect(fastLzLength(pseudoRandom(64, "one block"))).toBe(66);
  });

  it("codes a repeated block as one match back to its first copy", () => {
    const block = pseudoRandom(64, "repeated");
    // 64 literals (66), then a 57-long match (3), then the last 5 literals (6).
    expect(fastLzLength(concat([block, block]))).toBe(75);
  });

  it("agrees with op-geth's reference vectors (an empty legacy transaction; OP Mainnet tx 0x8eb9dd4e…b594)", () => {
    expect(fastLzLength(hexToBytes("0xdd80808094095e7baea6a6c7c4c2dfeb977efac326af552d878080808080"))).toBe(31);
    const contractCall = ("0x02f901550a758302df1483be21b88304743f94f80e51afb613d764fa61751affd3313c190a86bb870151bd62fd12adb8e41ef24f3f" +
      "000000000000000000000000000000000000000000000000000000000000006e000000000000000000000000af88d065e77c8cc2239327c5edb3a432268e5831" +
      "000000000000000000000000000000000000000000000000000000000003c1e5000000000000000000000000000000000000000000000000000000000000000000" +
      "0000000000000000000000000000000000000000000000000000000000a000000000000000000000000000000000000000000000000000000000000000148c89ed" +
      "219d02f1a5be012c689b4f5b731827bebe000000000000000000000000c001a033fd89cb37c31b2cba46b6466e040c61fc9b2a3675a7f5f493ebd5ad77c497f8a0" +
      "7cdf65680e238392693019b4092f610222e71b7cec06449cb922b93b6a12744e") as Hex;
    expect(fastLzLength(hexToBytes(contractCall))).toBe(202);
  });
});

describe("fjordL1Fee", () => {
  // 1 gwei L1 base fee, its EIP-7918 blob floor (1/16), Base's scalars.
  const prices = { l1BaseFee: 1_000_000_000n, blobBaseFee: 62_500_000n, baseFeeScalar: 2_269n, blobBaseFeeScalar: 1_055_762n };
  // 2269·1e9·16 + 1,055,762·62,500,000 = 36,304,000,000,000 + 65,985,125,000,000
  const l1FeeScaled = 102_289_125_000_000n;

  it("prices the regression's size above the floor", () => {
    // −42,585,600 + 836,500·200 = 124,714,400; × 102,289,125,000,000 / 1e12 = 12,756,926,850.9…
    expect(fjordL1Fee({ ...prices, fastlzSize: 200 })).toEqual({ estimatedSizeScaled: 124_714_400n, l1Fee: 12_756_926_850n });
  });

  it("applies the 100-byte floor to small transactions, up to 170 compressed bytes", () => {
    const floor = { estimatedSizeScaled: 100_000_000n, l1Fee: (100_000_000n * l1FeeScaled) / 10n ** 12n };
    expect(floor.l1Fee).toBe(10_228_912_500n);
    expect(fjordL1Fee({ ...prices, fastlzSize: 0 })).toEqual(floor);
    expect(fjordL1Fee({ ...prices, fastlzSize: 170 })).toEqual(floor); // 99,619,400 by the regression
    expect(fjordL1Fee({ ...prices, fastlzSize: 171 }).estimatedSizeScaled).toBe(100_455_900n);
  });

  it("is linear in each price term", () => {
    const calldataOnly = fjordL1Fee({ fastlzSize: 1000n, l1BaseFee: 3n * 10n ** 9n, blobBaseFee: 0n, baseFeeScalar: 1_000_000n, blobBaseFeeScalar: 0n });
    // (836,500,000 − 42,585,600) · 1e6 · 3e9 · 16 / 1e12 = 793,914,400 · 48,000 = 38,107,891,200,000
    expect(calldataOnly.l1Fee).toBe(38_107_891_200_000n);
    const blobOnly = fjordL1Fee({ fastlzSize: 1000n, l1BaseFee: 0n, blobBaseFee: 7n, baseFeeScalar: 0n, blobBaseFeeScalar: 1_000_000n });
    expect(blobOnly.l1Fee).toBe(793_914_400n * 7n / 1_000_000n);
  });
});
