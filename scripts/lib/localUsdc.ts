import { readFile } from "node:fs/promises";

import { concat, createWalletClient, custom, getAddress, maxUint256, size, slice } from "viem";
import type { Account, Address, Chain, Hash, Hex, PublicClient, TransactionReceipt, Transport, WalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { fiatTokenAbi, fiatTokenProxyAbi } from "@agenttab/sdk";
import { fiatTokenArtifactsPackage, packageArtifactPath } from "./abiExport.ts";

/**
 * Hardhat's account #8, the local chain's stand-in for Circle (31337 only): it deploys FiatToken
 * and is its owner, master minter, pauser, blacklister and only minter, so it funds test accounts
 * and blacklists them in tests. It never holds an AgentTab role.
 *
 * @example
 * privateKeyToAccount(hardhatUsdcIssuerKey).address; // "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
 */
export const hardhatUsdcIssuerKey: Hex = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";

/**
 * Hardhat's account #9: admin of the local FiatTokenProxy (upgrades only). FiatTokenProxy refuses
 * its admin's calls to the token, so this account must never be used for anything else; locally it
 * sends nothing at all.
 */
export const hardhatUsdcProxyAdmin: Address = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720";

/** Base's USDC: FiatToken v2.2 as initialized there (domain "USD Coin", version "2"). */
const TOKEN = { name: "USD Coin", symbol: "USDC", currency: "USD", decimals: 6 } as const;
/** What Circle's own deploy script initializes the bare implementation with, so nobody else can. */
const THROWAWAY: Address = "0x0000000000000000000000000000000000000001";

/** A local FiatToken deployment. `usdc` is the proxy: the token's address. */
export type LocalUsdc = {
  usdc: Address;
  implementation: Address;
  signatureChecker: Address;
  /** Owner, master minter, pauser, blacklister and minter. */
  issuer: Address;
  proxyAdmin: Address;
};

type Artifact = { contractName: string; bytecode: Hex; linkReferences: Record<string, Record<string, { start: number; length: number }[]>> };

async function readFiatTokenArtifact(artifact: string): Promise<Artifact> {
  return JSON.parse(await readFile(packageArtifactPath(fiatTokenArtifactsPackage, artifact), "utf8")) as Artifact;
}

/**
 * The artifact's creation bytecode with each library's address written over its link references
 * (`libraries` keyed `"<source>:<library>"`, as in the artifact). Throws when one is missing.
 *
 * @example
 * linkBytecode(fiatTokenV2_2, { "contracts/util/SignatureChecker.sol:SignatureChecker": checker });
 */
export function linkBytecode(artifact: Pick<Artifact, "contractName" | "bytecode" | "linkReferences">, libraries: Record<string, Address>): Hex {
  let bytecode = artifact.bytecode;
  for (const [source, byName] of Object.entries(artifact.linkReferences)) {
    for (const [name, references] of Object.entries(byName)) {
      const address = libraries[`${source}:${name}`];
      if (address === undefined) throw new Error(`${artifact.contractName} needs the library ${source}:${name}`);
      for (const { start, length } of references) {
        if (length !== 20) throw new Error(`${artifact.contractName}: a link reference of ${length} bytes`);
        bytecode = concat([slice(bytecode, 0, start), address.toLowerCase() as Hex, slice(bytecode, start + length, size(bytecode))]);
      }
    }
  }
  if (bytecode.includes("__$")) throw new Error(`${artifact.contractName} still has unlinked references`);
  return bytecode;
}

/**
 * Deploys Circle's FiatTokenV2_2 as Base runs it: the `SignatureChecker` library, the implementation
 * linked to it (itself initialized with throwaway values, as Circle does), a `FiatTokenProxy` whose
 * admin is handed to `proxyAdmin`, then `initialize` (V1), `initializeV2`, `initializeV2_1` and
 * `initializeV2_2` through the proxy ("USD Coin", "USDC", "USD", 6 decimals, EIP-712 version "2"),
 * and the issuer, as master minter, configures itself as a minter without limit. The wallet's
 * account is the issuer; `proxyAdmin` must be another account.
 *
 * @example
 * const { usdc } = await deployLocalUsdc({ publicClient, walletClient: issuer }, { proxyAdmin: hardhatUsdcProxyAdmin });
 */
export async function deployLocalUsdc(
  { publicClient, walletClient }: { publicClient: PublicClient; walletClient: WalletClient<Transport, Chain | undefined, Account> },
  { proxyAdmin }: { proxyAdmin: Address },
): Promise<LocalUsdc> {
  const issuer = walletClient.account.address;
  if (getAddress(proxyAdmin) === getAddress(issuer)) throw new Error("The FiatToken proxy admin cannot call the token: give it another account than the issuer");
  const tx = { account: walletClient.account, chain: walletClient.chain } as const;
  const mined = async (hash: Hash): Promise<TransactionReceipt> => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`FiatToken deployment: transaction ${hash} reverted`);
    return receipt;
  };
  const created = (receipt: TransactionReceipt) => {
    if (!receipt.contractAddress) throw new Error("FiatToken deployment: no contract created");
    return getAddress(receipt.contractAddress);
  };
  const deploy = async (bytecode: Hex) => created(await mined(await walletClient.deployContract({ ...tx, abi: [], bytecode })));

  const [checkerArtifact, tokenArtifact, proxyArtifact] = await Promise.all([
    readFiatTokenArtifact("contracts/util/SignatureChecker.sol/SignatureChecker.json"),
    readFiatTokenArtifact("contracts/v2/FiatTokenV2_2.sol/FiatTokenV2_2.json"),
    readFiatTokenArtifact("contracts/v1/FiatTokenProxy.sol/FiatTokenProxy.json"),
  ]);
  const signatureChecker = await deploy(linkBytecode(checkerArtifact, {}));
  const implementation = await deploy(linkBytecode(tokenArtifact, { "contracts/util/SignatureChecker.sol:SignatureChecker": signatureChecker }));
  const initializeAll = async (address: Address, values: { name: string; symbol: string; currency: string; decimals: number; roles: Address }) => {
    const token = { ...tx, address, abi: fiatTokenAbi } as const;
    const { name, symbol, currency, decimals, roles } = values;
    await mined(await walletClient.writeContract({ ...token, functionName: "initialize", args: [name, symbol, currency, decimals, roles, roles, roles, roles] }));
    await mined(await walletClient.writeContract({ ...token, functionName: "initializeV2", args: [name] }));
    await mined(await walletClient.writeContract({ ...token, functionName: "initializeV2_1", args: [roles] }));
    await mined(await walletClient.writeContract({ ...token, functionName: "initializeV2_2", args: [[], symbol] }));
  };
  await initializeAll(implementation, { name: "", symbol: "", currency: "", decimals: 0, roles: THROWAWAY });

  const usdc = created(await mined(await walletClient.deployContract({ ...tx, abi: fiatTokenProxyAbi, bytecode: linkBytecode(proxyArtifact, {}), args: [implementation] })));
  // The deployer is the proxy's first admin, which the proxy forbids from calling the token.
  await mined(await walletClient.writeContract({ ...tx, address: usdc, abi: fiatTokenProxyAbi, functionName: "changeAdmin", args: [proxyAdmin] }));
  await initializeAll(usdc, { ...TOKEN, roles: issuer });
  await mined(await walletClient.writeContract({ ...tx, address: usdc, abi: fiatTokenAbi, functionName: "configureMinter", args: [issuer, maxUint256] }));
  return { usdc, implementation, signatureChecker, issuer: getAddress(issuer), proxyAdmin: getAddress(proxyAdmin) };
}

