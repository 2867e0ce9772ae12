import { getAddress, keccak256, parseEventLogs, toHex, zeroAddress } from "viem";
import type { Address } from "viem";
import { beforeAll, describe, expect, it } from "vitest";

import { agentTabEscrowAbi, decodeClaimsLog, encodeClaims, mockSmartWalletAbi, mockUsdcAbi, signVoucher } from "../../sdk/src/index.ts";
import { mockSmartWalletBytecode } from "../../sdk/src/generated/bytecode.ts";
import { startLocalChain, testAccount } from "./helpers/localChain.ts";
import type { LocalChain } from "./helpers/localChain.ts";

const alice = testAccount("alice");
const bob = testAccount("bob");
const bobDelegate = testAccount("bob's delegate");
const walletOwner = testAccount("smart wallet owner");
const provider1 = testAccount("provider 1").address;
const provider2 = testAccount("provider 2").address;

describe("settle with SDK-signed vouchers and SDK-encoded claims", () => {
  let chain: LocalChain;
  let smartWallet: Address;

  beforeAll(async () => {
    chain = await startLocalChain();
    const { deployment, deployer, mined } = chain;
    const { escrow, usdc } = deployment;

    // Alice deposits herself.
    const aliceWallet = await chain.walletFor(alice);
    await chain.mint(alice.address, 10_000_000n);
    await mined(aliceWallet.writeContract({ address: usdc, abi: mockUsdcAbi, functionName: "approve", args: [escrow, 10_000_000n] }));
    await mined(aliceWallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [10_000_000n] }));

    // Bob deposits and lets a delegate spend up to 3 USDC.
    const bobWallet = await chain.walletFor(bob);
    await chain.mint(bob.address, 5_000_000n);
    await mined(bobWallet.writeContract({ address: usdc, abi: mockUsdcAbi, functionName: "approve", args: [escrow, 5_000_000n] }));
    await mined(bobWallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [5_000_000n] }));
    await mined(
      bobWallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "authorizeDelegate", args: [bobDelegate.address, 3_000_000n, 0] }),
    );

    // A smart-contract wallet account, funded by someone else.
    const ownerWallet = await chain.walletFor(walletOwner);
    const receipt = await mined(
      ownerWallet.deployContract({ abi: mockSmartWalletAbi, bytecode: mockSmartWalletBytecode, args: [walletOwner.address] }),
    );
    smartWallet = getAddress(receipt.contractAddress ?? zeroAddress);
    await chain.mint(deployer.account.address, 2_000_000n);
    await mined(deployer.writeContract({ address: usdc, abi: mockUsdcAbi, functionName: "approve", args: [escrow, 2_000_000n] }));
    await mined(deployer.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "depositFor", args: [smartWallet, 2_000_000n] }));
  });

  const voucher = (account: Address, maxCumulative: bigint) => ({
    chainId: chain.deployment.chainId,
    escrow: chain.deployment.escrow,
    account,
    maxCumulative,
  });

  const settle = (batchId: string, claims: `0x${string}`, payouts: [Address, bigint][], fee: bigint) =>
    chain.deployer.writeContract({
      address: chain.deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "settle",
      args: [
        keccak256(toHex(batchId)),
        claims,
        payouts.map(([provider, amount]) => ({ provider, amount, callsServed: 3, callsFailed: 1 })),
        fee,
      ],
    });

  it("claims an own, a delegate and an ERC-1271 voucher and credits providers and the fee", async () => {
    const claims = encodeClaims([
      {
        account: alice.address,
        maxCumulative: 4_000_000n,
        cumulative: 3_500_000n,
        signature: await signVoucher(alice, voucher(alice.address, 4_000_000n)),
      },
      {
        account: bob.address,
        signer: bobDelegate.address,
        maxCumulative: 2_000_000n,
        cumulative: 2_000_000n,
        signature: await signVoucher(bobDelegate, voucher(bob.address, 2_000_000n)),
      },
      {
        account: smartWallet,
        maxCumulative: 1_000_000n,
        cumulative: 500_000n,
        // The wallet's ERC-1271 check accepts its owner's signature over the voucher digest.
        signature: await signVoucher(walletOwner, voucher(smartWallet, 1_000_000n)),
      },
    ]);
    // 6 USDC debited: 1% fee, the rest split between two providers.
    const receipt = await chain.mined(settle("batch-1", claims, [[provider1, 4_000_000n], [provider2, 1_940_000n]], 60_000n));

    expect(await chain.read.account(alice.address)).toEqual({ balance: 6_500_000n, claimed: 3_500_000n });
    expect(await chain.read.account(bob.address)).toEqual({ balance: 3_000_000n, claimed: 0n });
    expect(await chain.read.account(smartWallet)).toEqual({ balance: 1_500_000n, claimed: 500_000n });
    const delegation = await chain.publicClient.readContract({
      address: chain.deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "delegationOf",
      args: [bob.address, bobDelegate.address],
    });
    expect(delegation.claimed).toBe(2_000_000n);
    expect(await chain.read.earnings(provider1)).toBe(4_000_000n);
    expect(await chain.read.earnings(provider2)).toBe(1_940_000n);
    expect(await chain.read.accruedFees()).toBe(60_000n);
    expect(await chain.read.totalAccounted()).toBe(await chain.read.usdcBalance(chain.deployment.escrow));

    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
    expect(settled?.args).toMatchObject({ debited: 6_000_000n, fee: 60_000n, claimCount: 3n });
    expect(decodeClaimsLog(settled?.args.claims ?? "0x")).toEqual([
      { account: alice.address, signer: alice.address, amount: 3_500_000n, cumulative: 3_500_000n, delegated: false },
      { account: bob.address, signer: bobDelegate.address, amount: 2_000_000n, cumulative: 2_000_000n, delegated: true },
      { account: smartWallet, signer: smartWallet, amount: 500_000n, cumulative: 500_000n, delegated: false },
    ]);
  });

  it("debits only the increase over what was claimed, and ignores a re-submitted batch id", async () => {
    const signature = await signVoucher(alice, voucher(alice.address, 5_000_000n));
    const claims = encodeClaims([{ account: alice.address, maxCumulative: 5_000_000n, cumulative: 4_500_000n, signature }]);
    const receipt = await chain.mined(settle("batch-2", claims, [[provider1, 990_000n]], 10_000n));
    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
    expect(decodeClaimsLog(settled?.args.claims ?? "0x")).toEqual([
      { account: alice.address, signer: alice.address, amount: 1_000_000n, cumulative: 4_500_000n, delegated: false },
    ]);

    await chain.mined(settle("batch-2", claims, [[provider1, 990_000n]], 10_000n));
    expect(await chain.read.account(alice.address)).toEqual({ balance: 5_500_000n, claimed: 4_500_000n });
    expect(await chain.read.earnings(provider1)).toBe(4_990_000n);
  });

  it("rejects a voucher signed for another escrow", async () => {
    const signature = await signVoucher(alice, { ...voucher(alice.address, 9_000_000n), escrow: provider1 });
    const claims = encodeClaims([{ account: alice.address, maxCumulative: 9_000_000n, cumulative: 5_000_000n, signature }]);
    await expect(settle("batch-3", claims, [[provider1, 500_000n]], 0n)).rejects.toThrow(/InvalidVoucherSignature/);
  });
});
