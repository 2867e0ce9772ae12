/**
 * Fixed vectors that pin the SDK's EIP-712 definitions: viem must keep reproducing the committed
 * JSON (test/vectors/*.json, also hard-coded by the Solidity parity test), and the contracts deployed
 * on a fresh local chain must hash and accept exactly those signatures.
 * Regenerate after an intended change with `npx vitest run test/e2e/typedDataParity.test.ts -u` (the path
 * first: vitest's `-u` takes an optional value).
 */
import { concat, domainSeparator, encodeAbiParameters, getAddress, hashStruct, hashTypedData, keccak256, parseEventLogs, toHex } from "viem";
import type { Hex, TypedDataDefinition } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";

import {
  agentTabEscrowAbi,
  agentTabReputationAbi,
  decodeClaimsLog,
  encodeClaims,
  escrowEip712,
  feedbackTypedData,
  fiatTokenAbi,
  receiptEip712,
  receiptTypedData,
  settlementProviders,
  signReceipt,
  transferWithAuthorizationTypes,
  usdcDomain,
  verifyReceipt,
  voucherTypedData,
} from "@agenttab/sdk";
import type { Receipt } from "@agenttab/sdk";

import { startLocalChain, testAccount } from "./helpers/localChain.ts";
import type { LocalChain } from "./helpers/localChain.ts";

// Hardhat's account #1; its address is the voucher's signer (a delegate of the voucher's account),
// the authorization's `from` and the receipt signer (the proxy's key).
const privateKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const signer = privateKeyToAccount(privateKey);
// Hardhat's account #2: the voucher's account, and the receipt's payer, who signs the relayed feedback.
const payerKey = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const payer = privateKeyToAccount(payerKey);
// Hardhat's account #3: the provider the voucher pays and the receipt names. Account, signer and
// provider all differ so that a swap of any two voucher fields changes the hashes.
const voucherProvider = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as const;
// Where deployAgentTab puts the escrow (nonce 0) and the reputation contract (nonce 1) from
// Hardhat's account #0, and the FiatToken proxy (nonce 6, after SignatureChecker, the
// implementation and its four initializations) from the local USDC issuer, Hardhat's account #8,
// on a fresh chain, so that the deployed contracts can be checked against the vectors themselves.
const localUsdc = "0xDd8cb59289bF7e324a37F74f8abB16D9F133cb2e";
const localEscrow = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const localReputation = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const chainId = 31337;

const voucherTypeString = "Voucher(address account,address signer,address provider,uint256 maxCumulative)";
const transferTypeString =
  "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)";
const receiptTypeString =
  "Receipt(bytes32 requestId,bytes32 serviceId,address provider,address payer,uint256 amount,uint256 cumulative,uint64 issuedAt)";
const feedbackTypeString = "Feedback(bytes32 requestId,uint8 score,string[] tags,uint256 deadline)";

const voucherTypedDataFixture = voucherTypedData({
  chainId,
  escrow: localEscrow,
  account: payer.address,
  signer: signer.address,
  provider: voucherProvider,
  maxCumulative: 1_234_567n,
});

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

const receiptFixture: Receipt = {
  requestId: keccak256(toHex("AgentTab receipt test vector")),
  serviceId: keccak256(toHex("weather-api")),
  provider: voucherProvider,
  payer: payer.address,
  amount: 25_000n,
  cumulative: 1_234_567n,
  issuedAt: 1_735_689_600n, // 2025-01-01T00:00:00Z
};
const receiptTypedDataFixture = receiptTypedData({ chainId, reputation: localReputation, receipt: receiptFixture });

const feedbackTypedDataFixture = feedbackTypedData({
  chainId,
  reputation: localReputation,
  feedback: { requestId: receiptFixture.requestId, score: 87, tags: ["fast", "accurate"], deadline: 4_102_444_800n },
});

type Fixture =
  | typeof voucherTypedDataFixture
  | typeof transferTypedDataFixture
  | typeof receiptTypedDataFixture
  | typeof feedbackTypedDataFixture;

