import { keccak256, parseEventLogs, parseSignature, toHex } from "viem";
import type { Hex, LocalAccount } from "viem";
import { beforeAll, describe, expect, it } from "vitest";

import {
  agentTabEscrowAbi,
  fiatTokenAbi,
  permitTypes,
  receiveWithAuthorizationTypes,
  transferWithAuthorizationTypes,
  usdcDomain,
} from "@agenttab/sdk";

import { startLocalChain, testAccount } from "./helpers/localChain.ts";
import type { LocalChain } from "./helpers/localChain.ts";

describe("gasless deposits and exact payments signed with the SDK's USDC typed data", () => {
  let chain: LocalChain;
  let validBefore: bigint;
  const domain = () => usdcDomain({ chainId: chain.deployment.chainId, usdc: chain.deployment.usdc });
  const nonceFor = (label: string): Hex => keccak256(toHex(label));

  beforeAll(async () => {
    chain = await startLocalChain();
    const block = await chain.publicClient.getBlock();
    validBefore = block.timestamp + 3_600n;
  });

  it("deposits with a ReceiveWithAuthorization relayed by someone else", async () => {
    const carol: LocalAccount = testAccount("carol");
    await chain.mint(carol.address, 7_000_000n);
    const message = {
      from: carol.address,
      to: chain.deployment.escrow,
      value: 7_000_000n,
      validAfter: 0n,
      validBefore,
      nonce: nonceFor("carol deposit"),
    };
    const signature = await carol.signTypedData({
      domain: domain(),
      types: receiveWithAuthorizationTypes,
      primaryType: "ReceiveWithAuthorization",
      message,
    });

    const receipt = await chain.mined(
      chain.deployer.writeContract({
        address: chain.deployment.escrow,
        abi: agentTabEscrowAbi,
        functionName: "depositWithAuthorization",
        args: [message.from, message.value, message.validAfter, message.validBefore, message.nonce, signature],
      }),
    );
    expect(await chain.read.account(carol.address)).toEqual({ balance: 7_000_000n, claimed: 0n });
    const [deposited] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "Deposited", logs: receipt.logs });
    expect(deposited?.args).toEqual({ account: carol.address, payer: carol.address, amount: 7_000_000n, balance: 7_000_000n });
  });

  it("deposits with an EIP-2612 permit relayed by someone else", async () => {
    const dave = testAccount("dave");
    await chain.mint(dave.address, 3_000_000n);
    const nonce = await chain.publicClient.readContract({
      address: chain.deployment.usdc,
      abi: fiatTokenAbi,
      functionName: "nonces",
      args: [dave.address],
    });
    const signature = await dave.signTypedData({
      domain: domain(),
      types: permitTypes,
      primaryType: "Permit",
      message: { owner: dave.address, spender: chain.deployment.escrow, value: 3_000_000n, nonce, deadline: validBefore },
    });
    const { r, s, v, yParity } = parseSignature(signature);

    await chain.mined(
      chain.deployer.writeContract({
        address: chain.deployment.escrow,
        abi: agentTabEscrowAbi,
        functionName: "depositWithPermit",
        args: [dave.address, 3_000_000n, validBefore, Number(v ?? 27n + BigInt(yParity)), r, s],
      }),
    );
    expect(await chain.read.account(dave.address)).toEqual({ balance: 3_000_000n, claimed: 0n });
    expect(await chain.read.usdcBalance(dave.address)).toBe(0n);
  });

  it("settles an x402 exact payment from a TransferWithAuthorization", async () => {
    const erin = testAccount("erin");
    const provider = testAccount("exact provider").address;
    await chain.mint(erin.address, 2_000_000n);
    const authorization = {
      from: erin.address,
      to: chain.deployment.escrow,
      value: 2_000_000n,
      validAfter: 0n,
      validBefore,
      nonce: nonceFor("erin exact payment"),
    };
    const signature = await erin.signTypedData({
      domain: domain(),
      types: transferWithAuthorizationTypes,
      primaryType: "TransferWithAuthorization",
      message: authorization,
    });
    const feesBefore = await chain.read.accruedFees();

    const receipt = await chain.mined(
      chain.deployer.writeContract({
        address: chain.deployment.escrow,
        abi: agentTabEscrowAbi,
        functionName: "settleExactPayment",
        args: [{ ...authorization, provider, fee: 20_000n }, signature],
      }),
    );
    expect(await chain.read.earnings(provider)).toBe(1_980_000n);
    expect((await chain.read.accruedFees()) - feesBefore).toBe(20_000n);
    expect(await chain.read.usdcBalance(erin.address)).toBe(0n);
    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "ExactPaymentSettled", logs: receipt.logs });
    expect(settled?.args).toMatchObject({ from: erin.address, provider, nonce: authorization.nonce, value: 2_000_000n, fee: 20_000n });
  });
});
