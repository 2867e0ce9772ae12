import { readFile } from "node:fs/promises";
import path from "node:path";

import { getAddress, slice, zeroHash } from "viem";
import type { Address, Hex, PublicClient } from "viem";

import { fiatTokenArtifactsPackage, packageArtifactPath } from "../../scripts/lib/abiExport.ts";

type Ranges = Record<string, Record<string, { start: number; length: number }[]>> | Record<string, { start: number; length: number }[]>;
type RuntimeArtifact = { contractName: string; deployedBytecode: Hex; deployedLinkReferences?: Ranges; immutableReferences?: Ranges };

/** Where FiatTokenProxy (zeppelinos' `UpgradeabilityProxy`) keeps its implementation: keccak256("org.zeppelinos.proxy.implementation"). */
const FIAT_TOKEN_IMPLEMENTATION_SLOT: Hex = "0x7050c9e0f4ca769c69bd3a8ef740bc37934f8e2c036e5a723fd8ee048ed3f8c3";

/** The token contracts a bench may have run against: Circle's FiatToken v2.2 and the Solidity tests' MockUSDC. */
const KNOWN_TOKENS = [
  () => packageArtifactPath(fiatTokenArtifactsPackage, "contracts/v2/FiatTokenV2_2.sol/FiatTokenV2_2.json"),
  () => path.join(import.meta.dirname, "../../artifacts/contracts/mocks/MockUSDC.sol/MockUSDC.json"),
];

/** Byte ranges a deployment writes into the runtime code (library addresses, immutables), whatever the nesting. */
function writtenRanges(ranges: Ranges | undefined): { start: number; length: number }[] {
  if (ranges === undefined) return [];
  return Object.values(ranges).flatMap((inner) => (Array.isArray(inner) ? inner : Object.values(inner).flat()));
}

function runtimeMatches(code: Hex, artifact: RuntimeArtifact): boolean {
  // Hex digits without the prefix: the artifact's code still holds `__$…$__` link placeholders.
  const digits = (hex: string) => (hex.startsWith("0x") ? hex.slice(2) : hex).toLowerCase();
  let [deployed, built] = [digits(code), digits(artifact.deployedBytecode)];
  if (deployed.length !== built.length) return false;
  const blank = (hex: string, start: number, length: number) => hex.slice(0, 2 * start) + "0".repeat(2 * length) + hex.slice(2 * (start + length));
  for (const { start, length } of [...writtenRanges(artifact.deployedLinkReferences), ...writtenRanges(artifact.immutableReferences)]) {
    deployed = blank(deployed, start, length);
    built = blank(built, start, length);
  }
  return deployed === built;
}

/**
 * The name of the contract whose code runs at `token` (behind its FiatTokenProxy, when it is one),
 * found by comparing the chain's runtime code with the known tokens' build artifacts, so that a
 * benchmark records the token it measured rather than the one it meant to deploy. Throws for code
 * that matches none.
 *
 * @example
 * await getTokenContractName({ publicClient, token: deployment.usdc }); // "FiatTokenV2_2"
 */
export async function getTokenContractName({ publicClient, token }: { publicClient: PublicClient; token: Address }): Promise<string> {
  const slot = await publicClient.getStorageAt({ address: token, slot: FIAT_TOKEN_IMPLEMENTATION_SLOT });
  const runsAt = slot === undefined || slot === zeroHash ? token : getAddress(slice(slot, 12));
  const code = await publicClient.getCode({ address: runsAt });
  if (code === undefined) throw new Error(`no code at ${runsAt}, the token ${token} runs`);
  for (const artifactPath of KNOWN_TOKENS) {
    const text = await readFile(artifactPath(), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    const artifact = JSON.parse(text) as RuntimeArtifact;
    if (runtimeMatches(code, artifact)) return artifact.contractName;
  }
  throw new Error(`the code at ${runsAt} (token ${token}) is none of the known token contracts`);
}
