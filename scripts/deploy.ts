/**
 * Deploys AgentTab and writes deployments/<chainId>.json: `npm run deploy -- --rpc http://127.0.0.1:8545`.
 * See `deployUsage` for the flags. The core, `deployAgentTab`, is exported for tests.
 */
import { mkdir, writeFile } from "node:fs/promises";

import { createPublicClient, createWalletClient, defineChain, http } from "viem";
import type { Chain, Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { base as viemBase, baseSepolia as viemBaseSepolia, hardhat as viemHardhat } from "viem/chains";

import { deploymentPath, hardhatLocal, serializeDeployment } from "@agenttab/sdk";

import { deployAgentTab } from "./lib/deployAgentTab.ts";
import { keyFromEnv } from "./lib/keys.ts";
import { deployUsage, hardhatDeployerKey, hardhatRelayerKey, parseDeployConfig } from "./lib/deployConfig.ts";

export { deployAgentTab, UnknownChainError } from "./lib/deployAgentTab.ts";
export type { DeployAgentTabOptions, DeployAgentTabReturnType, DeployClients } from "./lib/deployAgentTab.ts";

const viemChains: Record<number, Chain> = { 8453: viemBase, 84532: viemBaseSepolia, 31337: viemHardhat };

function chainFor(chainId: number, rpcUrl: string): Chain {
  const known = viemChains[chainId];
  const chain =
    known ??
    defineChain({
      id: chainId,
      name: `chain ${chainId}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [rpcUrl] } },
    });
  return { ...chain, rpcUrls: { default: { http: [rpcUrl] } } };
}

/**
 * Runs the deploy script: parses the flags and environment, deploys, writes the deployment record.
 *
 * @example
 * const deployment = await runDeploy({ argv: ["--rpc", url, "--out-dir", dir], env: {} });
 */
export async function runDeploy({
  argv,
  env,
  log = console.log,
}: {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  log?: (line: string) => void;
}) {
  const config = parseDeployConfig({ argv, env });
  const probe = createPublicClient({ transport: http(config.rpcUrl) });
  const chainId = await probe.getChainId();
  const chain = chainFor(chainId, config.rpcUrl);
  let privateKey: Hex | undefined = config.privateKey ?? (await keyFromEnv(env, { keyVariable: "DEPLOYER_PRIVATE_KEY", keystoreVariable: "DEPLOYER_KEYSTORE" }));
  if (privateKey === undefined) {
    if (chainId !== hardhatLocal.chainId) throw new Error(`DEPLOYER_PRIVATE_KEY is required on chain ${chainId}`);
    privateKey = hardhatDeployerKey;
  }
  const account = privateKeyToAccount(privateKey);
  const transport = http(config.rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: chainId === hardhatLocal.chainId ? 50 : 2_000 });
  const walletClient = createWalletClient({ chain, transport, account });

  log(`Deploying AgentTab on chain ${chainId} from ${account.address}`);
  const options = { ...config.options };
  if (options.relayer === undefined && chainId === hardhatLocal.chainId) options.relayer = privateKeyToAccount(hardhatRelayerKey).address;
  const { deployment, localUsdc, adminTransferPending } = await deployAgentTab({ publicClient, walletClient }, options);
  await mkdir(config.outDir, { recursive: true });
  const file = deploymentPath(chainId, { dir: config.outDir });
  await writeFile(file, serializeDeployment(deployment));

  const line = (label: string, value: string) => log(`${label.padEnd(15)}${value}`);
  if (localUsdc === undefined) line("USDC", deployment.usdc);
  else {
    line("USDC", `${deployment.usdc} (Circle's FiatTokenV2_2 behind FiatTokenProxy, implementation ${localUsdc.implementation})`);
    line("USDC issuer", `${localUsdc.issuer} (owner, master minter, minter, pauser, blacklister)`);
    line("USDC admin", `${localUsdc.proxyAdmin} (proxy admin: upgrades only, never calls the token)`);
  }
  line("escrow", `${deployment.escrow} (block ${deployment.startBlock})`);
  line("reputation", deployment.reputation);
  line("settler", deployment.settler);
  if (options.relayer !== undefined) line("relayer", `${options.relayer} (EXACT_PAYMENT_ROLE: x402 exact payments only)`);
  line("pauser", deployment.pauser);
  line("receipt signer", deployment.receiptSigner);
  if (adminTransferPending) {
    line("admin", `${deployment.admin} must call acceptDefaultAdminTransfer() on both contracts once the admin transfer delay has passed`);
  }
  log(`wrote ${file}`);
  return deployment;
}

if (import.meta.main) {
  if (process.argv.includes("--help")) {
    console.log(deployUsage);
  } else {
    try {
      await runDeploy({ argv: process.argv.slice(2), env: process.env });
    } catch (error) {
      console.error(error instanceof Error ? error.message : error);
      console.error(`\n${deployUsage}`);
      process.exitCode = 1;
    }
  }
}
