import { network } from "hardhat";
import { createWalletClient, custom, keccak256, toHex } from "viem";
import type { Address, Hash, LocalAccount, PublicClient, TransactionReceipt } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import { deployAgentTab } from "../../../scripts/deploy.ts";
import type { DeployAgentTabOptions } from "../../../scripts/deploy.ts";
import { localUsdcIssuer } from "../../../scripts/lib/localUsdc.ts";
import { agentTabEscrowAbi, fiatTokenAbi } from "@agenttab/sdk";

/**
 * A fresh in-process Hardhat chain with Circle's FiatToken (issuer: account 8) and AgentTab deployed by account 0, which is also the settler
 * and (unless `options.relayer` names another) the holder of the exact-payment role, so a test can
 * drive both with one wallet.
 */
export type LocalChain = Awaited<ReturnType<typeof startLocalChain>>;

/**
 * Starts an in-process Hardhat chain and deploys AgentTab on it with `deployAgentTab`.
 *
 * @example
 * const chain = await startLocalChain();
 * await chain.mined(chain.deployer.writeContract({ ... }));
 */
export async function startLocalChain(options: DeployAgentTabOptions = {}) {
  const connection = await network.create();
  const publicClient = (await connection.viem.getPublicClient()) as unknown as PublicClient;
  const [deployer, ...others] = await connection.viem.getWalletClients();
  if (deployer === undefined) throw new Error("Hardhat gave no accounts");
  const { deployment } = await deployAgentTab({ publicClient, walletClient: deployer }, { relayer: deployer.account.address, ...options });

  /** Waits for a transaction sent on the automining chain and checks it succeeded. */
  const mined = async (hash: Hash | Promise<Hash>): Promise<TransactionReceipt> => {
    const receipt = await publicClient.getTransactionReceipt({ hash: await hash });
    if (receipt.status !== "success") throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return receipt;
  };

  /** A wallet for a local account, with ETH for gas. */
  const walletFor = async (account: LocalAccount) => {
    await connection.provider.request({ method: "hardhat_setBalance", params: [account.address, "0x56BC75E2D63100000"] });
    return createWalletClient({ account, chain: hardhat, transport: custom(connection.provider) });
  };

  /** The local FiatToken's issuer (Hardhat #8): mints to fund accounts, blacklists. */
  const usdcIssuer = localUsdcIssuer({ publicClient, usdc: deployment.usdc });
  /** Mints USDC to `to`. */
  const mint = (to: Address, amount: bigint) => usdcIssuer.mint(to, amount);

  const read = {
    usdcBalance: (owner: Address) =>
      publicClient.readContract({ address: deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [owner] }),
    account: (account: Address) =>
      publicClient.readContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "accountOf", args: [account] }),
    earnings: (provider: Address) =>
      publicClient.readContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider] }),
    accruedFees: () => publicClient.readContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "accruedFees" }),
    totalAccounted: () => publicClient.readContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "totalAccounted" }),
  };

  return { connection, publicClient, deployer, others, deployment, mined, walletFor, mint, usdcIssuer, read };
}

/**
 * A deterministic local account, for agents, delegates and providers in tests.
 *
 * @example
 * const agent = testAccount("agent-1");
 */
export function testAccount(label: string): LocalAccount {
  return privateKeyToAccount(keccak256(toHex(label)));
}

