import { createPublicClient, createWalletClient, http } from "viem";
import type { Abi, Account, Address, Chain, ContractFunctionArgs, ContractFunctionName, Hash, PublicClient, TransactionReceipt, WalletClient } from "viem";

import { ChainAccessError, ContractRevertedError, contractErrorFrom } from "./chainErrors.ts";

/** What an on-chain action reads and sends with; build it with {@link createChainAccess}. */
export type ChainAccess = {
  publicClient: PublicClient | undefined;
  /** Present when the signer can send transactions itself (a viem `LocalAccount` or JSON-RPC account). */
  walletClient: WalletClient | undefined;
  account: Account | undefined;
  chain: Chain;
};

/** A mined transaction: its hash, block and the gas it used. */
export type TransactionResult = {
  hash: Hash;
  blockNumber: bigint;
  gasUsed: bigint;
};

/** A contract write, as viem's `simulateContract` takes it. */
export type ContractWrite<abi extends Abi, name extends ContractFunctionName<abi, "nonpayable">> = {
  address: Address;
  abi: abi;
  functionName: name;
  args: ContractFunctionArgs<abi, "nonpayable", name>;
};

const isSendingAccount = (signer: unknown): signer is Account =>
  typeof signer === "object" && signer !== null && ((signer as Account).type === "local" || (signer as Account).type === "json-rpc");

/**
 * The public and wallet clients of `rpcUrl` for `signer` on `chainId`: the wallet client only
 * when the signer can send transactions (a bare typed-data signer cannot).
 *
 * @example
 * const access = createChainAccess({ rpcUrl: "https://mainnet.base.org", chainId: 8453, signer: privateKeyToAccount(key) });
 */
export function createChainAccess({ rpcUrl, chainId, signer }: { rpcUrl: string | undefined; chainId: number; signer: unknown }): ChainAccess {
  const chain: Chain = {
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: rpcUrl ? [rpcUrl] : [] } },
  };
  if (rpcUrl === undefined) return { publicClient: undefined, walletClient: undefined, account: undefined, chain };
  const transport = http(rpcUrl, { timeout: 30_000 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 }) as PublicClient;
  const account = isSendingAccount(signer) ? signer : undefined;
  const walletClient = account ? createWalletClient({ account, chain, transport }) : undefined;
  return { publicClient, walletClient, account, chain };
}

/**
 * The public client, or a {@link ChainAccessError} naming what `action` needs.
 *
 * @example
 * const publicClient = requirePublicClient(access, "read the USDC nonce");
 */
export function requirePublicClient(access: ChainAccess, action: string): PublicClient {
  if (access.publicClient === undefined) throw new ChainAccessError({ missing: "rpcUrl", action });
  return access.publicClient;
}

/**
 * Now, by the chain's clock, in unix seconds: the later of the latest block's timestamp (read
 * through the client's RPC, when it has one) and the local clock. Windows the chain checks (an
 * EIP-3009 `validBefore`, an EIP-2612 `deadline`) start from it, so they hold on a chain whose time
 * runs ahead of the local clock (a local chain whose time a test advanced); the local clock covers
 * an idle chain whose latest block is old, and a client without an RPC.
 *
 * @example
 * const validBefore = (await getChainTime(access)) + 3_600n;
 */
export async function getChainTime(access: ChainAccess): Promise<bigint> {
  const local = BigInt(Math.floor(Date.now() / 1000));
  if (access.publicClient === undefined) return local;
  const { timestamp } = await access.publicClient.getBlock({ blockTag: "latest" });
  return timestamp > local ? timestamp : local;
}

/**
 * Simulates a contract write from the signer's wallet (a revert costs nothing and throws the
 * SDK's decoded error), sends it, and waits for it to be mined.
 *
 * @throws {ChainAccessError} without an `rpcUrl` or a signer that can send transactions.
 * @throws {ContractRevertedError} (or a subclass such as `WithdrawalLockedError`) when the contract refuses.
 * @example
 * const { hash, receipt } = await sendContractWrite(access, { address: escrow, abi: agentTabEscrowAbi, functionName: "cancelWithdrawal", args: [] }, "cancel a withdrawal");
 */
export async function sendContractWrite<const abi extends Abi, name extends ContractFunctionName<abi, "nonpayable">>(
  access: ChainAccess,
  write: ContractWrite<abi, name>,
  action: string,
): Promise<{ hash: Hash; receipt: TransactionReceipt }> {
  const publicClient = requirePublicClient(access, action);
  if (access.walletClient === undefined || access.account === undefined) throw new ChainAccessError({ missing: "walletSigner", action });
  let hash: Hash;
  try {
    const { request } = await publicClient.simulateContract({ ...(write as ContractWrite<Abi, string>), account: access.account, chain: access.chain } as never);
    hash = await access.walletClient.writeContract(request as never);
  } catch (error) {
    throw contractErrorFrom(error);
  }
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") {
    throw new ContractRevertedError({ errorName: undefined, args: [], shortMessage: `The transaction ${hash} reverted on-chain.` });
  }
  return { hash, receipt };
}

/**
 * The hash, block and gas of a mined transaction.
 *
 * @example
 * const { hash, blockNumber, gasUsed } = transactionResult(receipt);
 */
export function transactionResult(receipt: TransactionReceipt): TransactionResult {
  return { hash: receipt.transactionHash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
}