/** A typed-data vector as committed: small, JSON-safe (uint256 as decimal strings). */
async function vector(fixture: Fixture, typeString: string, { key = privateKey }: { key?: Hex } = {}) {
  const typedData = fixture as TypedDataDefinition;
  const { domain, primaryType, message } = fixture;
  const account = privateKeyToAccount(key);
  return {
    privateKey: key,
    signer: account.address,
    domain,
    primaryType,
    message: Object.fromEntries(Object.entries(message).map(([key, value]) => [key, typeof value === "bigint" ? value.toString() : value])),
    typeString,
    typeHash: keccak256(toHex(typeString)),
    domainSeparator: domainSeparator({ domain }),
    structHash: hashStruct({ data: message, primaryType, types: typedData.types }),
    digest: hashTypedData(typedData),
    signature: await account.signTypedData(typedData),
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

  it("viem reproduces the committed receipt vector", async () => {
    await expect(json(await vector(receiptTypedDataFixture, receiptTypeString))).toMatchFileSnapshot("../vectors/receipt.json");
  });

  it("viem reproduces the committed relayed-feedback vector", async () => {
    await expect(json(await vector(feedbackTypedDataFixture, feedbackTypeString, { key: payerKey }))).toMatchFileSnapshot(
      "../vectors/feedback.json",
    );
  });

  it("the SDK's receipt and feedback types are the type strings of VoucherHash.sol", async () => {
    const r = await vector(receiptTypedDataFixture, receiptTypeString);
    const m = receiptFixture;
    const receiptFields = [m.requestId, m.serviceId, m.provider, m.payer, m.amount, m.cumulative, m.issuedAt] as const;
    const receiptParams = ["bytes32", "bytes32", "bytes32", "address", "address", "uint256", "uint256", "uint64"] as const;
    expect(r.structHash).toBe(keccak256(encodeAbiParameters(receiptParams.map((type) => ({ type })), [r.typeHash, ...receiptFields])));

    const f = await vector(feedbackTypedDataFixture, feedbackTypeString, { key: payerKey });
    const tagsHash = keccak256(concat(["fast", "accurate"].map((tag) => keccak256(toHex(tag)))));
    const feedbackParams = [{ type: "bytes32" }, { type: "bytes32" }, { type: "uint8" }, { type: "bytes32" }, { type: "uint256" }] as const;
    expect(f.structHash).toBe(keccak256(encodeAbiParameters(feedbackParams, [f.typeHash, m.requestId, 87, tagsHash, 4_102_444_800n])));
  });

  it("the SDK's voucher type is the type string of VoucherHash.sol", async () => {
    const v = await vector(voucherTypedDataFixture, voucherTypeString);
    const params = [{ type: "bytes32" }, { type: "address" }, { type: "address" }, { type: "address" }, { type: "uint256" }] as const;
    const manual = keccak256(encodeAbiParameters(params, [v.typeHash, payer.address, signer.address, voucherProvider, 1_234_567n]));
    expect(v.structHash).toBe(manual);
    expect(v.message).toEqual({ account: payer.address, signer: signer.address, provider: voucherProvider, maxCumulative: "1234567" });
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
    expect(chain.deployment.reputation).toBe(localReputation);
  });

  it("the reputation contract's digests equal viem's hashTypedData, and its EIP-712 domain is the SDK's", async () => {
    const reputation = { address: chain.deployment.reputation, abi: agentTabReputationAbi } as const;
    for (const receipt of [receiptFixture, { ...receiptFixture, amount: 2n ** 256n - 1n, issuedAt: 2n ** 64n - 1n }]) {
      const digest = await chain.publicClient.readContract({ ...reputation, functionName: "receiptDigest", args: [receipt] });
      expect(digest).toBe(hashTypedData(receiptTypedData({ chainId, reputation: reputation.address, receipt })));
    }
    for (const tags of [[], ["fast"], ["a", "b", "c", "d", "e"], ["très rapide", ""]]) {
      const feedback = { requestId: receiptFixture.requestId, score: 100, tags, deadline: 1n };
      const digest = await chain.publicClient.readContract({
        ...reputation,
        functionName: "feedbackDigest",
        args: [feedback.requestId, feedback.score, feedback.tags, feedback.deadline],
      });
      expect(digest).toBe(hashTypedData(feedbackTypedData({ chainId, reputation: reputation.address, feedback })));
    }
    const [, name, version, domainChainId, verifyingContract] = await chain.publicClient.readContract({ ...reputation, functionName: "eip712Domain" });
    expect({ name, version, chainId: Number(domainChainId), verifyingContract }).toEqual({
      ...receiptEip712,
      chainId,
      verifyingContract: reputation.address,
    });
  });

  it("accepts the committed receipt with the committed relayed feedback, and a receipt signed by signReceipt", async () => {
    const receiptVector = await vector(receiptTypedDataFixture, receiptTypeString);
    const feedbackVector = await vector(feedbackTypedDataFixture, feedbackTypeString, { key: payerKey });
    const reputation = { address: chain.deployment.reputation, abi: agentTabReputationAbi } as const;
    const verify = { chainId, reputation: reputation.address, receipt: receiptFixture, signature: receiptVector.signature };
    expect(await verifyReceipt({ ...verify, signer: signer.address })).toBe(true);
    await chain.mined(chain.deployer.writeContract({ ...reputation, functionName: "setReceiptSigner", args: [signer.address, true] }));

    // Relayed by the deployer: the payer needs no gas.
    const { score, tags, deadline } = feedbackTypedDataFixture.message;
    const relayed = await chain.mined(
      chain.deployer.writeContract({
        ...reputation,
        functionName: "giveFeedbackBySig",
        args: [receiptFixture, receiptVector.signature, score, tags, deadline, feedbackVector.signature],
      }),
    );
    const [given] = parseEventLogs({ abi: agentTabReputationAbi, eventName: "FeedbackGiven", logs: relayed.logs });
    expect(given?.args).toEqual({
      provider: receiptFixture.provider,
      serviceId: receiptFixture.serviceId,
      payer: payer.address,
      requestId: receiptFixture.requestId,
      score: 87,
      tags: ["fast", "accurate"],
      amount: 25_000n,
    });

    // The payer itself, with a receipt the SDK signs.
    const second = { ...receiptFixture, requestId: keccak256(toHex("second call")), cumulative: 1_259_567n };
    const signature = await signReceipt(signer, { chainId, reputation: reputation.address, receipt: second });
    const payerWallet = chain.others[1];
    if (payerWallet === undefined || getAddress(payerWallet.account.address) !== payer.address) throw new Error("Hardhat's account #2 is not the payer");
    await chain.mined(payerWallet.writeContract({ ...reputation, functionName: "giveFeedback", args: [second, signature, 40, ["slow"]] }));
    for (const requestId of [receiptFixture.requestId, second.requestId]) {
      expect(await chain.publicClient.readContract({ ...reputation, functionName: "feedbackGiven", args: [requestId] })).toBe(true);
    }
  });

  it("the escrow's voucherDigest equals viem's hashTypedData, and its EIP-712 domain is the SDK's", async () => {
    const { escrow } = chain.deployment;
    const vouchers = [
      { account: signer.address, signer: signer.address, provider: voucherProvider, maxCumulative: 0n },
      { account: payer.address, signer: signer.address, provider: voucherProvider, maxCumulative: 1_234_567n },
      { account: signer.address, signer: payer.address, provider, maxCumulative: 2n ** 128n - 1n },
      { account: voucherProvider, signer: payer.address, provider: signer.address, maxCumulative: 2n ** 256n - 1n },
    ];
    for (const voucher of vouchers) {
      const digest = await chain.publicClient.readContract({
        address: escrow,
        abi: agentTabEscrowAbi,
        functionName: "voucherDigest",
        args: [voucher.account, voucher.signer, voucher.provider, voucher.maxCumulative],
      });
      expect(digest).toBe(hashTypedData(voucherTypedData({ chainId, escrow, ...voucher })));
    }
    const [, name, version, domainChainId, verifyingContract] = await chain.publicClient.readContract({
      address: escrow,
      abi: agentTabEscrowAbi,
      functionName: "eip712Domain",
    });
    expect({ name, version, chainId: Number(domainChainId), verifyingContract }).toEqual({ ...escrowEip712, chainId, verifyingContract: escrow });
  });

  it("the local FiatToken's DOMAIN_SEPARATOR is the SDK's USDC domain", async () => {
    const separator = await chain.publicClient.readContract({ address: chain.deployment.usdc, abi: fiatTokenAbi, functionName: "DOMAIN_SEPARATOR" });
    expect(separator).toBe(domainSeparator({ domain: usdcDomain({ chainId, usdc: chain.deployment.usdc }) }));
  });

  it("settles the committed voucher signature to the provider it names and executes the committed authorization", async () => {
    const voucher = await vector(voucherTypedDataFixture, voucherTypeString);
    const transfer = await vector(transferTypedDataFixture, transferTypeString);
    const [account1, account2] = chain.others;
    if (account1 === undefined || getAddress(account1.account.address) !== signer.address) throw new Error("Hardhat's account #1 is not the vector signer");
    if (account2 === undefined || getAddress(account2.account.address) !== payer.address) throw new Error("Hardhat's account #2 is not the vector account");
    const { escrow, usdc } = chain.deployment;

    await chain.mint(signer.address, 1_000_000n);
    await chain.mint(payer.address, 1_234_567n);
    await chain.mined(account2.writeContract({ address: usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, 1_234_567n] }));
    await chain.mined(account2.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [1_234_567n] }));
    await chain.mined(
      account2.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "authorizeDelegate", args: [signer.address, 1_234_567n, 4_102_444_800] }),
    );
    const claim = { account: payer.address, signer: signer.address, provider: voucherProvider, maxCumulative: 1_234_567n, cumulative: 1_234_567n, signature: voucher.signature };
    const providers = settlementProviders([claim]);
    const receipt = await chain.mined(
      chain.deployer.writeContract({
        address: escrow,
        abi: agentTabEscrowAbi,
        functionName: "settle",
        args: [keccak256(toHex("parity")), encodeClaims([claim], providers), [{ provider: voucherProvider, callsServed: 1, callsFailed: 0 }]],
      }),
    );
    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
    expect(decodeClaimsLog(settled?.args.claims ?? "0x")).toEqual([
      { account: payer.address, signer: signer.address, provider: voucherProvider, amount: 1_234_567n, cumulative: 1_234_567n, delegated: true },
    ]);
    const fee = (1_234_567n * BigInt(await chain.publicClient.readContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "feeBps" }))) / 10_000n;
    expect(await chain.read.earnings(voucherProvider)).toBe(1_234_567n - fee);
    expect(
      await chain.publicClient.readContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "claimedOf", args: [payer.address, signer.address, voucherProvider] }),
    ).toBe(1_234_567n);

    const m = transferTypedDataFixture.message;
    await chain.mined(
      chain.deployer.writeContract({
        address: escrow,
        abi: agentTabEscrowAbi,
        functionName: "settleExactPayment",
        args: [{ ...m, provider, fee: 10_000n }, transfer.signature],
      }),
    );
    expect(await chain.read.earnings(provider)).toBe(990_000n);
  });
});
