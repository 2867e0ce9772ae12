/**
 * The escrow on Circle's FiatToken v2.2 (the local chain's USDC, as on Base) where it differs from a
 * plain ERC-20: ERC-1271 signatures in permit and EIP-3009, and the blacklist, which stops token
 * transfers but not the escrow's own accounting.
 */
import { getAddress, keccak256, parseSignature, toHex, zeroAddress } from "viem";
import type { Address } from "viem";
import { beforeAll, describe, expect, it } from "vitest";

import {
  agentTabEscrowAbi,
  encodeClaims,
  fiatTokenAbi,
  mockSmartWalletAbi,
  permitTypes,
  receiveWithAuthorizationTypes,
  settlementProviders,
  signVoucher,
  usdcDomain,
} from "@agenttab/sdk";
import type { Claim } from "@agenttab/sdk";
import { mockSmartWalletBytecode } from "@agenttab/sdk/bytecode";
import { startLocalChain, testAccount } from "./helpers/localChain.ts";
import type { LocalChain } from "./helpers/localChain.ts";

const BLACKLISTED = "Blacklistable: account is blacklisted";

describe("the escrow on FiatToken v2.2", () => {
  let chain: LocalChain;
  let validBefore: bigint;
  const domain = () => usdcDomain({ chainId: chain.deployment.chainId, usdc: chain.deployment.usdc });
  const escrowContract = () => ({ address: chain.deployment.escrow, abi: agentTabEscrowAbi }) as const;

  beforeAll(async () => {
    chain = await startLocalChain();
    validBefore = (await chain.publicClient.getBlock()).timestamp + 3_600n;
  });

  /** A MockSmartWallet owned by `label`'s key, holding `amount` USDC. */
  const smartWallet = async (label: string, amount: bigint) => {
    const owner = testAccount(label);
    const receipt = await chain.mined((await chain.walletFor(owner)).deployContract({ abi: mockSmartWalletAbi, bytecode: mockSmartWalletBytecode, args: [owner.address] }));
    const wallet = getAddress(receipt.contractAddress ?? zeroAddress);
    await chain.mint(wallet, amount);
    return { owner, wallet };
  };

  describe("a smart-contract wallet (ERC-1271) deposits without sending a transaction", () => {
    it("with an EIP-2612 permit its owner signs, relayed: FiatToken checks the packed signature with the wallet", async () => {
      const { owner, wallet } = await smartWallet("permit wallet owner", 3_000_000n);
      const nonce = await chain.publicClient.readContract({ address: chain.deployment.usdc, abi: fiatTokenAbi, functionName: "nonces", args: [wallet] });
      const message = { owner: wallet, spender: chain.deployment.escrow, value: 3_000_000n, nonce, deadline: validBefore };
      const signature = await owner.signTypedData({ domain: domain(), types: permitTypes, primaryType: "Permit", message });
      const { r, s, v, yParity } = parseSignature(signature);

      // Relayed by someone else: the escrow needs the permit itself to succeed (PermitFailed otherwise).
      await chain.mined(chain.deployer.writeContract({ ...escrowContract(), functionName: "depositWithPermit", args: [wallet, 3_000_000n, validBefore, Number(v ?? 27n + BigInt(yParity)), r, s] }));
      expect(await chain.read.account(wallet)).toEqual({ balance: 3_000_000n, claimed: 0n });
      expect(await chain.read.usdcBalance(wallet)).toBe(0n);
    });

    it("with a ReceiveWithAuthorization (the `bytes signature` form, verified by the wallet)", async () => {
      const { owner, wallet } = await smartWallet("authorization wallet owner", 2_000_000n);
      const message = { from: wallet, to: chain.deployment.escrow, value: 2_000_000n, validAfter: 0n, validBefore, nonce: keccak256(toHex("wallet deposit")) };
      const signature = await owner.signTypedData({ domain: domain(), types: receiveWithAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message });

      await chain.mined(
        chain.deployer.writeContract({ ...escrowContract(), functionName: "depositWithAuthorization", args: [wallet, message.value, message.validAfter, message.validBefore, message.nonce, signature] }),
      );
      expect(await chain.read.account(wallet)).toEqual({ balance: 2_000_000n, claimed: 0n });

      // Signed by anyone but its owner, the wallet refuses it and so does the token.
      const stranger = testAccount("not the wallet's owner");
      const forged = { ...message, nonce: keccak256(toHex("forged wallet deposit")) };
      await chain.mint(wallet, 1_000_000n);
      const bad = await stranger.signTypedData({ domain: domain(), types: receiveWithAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message: forged });
      await expect(
        chain.publicClient.simulateContract({
          ...escrowContract(), functionName: "depositWithAuthorization",
          account: chain.deployer.account,
          args: [wallet, forged.value, forged.validAfter, forged.validBefore, forged.nonce, bad],
        }),
      ).rejects.toThrow(/invalid signature/);
    });
  });

  describe("the blacklist", () => {
    const agent = testAccount("blacklist agent");
    const listedProvider = testAccount("blacklisted provider").address;
    const otherProvider = testAccount("other provider").address;
    const elsewhere = testAccount("blacklisted provider's other address").address;

    /** A batch with one claim of `amount` from the agent to each provider, settled by the deployer (the settler). */
    const settle = async (batch: string, cumulative: bigint) => {
      const claims: Claim[] = [];
      for (const provider of [listedProvider, otherProvider]) {
        const voucher = { chainId: chain.deployment.chainId, escrow: chain.deployment.escrow, account: agent.address, provider, maxCumulative: cumulative };
        claims.push({ account: agent.address, provider, maxCumulative: cumulative, cumulative, signature: await signVoucher(agent, voucher) });
      }
      const providers = settlementProviders(claims);
      return chain.mined(
        chain.deployer.writeContract({
          ...escrowContract(), functionName: "settle",
          args: [keccak256(toHex(batch)), encodeClaims(claims, providers), providers.map((provider) => ({ provider, callsServed: 1, callsFailed: 0 }))],
        }),
      );
    };
    const withdrawEarnings = async (provider: Address, to: Address, amount: bigint) => {
      const wallet = await chain.walletFor(testAccount(provider === listedProvider ? "blacklisted provider" : "other provider"));
      return chain.mined(wallet.writeContract({ ...escrowContract(), functionName: "withdrawEarnings", args: [to, amount] }));
    };
    const revertOf = (work: Promise<unknown>) => work.then(() => "no revert", (error: unknown) => (error instanceof Error ? error.message : String(error)));

    beforeAll(async () => {
      const wallet = await chain.walletFor(agent);
      await chain.mint(agent.address, 10_000_000n);
      await chain.mined(wallet.writeContract({ address: chain.deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [chain.deployment.escrow, 10_000_000n] }));
      await chain.mined(wallet.writeContract({ ...escrowContract(), functionName: "deposit", args: [10_000_000n] }));
    });

    it("a blacklisted provider is still credited by the batch, its own withdrawal fails alone, the other provider's goes through", async () => {
      await chain.usdcIssuer.blacklist(listedProvider);
      // The batch moves no USDC: it credits both providers inside the escrow.
      await settle("blacklist week 1", 1_000_000n);
      const fee = (1_000_000n * BigInt(chain.deployment.feeBps)) / 10_000n;
      expect(await chain.read.earnings(listedProvider)).toBe(1_000_000n - fee);
      expect(await chain.read.earnings(otherProvider)).toBe(1_000_000n - fee);

      expect(await revertOf(withdrawEarnings(listedProvider, listedProvider, 1_000_000n - fee))).toContain(BLACKLISTED);
      expect(await chain.read.earnings(listedProvider)).toBe(1_000_000n - fee); // the revert undid the debit

      await withdrawEarnings(otherProvider, otherProvider, 1_000_000n - fee);
      expect(await chain.read.usdcBalance(otherProvider)).toBe(1_000_000n - fee);
      expect(await chain.read.earnings(otherProvider)).toBe(0n);

      // FiatToken checks the token's sender (the escrow) and recipient only: the escrow does not
      // consult the blacklist, so the provider can still send its earnings to another address.
      // README, "USDC's blacklist", says so.
      await withdrawEarnings(listedProvider, elsewhere, 1n);
      expect(await chain.read.usdcBalance(elsewhere)).toBe(1n);
      await chain.usdcIssuer.unBlacklist(listedProvider);
      await withdrawEarnings(listedProvider, listedProvider, 1_000_000n - fee - 1n);
      expect(await chain.read.usdcBalance(listedProvider)).toBe(1_000_000n - fee - 1n);
    });

    it("with the escrow itself blacklisted, USDC stops moving in or out but settlement and every balance carry on, and all resumes once lifted", async () => {
      const { escrow } = chain.deployment;
      const held = await chain.read.usdcBalance(escrow);
      const accounted = await chain.read.totalAccounted();
      await chain.usdcIssuer.blacklist(escrow);
      try {
        // In: a deposit (the escrow receives). FiatToken v2.2 still lets anyone approve it.
        const depositor = testAccount("depositor while the escrow is listed");
        const wallet = await chain.walletFor(depositor);
        await chain.mint(depositor.address, 1_000_000n);
        await chain.mined(wallet.writeContract({ address: chain.deployment.usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, 1_000_000n] }));
        expect(await revertOf(wallet.writeContract({ ...escrowContract(), functionName: "deposit", args: [1_000_000n] }))).toContain(BLACKLISTED);
        // Out: a provider's withdrawal (the escrow sends).
        await settle("blacklist week 2", 2_000_000n);
        const earned = await chain.read.earnings(otherProvider);
        expect(earned).toBeGreaterThan(0n);
        expect(await revertOf(withdrawEarnings(otherProvider, otherProvider, earned))).toContain(BLACKLISTED);
        // Settlement only moves balances inside the escrow: it went through, and nothing left.
        expect(await chain.read.account(agent.address)).toEqual({ balance: 6_000_000n, claimed: 4_000_000n });
        expect(await chain.read.usdcBalance(escrow)).toBe(held);
        expect(await chain.read.totalAccounted()).toBe(accounted);
      } finally {
        await chain.usdcIssuer.unBlacklist(escrow);
      }
      const earned = await chain.read.earnings(otherProvider);
      await withdrawEarnings(otherProvider, otherProvider, earned);
      expect(await chain.read.earnings(otherProvider)).toBe(0n);
    });

    it("a blacklisted agent can neither deposit nor take its balance out, and its pending withdrawal waits for the lift", async () => {
      const wallet = await chain.walletFor(agent);
      await chain.mined(wallet.writeContract({ ...escrowContract(), functionName: "requestWithdrawal", args: [1_000_000n] }));
      await chain.connection.provider.request({ method: "evm_increaseTime", params: [chain.deployment.withdrawalDelay + 1] });
      await chain.usdcIssuer.blacklist(agent.address);
      try {
        expect(await revertOf(wallet.writeContract({ ...escrowContract(), functionName: "finalizeWithdrawal" }))).toContain(BLACKLISTED);
        expect(await revertOf(wallet.writeContract({ ...escrowContract(), functionName: "deposit", args: [1n] }))).toContain(BLACKLISTED);
      } finally {
        await chain.usdcIssuer.unBlacklist(agent.address);
      }
      await chain.mined(wallet.writeContract({ ...escrowContract(), functionName: "finalizeWithdrawal" }));
      expect(await chain.read.account(agent.address)).toEqual({ balance: 5_000_000n, claimed: 4_000_000n });
    });
  });
});
