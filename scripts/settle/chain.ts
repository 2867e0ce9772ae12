import type { Address, Chain, PublicClient, Transport, WalletClient, Account } from "viem";

import { agentTabEscrowAbi } from "@agenttab/sdk";


/** The chain side of a settlement: a reader, the settler's wallet, and the escrow. */
export type SettleChain = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  chainId: number;
  escrow: Address;
};

/** What the chain says was claimed on a spend track (account, signer, provider). */
export async function claimedOnChain(chain: SettleChain, account: Address, signer: Address, provider: Address): Promise<bigint> {
  return chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "claimedOf", args: [account, signer, provider] });
}

export async function batchSettled(chain: SettleChain, batchId: `0x${string}`): Promise<boolean> {
  return chain.publicClient.readContract({ address: chain.escrow, abi: agentTabEscrowAbi, functionName: "batchSettled", args: [batchId] });
}
