import { hashTypedData, keccak256, recoverTypedDataAddress, toHex } from "viem";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";

import { caip2ToChainId, chainIdToCaip2, getNetwork } from "./networks.ts";
import {
  feedbackTypedData,
  receiptDomain,
  receiptTypedData,
  signFeedback,
  signReceipt,
  signVoucher,
  usdcDomain,
  verifyReceipt,
  verifyVoucher,
  voucherDomain,
  voucherTypedData,
  voucherTypes,
} from "./typedData.ts";
import type { Receipt, ReceiptSigner, VoucherSigner } from "./typedData.ts";

const escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" as const;
const agent = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const proxy = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const reputation = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" as const;
const provider = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as const;
const otherProvider = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65" as const;
const secp256k1N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const receipt: Receipt = {
  requestId: keccak256(toHex("request 1")),
  serviceId: keccak256(toHex("weather")),
  provider: "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
  payer: agent.address,
  amount: 25_000n,
  cumulative: 1_234_567n,
  issuedAt: 1_735_689_600n,
};

/** The same signature with `s` mirrored into the upper half and `v` flipped: it recovers the same key. */
function highS(signature: Hex): Hex {
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130, 132), 16);
  return `${signature.slice(0, 66)}${(secp256k1N - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}` as Hex;
}

describe("typed data", () => {
  it("builds the voucher domain of the escrow", () => {
    expect(voucherDomain({ chainId: 8453, escrow })).toEqual({ name: "AgentTab Escrow", version: "1", chainId: 8453, verifyingContract: escrow });
  });

  it("uses each network's USDC domain name, and takes an override", () => {
    const usdc = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
    expect(usdcDomain({ chainId: 8453, usdc }).name).toBe("USD Coin");
    expect(usdcDomain({ chainId: 84532, usdc }).name).toBe("USDC");
    expect(usdcDomain({ chainId: 31337, usdc })).toEqual({ name: "USD Coin", version: "2", chainId: 31337, verifyingContract: usdc });
    expect(usdcDomain({ chainId: 10, usdc, name: "USDC", version: "2" }).name).toBe("USDC");
  });

  it("types a voucher as Voucher(address account,address signer,address provider,uint256 maxCumulative)", () => {
    const encoded = `Voucher(${voucherTypes.Voucher.map(({ name, type }) => `${type} ${name}`).join(",")})`;
    expect(encoded).toBe("Voucher(address account,address signer,address provider,uint256 maxCumulative)");
  });

  it("signs a voucher naming its signer's address and the provider, with any signer that has an address and signTypedData", async () => {
    const parameters = { chainId: 31337, escrow, account: agent.address, provider, maxCumulative: 42n };
    const signature = await signVoucher(agent, parameters);
    const typedData = voucherTypedData({ ...parameters, signer: agent.address });
    expect(typedData.message).toEqual({ account: agent.address, signer: agent.address, provider, maxCumulative: 42n });
    expect(await recoverTypedDataAddress({ ...typedData, signature })).toBe(agent.address);

    const seen: unknown[] = [];
    const remote: VoucherSigner = {
      address: agent.address,
      signTypedData: async (typedData) => {
        seen.push(typedData);
        return agent.signTypedData(typedData);
      },
    };
    expect(await signVoucher(remote, parameters)).toBe(signature);
    expect(seen).toEqual([typedData]);
  });

  it("signs a delegate's voucher with the delegate as signer and the team's account as account", async () => {
    const team = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as const;
    const signature = await signVoucher(proxy, { chainId: 31337, escrow, account: team, provider, maxCumulative: 7n });
    const typedData = voucherTypedData({ chainId: 31337, escrow, account: team, signer: proxy.address, provider, maxCumulative: 7n });
    expect(await recoverTypedDataAddress({ ...typedData, signature })).toBe(proxy.address);
  });

  it("makes vouchers for different providers, signers or accounts different vouchers", () => {
    const base = { chainId: 31337, escrow, account: agent.address, signer: agent.address, provider, maxCumulative: 42n };
    const digest = hashTypedData(voucherTypedData(base));
    expect(hashTypedData(voucherTypedData({ ...base, provider: otherProvider }))).not.toBe(digest);
    expect(hashTypedData(voucherTypedData({ ...base, signer: proxy.address }))).not.toBe(digest);
    expect(hashTypedData(voucherTypedData({ ...base, account: proxy.address }))).not.toBe(digest);
  });

  it("verifies a voucher only for the signer, provider, account and amount it was signed for", async () => {
    const parameters = { chainId: 31337, escrow, account: agent.address, provider, maxCumulative: 42n };
    const signature = await signVoucher(agent, parameters);
    const voucher = { ...parameters, signer: agent.address, signature };
    expect(await verifyVoucher(voucher)).toBe(true);
    expect(await verifyVoucher({ ...voucher, provider: otherProvider })).toBe(false);
    expect(await verifyVoucher({ ...voucher, signer: proxy.address })).toBe(false);
    expect(await verifyVoucher({ ...voucher, maxCumulative: 43n })).toBe(false);
    expect(await verifyVoucher({ ...voucher, signature: highS(signature) })).toBe(false);
    expect(await verifyVoucher({ ...voucher, signature: "0x1234" })).toBe(false);
  });
});

