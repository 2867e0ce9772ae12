import { keccak256, toHex } from "viem";
import type { Address, LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { agentTabEscrowAbi, encodeClaims, fiatTokenAbi, settlementProviders, signVoucher } from "@agenttab/sdk";
import type { IndexerStack } from "./stack.ts";

/** A deterministic test key. */
export const testAccount = (label: string): LocalAccount => privateKeyToAccount(keccak256(toHex(label)));

/** Mints, approves and deposits `amount` for `agent`; returns the deposit's receipt. */
export async function depositAs(stack: IndexerStack, agent: LocalAccount, amount: bigint) {
  const wallet = await stack.walletFor(agent);
  await stack.mint(agent.address, amount);
  const { escrow, usdc } = stack.deployment;
  await stack.mined(wallet.writeContract({ address: usdc, abi: fiatTokenAbi, functionName: "approve", args: [escrow, amount] }));
  return stack.mined(wallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [amount] }));
}

/** Calls an escrow function as `account`. */
export async function escrowAs<const F extends "requestWithdrawal" | "cancelWithdrawal" | "finalizeWithdrawal" | "authorizeDelegate" | "revokeDelegate" | "withdrawEarnings">(
  stack: IndexerStack,
  account: LocalAccount,
  functionName: F,
  args: readonly unknown[],
) {
  const wallet = await stack.walletFor(account);
  return stack.mined(
    wallet.writeContract({ address: stack.deployment.escrow, abi: agentTabEscrowAbi, functionName, args } as never),
  );
}

/**
 * Settles one batch as the deployer (the settler): each entry claims `cumulative` on its track
 * (account, signer, provider) with a voucher for exactly that much, signed by `signer` (the agent
 * itself unless a delegate is given) for the entry's provider (`provider` unless the entry names
 * one). The escrow credits each provider its claims less the fee at its rate. `callsServed` and
 * `callsFailed` are reported for every provider of the batch. (`debit` is what the test expects
 * the entry to debit; the escrow computes it.)
 */
export async function settleAs(
  stack: IndexerStack,
  {
    batchLabel,
    entries,
    provider,
    callsServed = 1,
    callsFailed = 0,
  }: {
    batchLabel: string;
    entries: { agent: Address; signer: LocalAccount; cumulative: bigint; debit?: bigint; provider?: Address }[];
    provider: Address;
    callsServed?: number;
    callsFailed?: number;
  },
) {
  const { chainId, escrow } = stack.deployment;
  const claims = await Promise.all(
    entries.map(async ({ agent, signer, cumulative, provider: paid = provider }) => ({
      account: agent,
      signer: signer.address,
      provider: paid,
      maxCumulative: cumulative,
      cumulative,
      signature: await signVoucher(signer, { chainId, escrow, account: agent, provider: paid, maxCumulative: cumulative }),
    })),
  );
  const providers = settlementProviders(claims);
  return stack.mined(
    stack.deployer.writeContract({
      address: escrow,
      abi: agentTabEscrowAbi,
      functionName: "settle",
      args: [keccak256(toHex(batchLabel)), encodeClaims(claims, providers), providers.map((p) => ({ provider: p, callsServed, callsFailed }))],
    }),
  );
}
