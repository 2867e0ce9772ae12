import { getAddress } from "viem";
import type { Account, Address, Chain, Hash, PublicClient, Transport, WalletClient } from "viem";

import { agentTabEscrowAbi, agentTabReputationAbi } from "@agenttab/sdk";
import { agentTabEscrowBytecode, agentTabReputationBytecode } from "@agenttab/sdk/bytecode";
import { chainIdToCaip2, getNetwork, hardhatLocal } from "@agenttab/sdk";
import type { Deployment } from "@agenttab/sdk";
import { AgentTabError } from "@agenttab/sdk";
import { deployLocalUsdc, hardhatUsdcProxyAdmin, localUsdcIssuerWallet } from "./localUsdc.ts";
import type { LocalUsdc } from "./localUsdc.ts";

const DAY = 24 * 60 * 60;

/** The clients a deployment sends through; the wallet's account deploys and pays gas. */
export type DeployClients = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
};

/** What to deploy; everything has a default. */
export type DeployAgentTabOptions = {
  /** The USDC token. Defaults to the known network's; on a local chain Circle's FiatToken is deployed (see `deployLocalUsdc`). */
  usdc?: Address | undefined;
  /** Admin of the escrow and the reputation contract; defaults to the deployer. Another admin gets a two-step transfer begun on both. */
  admin?: Address | undefined;
  /** Holder of SETTLER_ROLE; defaults to the admin. */
  settler?: Address | undefined;
  /** The API's relayer: gets EXACT_PAYMENT_ROLE (x402 `exact` payments only, never settlement batches); none by default. */
  relayer?: Address | undefined;
  /** Holder of PAUSER_ROLE; defaults to the admin. */
  pauser?: Address | undefined;
  /** The proxy's key, allowed to sign receipts on the reputation contract; defaults to the settler. */
  receiptSigner?: Address | undefined;
  /** Starting fee rate in basis points; default 100 (1%). */
  feeBps?: number | undefined;
  /** Immutable fee-rate cap in basis points; default 500. */
  maxFeeBps?: number | undefined;
  /** Seconds an agent withdrawal waits; default 8 days (a weekly settlement plus a day). */
  withdrawalDelay?: number | undefined;
  /** Seconds an admin transfer waits; default 2 days, 0 on a local chain. */
  adminTransferDelay?: number | undefined;
};

/** The deployment, and the local FiatToken deployed alongside (on a local chain with no USDC given). */
export type DeployAgentTabReturnType = { deployment: Deployment; localUsdc: LocalUsdc | undefined; adminTransferPending: boolean };

/**
 * The chain refuses deployment: unknown and no USDC address given.
 *
 * @example
 * new UnknownChainError({ chainId: 10 });
 */
export class UnknownChainError extends AgentTabError {
  override name = "UnknownChainError";
  readonly chainId: number;
  constructor({ chainId }: { chainId: number }) {
    super(`Chain ${chainId} is not a known AgentTab network: pass the USDC address explicitly.`);
    this.chainId = chainId;
  }
}

/**
 * Deploys the escrow and the reputation contract (and, on a local chain, Circle's FiatToken from
 * the local issuer's account, Hardhat #8), grants the settler and pauser roles, allows the receipt
 * signer and returns the deployment record. Writes no files. From a fresh deployer the contracts
 * take nonces 0 (escrow) and 1 (reputation), whatever the token's deployment takes: the addresses
 * the typed-data parity vectors name.
 *
 * @example
 * const { deployment } = await deployAgentTab({ publicClient, walletClient }, { settler: "0x…", feeBps: 100 });
 * await writeFile(deploymentPath(deployment.chainId), serializeDeployment(deployment));
 */
