import { getAddress, isAddress } from "viem";
import type { Address } from "viem";

import { DeploymentNotFoundError, InvalidDeploymentError } from "./errors.ts";

/** Where AgentTab's contracts live on one chain: `deployments/<chainId>.json`, written by the deploy script. */
export type Deployment = {
  chainId: number;
  /** CAIP-2 id, e.g. "eip155:8453". */
  network: `eip155:${number}`;
  escrow: Address;
  /** The reputation contract (receipts and feedback), deployed right after the escrow. */
  reputation: Address;
  usdc: Address;
  /** The block the escrow was deployed in: where indexers start, for the reputation contract too. */
  startBlock: number;
  admin: Address;
  settler: Address;
  pauser: Address;
  /** The receipt signer allowed at deployment (the proxy's key); the admin can allow others. */
  receiptSigner: Address;
  /** The fee rate at deployment, in basis points (the admin can change it up to `maxFeeBps`). */
  feeBps: number;
  /** The immutable fee-rate cap, in basis points. */
  maxFeeBps: number;
  /** Seconds an agent withdrawal waits before it can be finalized. */
  withdrawalDelay: number;
  /** ISO 8601 time of the deployment block. */
  deployedAt: string;
};

const addressFields = ["escrow", "reputation", "usdc", "admin", "settler", "pauser", "receiptSigner"] as const;
const integerFields = ["chainId", "startBlock", "feeBps", "maxFeeBps", "withdrawalDelay"] as const;

/**
 * Validates a parsed deployment record, checksumming its addresses.
 *
 * @throws {InvalidDeploymentError} naming the first field that is missing or malformed.
 * @example
 * const deployment = parseDeployment(JSON.parse(text));
 */
export function parseDeployment(value: unknown): Deployment {
  if (typeof value !== "object" || value === null) throw new InvalidDeploymentError({ field: "(root)", reason: "is not an object" });
  const record = value as Record<string, unknown>;
  for (const field of integerFields) {
    const v = record[field];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidDeploymentError({ field, reason: "is not a non-negative integer" });
    }
  }
  const addresses = {} as Record<(typeof addressFields)[number], Address>;
  for (const field of addressFields) {
    const v = record[field];
    if (typeof v !== "string" || !isAddress(v, { strict: false })) throw new InvalidDeploymentError({ field, reason: "is not an address" });
    addresses[field] = getAddress(v);
  }
  if (record.network !== `eip155:${record.chainId}`) {
    throw new InvalidDeploymentError({ field: "network", reason: `is not "eip155:${record.chainId}"` });
  }
  if (typeof record.deployedAt !== "string" || Number.isNaN(Date.parse(record.deployedAt))) {
    throw new InvalidDeploymentError({ field: "deployedAt", reason: "is not an ISO 8601 time" });
  }
  return {
    chainId: record.chainId as number,
    network: record.network as `eip155:${number}`,
    ...addresses,
    startBlock: record.startBlock as number,
    feeBps: record.feeBps as number,
    maxFeeBps: record.maxFeeBps as number,
    withdrawalDelay: record.withdrawalDelay as number,
    deployedAt: record.deployedAt,
  };
}

/**
 * The deployment record as committed: stable key order, two-space indent, final newline.
 *
 * @example
 * await writeFile(deploymentPath(deployment.chainId), serializeDeployment(deployment));
 */
export function serializeDeployment(deployment: Deployment): string {
  const { chainId, network, escrow, reputation, usdc, startBlock, admin, settler, pauser, receiptSigner } = deployment;
  const { feeBps, maxFeeBps, withdrawalDelay, deployedAt } = deployment;
  const ordered = {
    chainId,
    network,
    escrow,
    reputation,
    usdc,
    startBlock,
    admin,
    settler,
    pauser,
    receiptSigner,
    feeBps,
    maxFeeBps,
    withdrawalDelay,
    deployedAt,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/**
 * The path of a chain's deployment record: `<dir>/<chainId>.json`, `dir` defaulting to
 * `deployments` under the working directory.
 *
 * @example
 * deploymentPath(84532); // "deployments/84532.json"
 * deploymentPath(31337, { dir: "/tmp/run" }); // "/tmp/run/31337.json"
 */
export function deploymentPath(chainId: number, { dir = "deployments" }: { dir?: string } = {}): string {
  return `${dir.replace(/\/+$/, "")}/${chainId}.json`;
}

/**
 * Reads and validates `deployments/<chainId>.json` (Node only).
 *
 * @throws {DeploymentNotFoundError} when the file cannot be read.
 * @throws {InvalidDeploymentError} when it is not a valid record, or is for another chain.
 * @example
 * const { escrow, reputation, usdc, startBlock } = await readDeployment(8453);
 * const local = await readDeployment(31337, { dir: "/srv/agenttab/deployments" });
 */
export async function readDeployment(chainId: number, options: { dir?: string } = {}): Promise<Deployment> {
  const path = deploymentPath(chainId, options);
  // Imported lazily so that the rest of the SDK still loads where there is no file system.
  const { readFile } = await import("node:fs/promises");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new DeploymentNotFoundError({ chainId, path, cause });
  }
  const deployment = parseDeployment(JSON.parse(text));
  if (deployment.chainId !== chainId) {
    throw new InvalidDeploymentError({ field: "chainId", reason: `is ${deployment.chainId} in ${path}, expected ${chainId}` });
  }
  return deployment;
}
