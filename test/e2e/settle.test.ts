import { getAddress, keccak256, parseEventLogs, toHex, zeroAddress } from "viem";
import type { Address } from "viem";
import { beforeAll, describe, expect, it } from "vitest";

import { agentTabEscrowAbi, decodeClaimsLog, encodeClaims, mockSmartWalletAbi, fiatTokenAbi, settlementProviders, signVoucher } from "@agenttab/sdk";
import type { Claim } from "@agenttab/sdk";
import { mockSmartWalletBytecode } from "@agenttab/sdk/bytecode";
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
    await mined(aliceWallet.writeContract({ address: usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, 10_000_000n] }));
    await mined(aliceWallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [10_000_000n] }));

    // Bob deposits and lets a delegate spend up to 3 USDC.
    const bobWallet = await chain.walletFor(bob);
    await chain.mint(bob.address, 5_000_000n);
    await mined(bobWallet.writeContract({ address: usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, 5_000_000n] }));
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
    await mined(deployer.writeContract({ address: usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, 2_000_000n] }));
    await mined(deployer.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "depositFor", args: [smartWallet, 2_000_000n] }));
  });

  const voucher = (account: Address, provider: Address, maxCumulative: bigint) => ({
    chainId: chain.deployment.chainId,
    escrow: chain.deployment.escrow,
    account,
    provider,
    maxCumulative,
  });

  /** Settles `claims` with every provider they pay reported (ascending), each with 3 calls served and 1 failed. */
  const settle = (batchId: string, claims: Claim[], providers: Address[] = settlementProviders(claims)) =>
    chain.deployer.writeContract({
      address: chain.deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "settle",
      args: [keccak256(toHex(batchId)), encodeClaims(claims, providers), providers.map((provider) => ({ provider, callsServed: 3, callsFailed: 1 }))],
    });

  const claimedOf = (account: Address, signer: Address, provider: Address) =>
    chain.publicClient.readContract({ address: chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "claimedOf", args: [account, signer, provider] });

  it("claims an own, a delegate and an ERC-1271 voucher and credits each provider its vouchers' claims less its fee", async () => {
    const claims: Claim[] = [
      {
        account: alice.address,
        provider: provider1,
        maxCumulative: 4_000_000n,
        cumulative: 3_500_000n,
        signature: await signVoucher(alice, voucher(alice.address, provider1, 4_000_000n)),
      },
      {
        account: bob.address,
        signer: bobDelegate.address,
        provider: provider2,
        maxCumulative: 2_000_000n,
        cumulative: 2_000_000n,
        signature: await signVoucher(bobDelegate, voucher(bob.address, provider2, 2_000_000n)),
      },
      {
        account: smartWallet,
        provider: provider2,
        maxCumulative: 1_000_000n,
        cumulative: 500_001n,
        // The wallet's ERC-1271 check accepts its owner's signature over the voucher digest.
        signature: await signVoucher({ address: smartWallet, signTypedData: (typed) => walletOwner.signTypedData(typed) }, voucher(smartWallet, provider2, 1_000_000n)),
      },
    ];
    const receipt = await chain.mined(settle("batch-1", claims));

    // Every claim counts in its account's claimed total, the delegate's too.
    expect(await chain.read.account(alice.address)).toEqual({ balance: 6_500_000n, claimed: 3_500_000n });
    expect(await chain.read.account(bob.address)).toEqual({ balance: 3_000_000n, claimed: 2_000_000n });
    expect(await chain.read.account(smartWallet)).toEqual({ balance: 1_499_999n, claimed: 500_001n });
    const delegation = await chain.publicClient.readContract({
      address: chain.deployment.escrow,
      abi: agentTabEscrowAbi,
      functionName: "delegationOf",
      args: [bob.address, bobDelegate.address],
    });
    expect(delegation.claimed).toBe(2_000_000n);
    expect(await claimedOf(alice.address, alice.address, provider1)).toBe(3_500_000n);
    expect(await claimedOf(alice.address, alice.address, provider2)).toBe(0n);
    expect(await claimedOf(bob.address, bobDelegate.address, provider2)).toBe(2_000_000n);
    expect(await claimedOf(smartWallet, smartWallet, provider2)).toBe(500_001n);
    // 1% of each provider's claims, rounded down once: 35 000 and floor(25 000.01) = 25 000.
    expect(await chain.read.earnings(provider1)).toBe(3_465_000n);
    expect(await chain.read.earnings(provider2)).toBe(2_475_001n);
    expect(await chain.read.accruedFees()).toBe(60_000n);
    expect(await chain.read.totalAccounted()).toBe(await chain.read.usdcBalance(chain.deployment.escrow));

    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
    expect(settled?.args).toMatchObject({ debited: 6_000_001n, fee: 60_000n, claimCount: 3n });
    expect(decodeClaimsLog(settled?.args.claims ?? "0x")).toEqual([
      { account: alice.address, signer: alice.address, provider: provider1, amount: 3_500_000n, cumulative: 3_500_000n, delegated: false },
      { account: bob.address, signer: bobDelegate.address, provider: provider2, amount: 2_000_000n, cumulative: 2_000_000n, delegated: true },
      { account: smartWallet, signer: smartWallet, provider: provider2, amount: 500_001n, cumulative: 500_001n, delegated: false },
    ]);
    const credits = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "ProviderCredited", logs: receipt.logs }).map((l) => l.args);
    expect(credits).toEqual(
      settlementProviders(claims).map((provider) => expect.objectContaining({ provider, amount: provider === provider1 ? 3_465_000n : 2_475_001n, callsServed: 3n, callsFailed: 1n })),
    );
  });

  it("debits only the increase over what the track claimed, keeps a track per provider, and ignores a re-submitted batch id", async () => {
    const claims: Claim[] = [
      { account: alice.address, provider: provider1, maxCumulative: 5_000_000n, cumulative: 4_500_000n, signature: await signVoucher(alice, voucher(alice.address, provider1, 5_000_000n)) },
      // Alice's first voucher for provider 2: its track starts at 0, whatever she paid provider 1.
      { account: alice.address, provider: provider2, maxCumulative: 700_000n, cumulative: 700_000n, signature: await signVoucher(alice, voucher(alice.address, provider2, 700_000n)) },
    ];
    const receipt = await chain.mined(settle("batch-2", claims));
    const [settled] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
    expect(decodeClaimsLog(settled?.args.claims ?? "0x")).toEqual([
      { account: alice.address, signer: alice.address, provider: provider1, amount: 1_000_000n, cumulative: 4_500_000n, delegated: false },
      { account: alice.address, signer: alice.address, provider: provider2, amount: 700_000n, cumulative: 700_000n, delegated: false },
    ]);

    await chain.mined(settle("batch-2", claims));
    expect(await chain.read.account(alice.address)).toEqual({ balance: 4_800_000n, claimed: 5_200_000n });
    expect(await chain.read.earnings(provider1)).toBe(3_465_000n + 990_000n);
    expect(await chain.read.earnings(provider2)).toBe(2_475_001n + 693_000n);
  });

  it("rejects a voucher signed for another escrow, or for another provider than the one it is claimed for", async () => {
    const forOtherEscrow = await signVoucher(alice, { ...voucher(alice.address, provider1, 9_000_000n), escrow: provider1 });
    await expect(settle("batch-3", [{ account: alice.address, provider: provider1, maxCumulative: 9_000_000n, cumulative: 5_000_000n, signature: forOtherEscrow }])).rejects.toThrow(
      /InvalidVoucherSignature/,
    );
    // Signed for provider 1, claimed for provider 2: the settler cannot choose the payee.
    const forProvider1 = await signVoucher(alice, voucher(alice.address, provider1, 9_000_000n));
    await expect(settle("batch-4", [{ account: alice.address, provider: provider2, maxCumulative: 9_000_000n, cumulative: 800_000n, signature: forProvider1 }])).rejects.toThrow(
      /InvalidVoucherSignature/,
    );
  });

  it("refuses provider reports that are not strictly ascending", async () => {
    const claims: Claim[] = [
      { account: alice.address, provider: provider1, maxCumulative: 5_000_000n, cumulative: 4_600_000n, signature: await signVoucher(alice, voucher(alice.address, provider1, 5_000_000n)) },
      { account: alice.address, provider: provider2, maxCumulative: 800_000n, cumulative: 800_000n, signature: await signVoucher(alice, voucher(alice.address, provider2, 800_000n)) },
    ];
    await expect(settle("batch-5", claims, settlementProviders(claims).reverse())).rejects.toThrow(/ProvidersNotAscending/);
  });
});
