import { hashTypedData, recoverTypedDataAddress } from "viem";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";

import { voucherDomain, voucherTypes } from "../typedData.ts";
import type { Voucher } from "../typedData.ts";
import { typedMessage } from "./typedMessage.ts";

const escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" as const;
const agent = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const other = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const secp256k1N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const voucher = typedMessage<Voucher>()({ domain: voucherDomain, types: voucherTypes, primaryType: "Voucher" });
const domain = { chainId: 31337, escrow };
const message: Voucher = { account: agent.address, signer: agent.address, provider: other.address, maxCumulative: 1_234_567n };

describe("typedMessage", () => {
  it("builds the typed data from the domain factory, the types and the primary type", () => {
    const typedData = voucher.typedData({ domain, message });
    expect(typedData).toEqual({ domain: voucherDomain(domain), types: voucherTypes, primaryType: "Voucher", message });
    expect(typedData.types).toBe(voucherTypes);
  });

  it("digests what it signs", async () => {
    const typedData = voucher.typedData({ domain, message });
    expect(voucher.digest({ domain, message })).toBe(hashTypedData(typedData));
    const signature = await voucher.sign(agent, { domain, message });
    expect(await recoverTypedDataAddress({ ...typedData, signature })).toBe(agent.address);
  });

  it("verifies the signer's signature and nothing else", async () => {
    const signature = await voucher.sign(agent, { domain, message });
    expect(await voucher.verify({ domain, message, signature, signer: agent.address })).toBe(true);
    expect(await voucher.verify({ domain, message, signature, signer: other.address })).toBe(false);
    expect(await voucher.verify({ domain, message: { ...message, maxCumulative: 1n }, signature, signer: agent.address })).toBe(false);
    expect(await voucher.verify({ domain: { ...domain, chainId: 8453 }, message, signature, signer: agent.address })).toBe(false);
  });

  it("refuses what the contracts refuse, without throwing", async () => {
    const signature = await voucher.sign(agent, { domain, message });
    const s = BigInt(`0x${signature.slice(66, 130)}`);
    const v = Number.parseInt(signature.slice(130, 132), 16);
    const highS = `${signature.slice(0, 66)}${(secp256k1N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}` as Hex;
    const parityV = `${signature.slice(0, 130)}${(v - 27).toString(16).padStart(2, "0")}` as Hex;
    for (const bad of [highS, parityV, signature.slice(0, 130) as Hex, "0x" as Hex]) {
      expect(await voucher.verify({ domain, message, signature: bad, signer: agent.address })).toBe(false);
    }
    const malformed = { ...message, account: "0x1234" as const };
    expect(await voucher.verify({ domain, message: malformed, signature, signer: agent.address })).toBe(false);
  });
});
