import type { Address } from "viem";

/** A chain AgentTab runs on. */
export type AgentTabNetwork = {
  chainId: number;
  /** CAIP-2 id, as x402's `network` field carries it. */
  caip2: `eip155:${number}`;
  name: string;
  /** Circle's USDC on that chain; undefined where the deploy script deploys one (Circle's FiatToken, locally). */
  usdc: Address | undefined;
  /** USDC's EIP-712 domain name and version there (permits and EIP-3009 authorizations sign it). */
  usdcEip712: { name: string; version: string };
};

/**
 * Base mainnet.
 *
 * @example
 * usdcDomain({ chainId: base.chainId, usdc: base.usdc });
 */
export const base = {
  chainId: 8453,
  caip2: "eip155:8453",
  name: "base",
  usdc: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
  usdcEip712: { name: "USD Coin", version: "2" },
} as const satisfies AgentTabNetwork;

/**
 * Base Sepolia testnet. Its USDC signs under the domain name "USDC", not "USD Coin".
 *
 * @example
 * baseSepolia.caip2; // "eip155:84532"
 */
export const baseSepolia = {
  chainId: 84532,
  caip2: "eip155:84532",
  name: "base-sepolia",
  usdc: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
  usdcEip712: { name: "USDC", version: "2" },
} as const satisfies AgentTabNetwork;

/**
 * A local Hardhat chain, where the deploy script also deploys Circle's FiatToken (USDC as on Base).
 *
 * @example
 * const { usdc } = await readDeployment(hardhatLocal.chainId); // the local FiatToken
 */
export const hardhatLocal = {
  chainId: 31337,
  caip2: "eip155:31337",
  name: "hardhat",
  usdc: undefined,
  usdcEip712: { name: "USD Coin", version: "2" },
} as const satisfies AgentTabNetwork;

/**
 * The networks AgentTab knows by chain id.
 *
 * @example
 * knownNetworks[8453].usdc; // "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
 */
export const knownNetworks: Readonly<Record<number, AgentTabNetwork>> = {
  [base.chainId]: base,
  [baseSepolia.chainId]: baseSepolia,
  [hardhatLocal.chainId]: hardhatLocal,
};

/**
 * The known network with this chain id, or undefined.
 *
 * @example
 * getNetwork({ chainId: 84532 })?.name; // "base-sepolia"
 * getNetwork({ chainId: 1 }); // undefined
 */
export function getNetwork({ chainId }: { chainId: number }): AgentTabNetwork | undefined {
  return knownNetworks[chainId];
}

/**
 * The CAIP-2 id of an EVM chain.
 *
 * @example
 * chainIdToCaip2(8453); // "eip155:8453"
 */
export function chainIdToCaip2(chainId: number): `eip155:${number}` {
  return `eip155:${chainId}`;
}

/**
 * The chain id in an `eip155:` CAIP-2 id, or undefined for another namespace or a malformed id.
 *
 * @example
 * caip2ToChainId("eip155:84532"); // 84532
 * caip2ToChainId("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"); // undefined
 */
export function caip2ToChainId(caip2: string): number | undefined {
  const match = /^eip155:([1-9][0-9]{0,15})$/.exec(caip2);
  return match ? Number(match[1]) : undefined;
}
