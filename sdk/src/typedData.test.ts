import { recoverTypedDataAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";

import { caip2ToChainId, chainIdToCaip2, getNetwork } from "./networks.ts";
import { signVoucher, usdcDomain, voucherDomain, voucherTypedData } from "./typedData.ts";
import type { VoucherSigner } from "./typedData.ts";

const escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" as const;
const agent = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

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

  it("signs a voucher with any signer that has an address and signTypedData", async () => {
    const parameters = { chainId: 31337, escrow, account: agent.address, maxCumulative: 42n };
    const signature = await signVoucher(agent, parameters);
    expect(await recoverTypedDataAddress({ ...voucherTypedData(parameters), signature })).toBe(agent.address);

    const seen: unknown[] = [];
    const remote: VoucherSigner = {
      address: agent.address,
      signTypedData: async (typedData) => {
        seen.push(typedData);
        return agent.signTypedData(typedData);
      },
    };
    expect(await signVoucher(remote, parameters)).toBe(signature);
    expect(seen).toEqual([voucherTypedData(parameters)]);
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