export async function deployAgentTab(
  { publicClient, walletClient }: DeployClients,
  options: DeployAgentTabOptions = {},
): Promise<DeployAgentTabReturnType> {
  const chainId = await publicClient.getChainId();
  const local = chainId === hardhatLocal.chainId;
  const deployer = walletClient.account.address;
  const admin = getAddress(options.admin ?? deployer);
  const settler = getAddress(options.settler ?? admin);
  const pauser = getAddress(options.pauser ?? admin);
  const receiptSigner = getAddress(options.receiptSigner ?? settler);
  const feeBps = options.feeBps ?? 100;
  const maxFeeBps = options.maxFeeBps ?? 500;
  const withdrawalDelay = options.withdrawalDelay ?? 8 * DAY;
  const adminTransferDelay = options.adminTransferDelay ?? (local ? 0 : 2 * DAY);

  const send = async (hash: Hash) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`Transaction ${hash} reverted`);
    return receipt;
  };
  const tx = { account: walletClient.account, chain: walletClient.chain } as const;

  let usdc = options.usdc ?? getNetwork({ chainId })?.usdc;
  let localUsdc: LocalUsdc | undefined;
  if (usdc === undefined) {
    if (!local) throw new UnknownChainError({ chainId });
    localUsdc = await deployLocalUsdc({ publicClient, walletClient: localUsdcIssuerWallet(publicClient) }, { proxyAdmin: hardhatUsdcProxyAdmin });
    usdc = localUsdc.usdc;
  }

  const receipt = await send(
    await walletClient.deployContract({
      ...tx,
      abi: agentTabEscrowAbi,
      bytecode: agentTabEscrowBytecode,
      // The deployer is the first admin so that it can grant the roles below.
      args: [usdc, deployer, adminTransferDelay, maxFeeBps, feeBps, BigInt(withdrawalDelay)],
    }),
  );
  if (!receipt.contractAddress) throw new Error("The escrow deployment created no contract");
  const escrow = receipt.contractAddress;

  // Right after the escrow, before any other transaction, so that its address is predictable.
  const reputationReceipt = await send(
    await walletClient.deployContract({
      ...tx,
      abi: agentTabReputationAbi,
      bytecode: agentTabReputationBytecode,
      args: [deployer, adminTransferDelay],
    }),
  );
  if (!reputationReceipt.contractAddress) throw new Error("The reputation deployment created no contract");
  const reputation = reputationReceipt.contractAddress;

  const escrowContract = { ...tx, address: escrow, abi: agentTabEscrowAbi } as const;
  const reputationContract = { ...tx, address: reputation, abi: agentTabReputationAbi } as const;
  const [settlerRole, exactPaymentRole, pauserRole] = await Promise.all([
    publicClient.readContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "SETTLER_ROLE" }),
    publicClient.readContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "EXACT_PAYMENT_ROLE" }),
    publicClient.readContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "PAUSER_ROLE" }),
  ]);
  await send(await walletClient.writeContract({ ...escrowContract, functionName: "grantRole", args: [settlerRole, settler] }));
  // Least privilege: the internet-facing API's key can execute exact payments, not settle batches.
  if (options.relayer !== undefined) {
    await send(await walletClient.writeContract({ ...escrowContract, functionName: "grantRole", args: [exactPaymentRole, getAddress(options.relayer)] }));
  }
  await send(await walletClient.writeContract({ ...escrowContract, functionName: "grantRole", args: [pauserRole, pauser] }));
  await send(await walletClient.writeContract({ ...reputationContract, functionName: "setReceiptSigner", args: [receiptSigner, true] }));
  const adminTransferPending = admin !== getAddress(deployer);
  if (adminTransferPending) {
    await send(await walletClient.writeContract({ ...escrowContract, functionName: "beginDefaultAdminTransfer", args: [admin] }));
    await send(await walletClient.writeContract({ ...reputationContract, functionName: "beginDefaultAdminTransfer", args: [admin] }));
  }

  const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber });
  const deployment: Deployment = {
    chainId,
    network: chainIdToCaip2(chainId),
    escrow: getAddress(escrow),
    reputation: getAddress(reputation),
    usdc: getAddress(usdc),
    startBlock: Number(receipt.blockNumber),
    admin,
    settler,
    pauser,
    receiptSigner,
    feeBps,
    maxFeeBps,
    withdrawalDelay,
    deployedAt: new Date(Number(block.timestamp) * 1000).toISOString(),
  };
  return { deployment, localUsdc, adminTransferPending };
}