describe("receipts", () => {
  const parameters = { chainId: 31337, reputation, receipt };

  it("builds the receipt domain of the reputation contract", () => {
    expect(receiptDomain({ chainId: 8453, reputation })).toEqual({
      name: "AgentTab Receipt",
      version: "1",
      chainId: 8453,
      verifyingContract: reputation,
    });
  });

  it("signs a receipt that verifyReceipt accepts from its signer only", async () => {
    const signature = await signReceipt(proxy, parameters);
    expect(await recoverTypedDataAddress({ ...receiptTypedData(parameters), signature })).toBe(proxy.address);
    expect(await verifyReceipt({ ...parameters, signature, signer: proxy.address })).toBe(true);
    expect(await verifyReceipt({ ...parameters, signature, signer: proxy.address.toLowerCase() as Hex })).toBe(true);
    expect(await verifyReceipt({ ...parameters, signature, signer: agent.address })).toBe(false);
  });

  it("refuses a receipt that was changed, or signed for another chain or contract", async () => {
    const signature = await signReceipt(proxy, parameters);
    const signer = proxy.address;
    expect(await verifyReceipt({ ...parameters, receipt: { ...receipt, amount: 25_001n }, signature, signer })).toBe(false);
    expect(await verifyReceipt({ ...parameters, receipt: { ...receipt, payer: proxy.address }, signature, signer })).toBe(false);
    expect(await verifyReceipt({ ...parameters, chainId: 8453, signature, signer })).toBe(false);
    expect(await verifyReceipt({ ...parameters, reputation: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", signature, signer })).toBe(false);
  });

  it("refuses what the contract refuses: high-s, v other than 27/28, other lengths, garbage", async () => {
    const signature = await signReceipt(proxy, parameters);
    const signer = proxy.address;
    // viem alone would accept the high-s twin; the contract does not, so neither does verifyReceipt.
    expect(await recoverTypedDataAddress({ ...receiptTypedData(parameters), signature: highS(signature) })).toBe(signer);
    expect(await verifyReceipt({ ...parameters, signature: highS(signature), signer })).toBe(false);
    const v = Number.parseInt(signature.slice(130, 132), 16);
    const yParity = `${signature.slice(0, 130)}0${v - 27}` as Hex;
    expect(await verifyReceipt({ ...parameters, signature: yParity, signer })).toBe(false);
    expect(await verifyReceipt({ ...parameters, signature: signature.slice(0, 130) as Hex, signer })).toBe(false);
    expect(await verifyReceipt({ ...parameters, signature: `${signature}00`, signer })).toBe(false);
    expect(await verifyReceipt({ ...parameters, signature: `0x${"00".repeat(65)}`, signer })).toBe(false);
    expect(await verifyReceipt({ ...parameters, signature: "0xzz" as Hex, signer })).toBe(false);
  });

  it("signs with any signer that has an address and signTypedData", async () => {
    const seen: unknown[] = [];
    const remote: ReceiptSigner = {
      address: proxy.address,
      signTypedData: async (typedData) => {
        seen.push(typedData);
        return proxy.signTypedData(typedData);
      },
    };
    expect(await signReceipt(remote, parameters)).toBe(await signReceipt(proxy, parameters));
    expect(seen).toEqual([receiptTypedData(parameters)]);
  });
});

describe("relayed feedback", () => {
  it("is signed by the payer under the receipt domain, with the tags hashed as a string[]", async () => {
    const feedback = { requestId: receipt.requestId, score: 90, tags: ["fast", "accurate"], deadline: 4_102_444_800n };
    const typedData = feedbackTypedData({ chainId: 31337, reputation, feedback });
    expect(typedData.domain).toEqual(receiptDomain({ chainId: 31337, reputation }));
    const signature = await signFeedback(agent, { chainId: 31337, reputation, feedback });
    expect(await recoverTypedDataAddress({ ...typedData, signature })).toBe(agent.address);
    // Reordered tags are different feedback.
    const reordered = feedbackTypedData({ chainId: 31337, reputation, feedback: { ...feedback, tags: ["accurate", "fast"] } });
    expect(hashTypedData(reordered)).not.toBe(hashTypedData(typedData));
  });
});

describe("networks", () => {
  it("knows Base, Base Sepolia and the local chain by chain id and CAIP-2 id", () => {
    expect(getNetwork({ chainId: 8453 })?.usdc).toBe("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
    expect(getNetwork({ chainId: 84532 })?.caip2).toBe("eip155:84532");
    expect(getNetwork({ chainId: 31337 })?.usdc).toBeUndefined();
    expect(getNetwork({ chainId: 1 })).toBeUndefined();
    expect(chainIdToCaip2(8453)).toBe("eip155:8453");
    expect(caip2ToChainId("eip155:84532")).toBe(84532);
    expect(caip2ToChainId("eip155:0x1")).toBeUndefined();
  });
});