/**
 * The local issuer's wallet on the chain `publicClient` reads (any transport: it sends through it).
 *
 * @example
 * const issuer = localUsdcIssuerWallet(publicClient);
 */
export function localUsdcIssuerWallet(publicClient: PublicClient): WalletClient<Transport, Chain | undefined, Account> {
  return createWalletClient({ account: privateKeyToAccount(hardhatUsdcIssuerKey), chain: publicClient.chain, transport: custom(publicClient) });
}

/** What tests and the local stack do as the local USDC issuer. */
export type LocalUsdcIssuer = {
  /** Mints `amount` to `to` (funds a test account). */
  mint: (to: Address, amount: bigint) => Promise<TransactionReceipt>;
  /** Puts `account` on FiatToken's blacklist: it can no longer send, receive or approve USDC. */
  blacklist: (account: Address) => Promise<TransactionReceipt>;
  unBlacklist: (account: Address) => Promise<TransactionReceipt>;
};

/**
 * The local issuer's actions on `usdc`, one transaction at a time (its nonces come from the chain,
 * so two at once would collide).
 *
 * @example
 * const issuer = localUsdcIssuer({ publicClient, usdc: deployment.usdc });
 * await issuer.mint(agent.address, 10_000_000n);
 */
export function localUsdcIssuer({ publicClient, usdc }: { publicClient: PublicClient; usdc: Address }): LocalUsdcIssuer {
  const wallet = localUsdcIssuerWallet(publicClient);
  let queue: Promise<unknown> = Promise.resolve();
  const send = (functionName: "mint" | "blacklist" | "unBlacklist", args: readonly [Address] | readonly [Address, bigint]) => {
    const run = queue.then(async () => {
      const hash = await wallet.writeContract({ account: wallet.account, chain: wallet.chain, address: usdc, abi: fiatTokenAbi, functionName, args } as never);
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") throw new Error(`USDC ${functionName} ${hash} reverted`);
      return receipt;
    });
    queue = run.catch(() => {});
    return run;
  };
  return {
    mint: (to, amount) => send("mint", [to, amount]),
    blacklist: (account) => send("blacklist", [account]),
    unBlacklist: (account) => send("unBlacklist", [account]),
  };
}
