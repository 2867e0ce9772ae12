import { describe, expect, it } from "vitest";
import { hashTypedData, keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { signReceipt, signVoucher, voucherDomain, voucherTypes } from "@agenttab/sdk";

import { feeOf, priceOf } from "./pricing.ts";
import { receiptSigner, requestIdToBytes32 } from "./receipts.ts";
import { recoverSigner } from "./recoverSigner.ts";
import { voucherDigester } from "./voucherDigest.ts";

const key = keccak256(toHex("payments unit test key"));
const account = privateKeyToAccount(key);
const escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const reputation = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe("native voucher verification agrees with viem", () => {
  const digestOf = voucherDigester({ chainId: 31337, escrow });
  const provider = privateKeyToAccount(keccak256(toHex("payments unit test provider"))).address;
  const delegate = privateKeyToAccount(keccak256(toHex("payments unit test delegate"))).address;

  it("computes the same digest as hashTypedData with the SDK's types, over all four fields", () => {
    for (const max of [0n, 1n, 25_000n, (1n << 128n) - 1n]) {
      for (const signer of [account.address, delegate]) {
        const message = { account: account.address, signer, provider, maxCumulative: max };
        const expected = hashTypedData({ domain: voucherDomain({ chainId: 31337, escrow }), types: voucherTypes, primaryType: "Voucher", message });
        expect(digestOf(message)).toBe(expected);
      }
    }
    // Each field is signed: changing any one changes the digest.
    const base = { account: account.address, signer: account.address, provider, maxCumulative: 5n };
    const digests = new Set([base, { ...base, signer: delegate }, { ...base, provider: delegate }, { ...base, account: delegate }, { ...base, maxCumulative: 6n }].map(digestOf));
    expect(digests.size).toBe(5);
  });

  it("recovers the signer of an SDK-signed voucher, and nobody for a tampered one", async () => {
    const voucher = { account: account.address, signer: account.address, provider, maxCumulative: 5_000n };
    const signature = await signVoucher(account, { chainId: 31337, escrow, account: account.address, provider, maxCumulative: 5_000n });
    expect(recoverSigner(digestOf(voucher), signature)).toBe(account.address.toLowerCase());
    expect(recoverSigner(digestOf({ ...voucher, maxCumulative: 5_001n }), signature)).not.toBe(account.address.toLowerCase());
    expect(recoverSigner(digestOf({ ...voucher, provider: delegate }), signature)).not.toBe(account.address.toLowerCase());
  });

  it("refuses the malleable high-s twin, wrong v and wrong lengths", async () => {
    const signature = await signVoucher(account, { chainId: 31337, escrow, account: account.address, provider, maxCumulative: 7n });
    const r = signature.slice(2, 66);
    const s = BigInt(`0x${signature.slice(66, 130)}`);
    const v = Number.parseInt(signature.slice(130), 16);
    const twin = `0x${r}${(N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}` as const;
    const digest = digestOf({ account: account.address, signer: account.address, provider, maxCumulative: 7n });
    expect(recoverSigner(digest, twin)).toBeUndefined();
    expect(recoverSigner(digest, `${signature.slice(0, 130)}1d` as `0x${string}`)).toBeUndefined();
    expect(recoverSigner(digest, signature.slice(0, 130) as `0x${string}`)).toBeUndefined();
    expect(recoverSigner(digest, `0x${"00".repeat(65)}`)).toBeUndefined();
  });
});

describe("native receipt signing agrees with the SDK", () => {
  it("produces the SDK's signature byte for byte", async () => {
    const receipt = {
      requestId: requestIdToBytes32("0d5f2b52-6bd1-4f0e-9a43-0d1c2c3b4a59"),
      serviceId: keccak256(toHex("weather")),
      provider: account.address,
      payer: privateKeyToAccount(keccak256(toHex("payer"))).address,
      amount: 25_000n,
      cumulative: 75_000n,
      issuedAt: 1_735_689_600n,
    };
    const native = receiptSigner({ chainId: 31337, reputation, privateKey: key }).sign(receipt);
    expect(native).toBe(await signReceipt(account, { chainId: 31337, reputation, receipt }));
    expect(requestIdToBytes32("0d5f2b52-6bd1-4f0e-9a43-0d1c2c3b4a59")).toBe(`0x${"0".repeat(32)}0d5f2b526bd14f0e9a430d1c2c3b4a59`);
  });
});

describe("pricing", () => {
  const metered = { pricing: "metered" as const, price: 10n, maxPrice: 1_000n, usageHeader: "x-usage-units" };
  it("charges units × price, capped at the maximum, and nothing for missing or garbled usage", () => {
    expect(priceOf(metered, () => "42")).toBe(420n);
    expect(priceOf(metered, () => "1000000")).toBe(1_000n);
    for (const bad of [undefined, "", "-3", "1e3", "0x10", "4.5"]) expect(priceOf(metered, () => bad)).toBe(0n);
    expect(priceOf({ pricing: "fixed", price: 7n, maxPrice: 7n, usageHeader: null }, () => "99")).toBe(7n);
  });
  it("rounds fees down", () => {
    expect(feeOf(25_000n, 100)).toBe(250n);
    expect(feeOf(99n, 100)).toBe(0n);
  });
});

describe("native keccak agrees with viem's", () => {
  it("hashes empty, short and multi-part input the same", async () => {
    const { keccak256Buffer } = await import("./keccak.ts");
    for (const text of ["", "abc", "x".repeat(135), "y".repeat(136), "z".repeat(1000)]) {
      expect(`0x${keccak256Buffer(Buffer.from(text)).toString("hex")}`).toBe(keccak256(toHex(text)));
    }
    expect(`0x${keccak256Buffer(Buffer.from("ab"), Buffer.from("c")).toString("hex")}`).toBe(keccak256(toHex("abc")));
  });
});
