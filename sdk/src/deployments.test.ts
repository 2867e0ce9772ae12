import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { deploymentPath, parseDeployment, readDeployment, serializeDeployment } from "./deployments.ts";
import type { Deployment } from "./deployments.ts";
import { DeploymentNotFoundError, InvalidDeploymentError } from "./errors.ts";

const deployment: Deployment = {
  chainId: 84532,
  network: "eip155:84532",
  escrow: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
  reputation: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
  usdc: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
  startBlock: 123,
  admin: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  settler: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  pauser: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  receiptSigner: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  feeBps: 100,
  maxFeeBps: 500,
  withdrawalDelay: 691_200,
  deployedAt: "2025-01-01T00:00:00.000Z",
};

describe("deployments", () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(tmpdir(), "agenttab-deployments-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("reads back what serializeDeployment wrote", async () => {
    const dir = await tempDir();
    await writeFile(deploymentPath(84532, { dir }), serializeDeployment(deployment));
    expect(await readDeployment(84532, { dir })).toEqual(deployment);
    expect(Object.keys(JSON.parse(serializeDeployment(deployment)))).toEqual(Object.keys(deployment));
    expect(deploymentPath(8453)).toBe("deployments/8453.json");
  });

  it("reports a missing file and a record for another chain", async () => {
    const dir = await tempDir();
    await expect(readDeployment(8453, { dir })).rejects.toBeInstanceOf(DeploymentNotFoundError);
    await writeFile(deploymentPath(8453, { dir }), serializeDeployment(deployment));
    await expect(readDeployment(8453, { dir })).rejects.toThrow(/chainId.*expected 8453/);
  });

  it("names the bad field of an invalid record and checksums addresses", () => {
    expect(() => parseDeployment({ ...deployment, escrow: "0x12" })).toThrow(InvalidDeploymentError);
    expect(() => parseDeployment({ ...deployment, network: "eip155:1" })).toThrow(/`network`/);
    expect(() => parseDeployment({ ...deployment, startBlock: "1" })).toThrow(/`startBlock`/);
    const { reputation: _, ...withoutReputation } = deployment;
    expect(() => parseDeployment(withoutReputation)).toThrow(/`reputation`/);
    expect(() => parseDeployment({ ...deployment, receiptSigner: undefined })).toThrow(/`receiptSigner`/);
    expect(parseDeployment({ ...deployment, usdc: deployment.usdc.toLowerCase() }).usdc).toBe(deployment.usdc);
  });
});
