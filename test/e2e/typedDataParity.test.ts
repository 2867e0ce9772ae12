/**
 * Fixed vectors that pin the SDK's EIP-712 definitions: viem must keep reproducing the committed
 * JSON (test/vectors/*.json, also hard-coded by the Solidity parity test), and the contracts deployed
 * on a fresh local chain must hash and accept exactly those signatures.
 * Regenerate after an intended change with `npx vitest run -u test/e2e/typedDataParity.test.ts`.
 */
import { domainSeparator, encodeAbiParameters, getAddress, hashStruct, hashTypedData, keccak256, parseEventLogs, toHex } from "viem";
import type { TypedDataDefinition } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";

import {
  agentTabEscrowAbi,
  decodeClaimsLog,
  encodeClaims,
  escrowEip712,
  mockUsdcAbi,
  transferWithAuthorizationTypes,
  usdcDomain,
  voucherTypedData,
} from "../../sdk/src/index.ts";
import { startLocalChain, testAccount } from "./helpers/localChain.ts";
import type { LocalChain } from "./helpers/localChain.ts";

// Hardhat's account #1; its address is the voucher's account and the authorization's `from`.
const privateKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const signer = privateKeyToAccount(privateKey);
// Where deployAgentTab puts MockUSDC (nonce 0) and the escrow (nonce 1) from Hardhat's account #0
// on a fresh chain, so that the deployed contracts can be checked against the vectors themselves.
const localUsdc = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const localEscrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const chainId = 31337;

const voucherTypeString = "Voucher(address account,uint256 maxCumulative)";
const transferTypeString =
  "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)";

const voucherTypedDataFixture = voucherTypedData({ chainId, escrow: localEscrow, account: signer.address, maxCumulative: 1_234_567n });

const transferTypedDataFixture = {
  domain: usdcDomain({ chainId, usdc: localUsdc }),
  types: transferWithAuthorizationTypes,
  primaryType: "TransferWithAuthorization",
  message: {
    from: signer.address,
    to: localEscrow,
    value: 1_000_000n,
    validAfter: 0n,
    validBefore: 4_102_444_800n, // 2100-01-01T00:00:00Z
    nonce: keccak256(toHex("AgentTab TransferWithAuthorization test vector")),
  },
} as const;

/** A typed-data vector as committed: small, JSON-safe (uint256 as decimal strings). */
async function vector(fixture: typeof voucherTypedDataFixture | typeof transferTypedDataFixture, typeString: string) {
  const typedData = fixture as TypedDataDefinition;
  const { domain, primaryType, message } = fixture;
  return {
    privateKey,
    signer: signer.address,
    domain,
    primaryType,
    message: Object.fromEntries(Object.entries(message).map(([key, value]) => [key, typeof value === "bigint" ? value.toString() : value])),
    typeString,
    typeHash: keccak256(toHex(typeString)),
    domainSeparator: domainSeparator({ domain }),
    structHash: hashStruct({ data: message, primaryType, types: typedData.types }),
    digest: hashTypedData(typedData),
    signature: await signer.signTypedData(typedData),
  };
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

describe("EIP-712 parity vectors", () => {
  it("viem reproduces the committed voucher vector", async () => {
    await expect(json(await vector(voucherTypedDataFixture, voucherTypeString))).toMatchFileSnapshot("../vectors/voucher.json");
  });

  it("viem reproduces the committed TransferWithAuthorization vector", async () => {
    await expect(json(await vector(transferTypedDataFixture, transferTypeString))).toMatchFileSnapshot(
      "../vectors/transferWithAuthorization.json",
    );
  });

  it("the SDK's voucher type is the type string of VoucherHash.sol", async () => {
    const v = await vector(voucherTypedDataFixture, voucherTypeString);
    const manual = keccak256(
      encodeAbiParameters([{ type: "bytes32" }, { type: "address" }, { type: "uint256" }], [v.typeHash, signer.address, 1_234_567n]),
    );
    expect(v.structHash).toBe(manual);
  });
});

describe("the deployed contracts agree with the vectors", () => {
  let chain: LocalChain;
  const provider = testAccount("parity provider").address;

  beforeAll(async () => {
    chain = await startLocalChain();
  });

  it("deploys to the vectors' addresses", () => {
    expect(chain.deployment.usdc).toBe(localUsdc);
    expect(chain.deployment.escrow).toBe(localEscrow);
  });

  it("the escrow's voucherDigest equals viem's hashTypedData, and its EIP-712 domain is the SDK's", async () => {
    const { escrow } = chain.deployment;
    for (const maxCumulative of [0n, 1_234_567n, 2n ** 128n - 1n]) {
      const digest = await chain.publicClient.readContract({
        address: escrow,
        abi: agentTabEscrowAbi,
        functionName: "voucherDigest",
        args: [signer.address, maxCumulative],
      });
      expect(digest).toBe(hashTypedData(voucherTypedData({ chainId, escrow, account: signer.address, maxCumulative })));
    }
    const [, name, version, domainChainId, verifyingContract] = await chain.publicClient.readContract({
      address: escrow,
      abi: agentTabEscrowAbi,
      functionName: "eip712Domain",
    });
    expect({ name, version, chainId: Number(domainChainId), verifyingContract }).toEqual({ ...escrowEip712, chainId, verifyingContract: escrow });
  });

  it("the mock USDC's DOMAIN_SEPARATOR is the SDK's USDC domain", async () => {
    const separator = await chain.publicClient.readContract({ address: chain.deployment.usdc, abi: mockUsdcAbi, functionName: "DOMAIN_SEPARATOR" });
    expect(separator).toBe(domainSeparator({ domain: usdcDomain({ chainId, usdc: chain.deployment.usdc }) }));
  });

  it("settles the committed voucher signature and executes the committed authorization", async () => {
    const voucher = await vector(voucherTypedDataFixture, voucherTypeString);
    const transfer = await vector(transferTypedDataFixture, transferTypeString);
    const [account1] = chain.others;
    if (account1 === undefined || getAddress(account1.account.address) !== signer.address) throw new Error("Hardhat's account #1 is not the vector signer");
    const { escrow, usdc } = chain.deployment;

    await chain.mint(signer.address, 2_234_567n);
    await chain.mined(account1.writeContract({ address: usdc, abi: mockUsdcAbi, functionName: "approve", args: [escrow, 1_234_567n] }));
    await chain.mined(account1.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [1_234_567n] }));
    const claims = encodeClaims([
      { account: signer.address, maxCumulative: 1_234_567n, cumulative: 1_234_567n, signature: voucher.signature },
    ]);
    const receipt = await chain.mined(
      chain.deployer.writeContract({
        address: escrow,
        abi: agentTabEscrowAbi,
        functionName: "settle",
        args: [keccak256(toHex("parity")), claims, [{ provider, amount: 1_222_222n, callsServed: 1, callsFailed: 0 }], 12_345n],
      }),
    );
    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
    expect(decodeClaimsLog(settled?.args.claims ?? "0x")[0]?.amount).toBe(1_234_567n);

    const m = transferTypedDataFixture.message;
    await chain.mined(
      chain.deployer.writeContract({
        address: escrow,
        abi: agentTabEscrowAbi,
        functionName: "settleExactPayment",
        args: [{ ...m, provider, fee: 10_000n }, transfer.signature],
      }),
    );
    expect(await chain.read.earnings(provider)).toBe(1_222_222n + 990_000n);
  });
});
