import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { network } from "hardhat";
import { createPublicClient, domainSeparator, http, keccak256, toHex } from "viem";
import type { PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";

import { deployAgentTab, runDeploy, UnknownChainError } from "../../scripts/deploy.ts";
import { parseDeployConfig } from "../../scripts/lib/deployConfig.ts";
import { hardhatUsdcIssuerKey, hardhatUsdcProxyAdmin } from "../../scripts/lib/localUsdc.ts";
import { fiatTokenProxyAbi } from "@agenttab/sdk";
import { agentTabEscrowAbi, agentTabReputationAbi, fiatTokenAbi, readDeployment, receiptEip712, usdcDomain } from "@agenttab/sdk";

const settler = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"; // Hardhat #3: not the default relayer (#1)
const receiptSigner = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

describe("npm run deploy", () => {
  it("deploys Circle's FiatToken as on Base, the escrow and the reputation contract on the local chain over JSON-RPC and writes deployments/31337.json", async () => {
    const server = await network.createServer({}, "127.0.0.1", 0);
    const { address, port } = await server.listen();
    const dir = await mkdtemp(path.join(tmpdir(), "agenttab-deploy-"));
    try {
      const rpc = `http://${address}:${port}`;
      const lines: string[] = [];
      const deployment = await runDeploy({
        argv: ["--rpc", rpc, "--settler", settler, "--receipt-signer", receiptSigner, "--out-dir", dir, "--fee-bps", "50"],
        env: {},
        log: (line) => lines.push(line),
      });
      expect(await readDeployment(31337, { dir })).toEqual(deployment);
      expect(deployment).toMatchObject({
        chainId: 31337,
        network: "eip155:31337",
        admin: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        settler,
        pauser: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        receiptSigner,
        feeBps: 50,
        maxFeeBps: 500,
        withdrawalDelay: 8 * 24 * 3600,
      });
      expect(lines.at(-1)).toBe(`wrote ${dir}/31337.json`);

      const client = createPublicClient({ transport: http(rpc) });
      const escrow = { address: deployment.escrow, abi: agentTabEscrowAbi } as const;
      expect(await client.readContract({ ...escrow, functionName: "hasRole", args: [keccak256(toHex("SETTLER_ROLE")), settler] })).toBe(true);
      // Least privilege: the API's relayer (Hardhat account #1 by default on 31337) executes exact payments only.
      const relayer = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
      expect(await client.readContract({ ...escrow, functionName: "hasRole", args: [keccak256(toHex("EXACT_PAYMENT_ROLE")), relayer] })).toBe(true);
      expect(await client.readContract({ ...escrow, functionName: "hasRole", args: [keccak256(toHex("SETTLER_ROLE")), relayer] })).toBe(false);
      expect(await client.readContract({ ...escrow, functionName: "hasRole", args: [keccak256(toHex("EXACT_PAYMENT_ROLE")), settler] })).toBe(false);
      expect(await client.readContract({ ...escrow, functionName: "feeBps" })).toBe(50);
      expect(await client.readContract({ ...escrow, functionName: "defaultAdminDelay" })).toBe(0);
      expect(Number(await client.readContract({ ...escrow, functionName: "WITHDRAWAL_DELAY" }))).toBe(deployment.withdrawalDelay);

      const reputation = { address: deployment.reputation, abi: agentTabReputationAbi } as const;
      expect(await client.readContract({ ...reputation, functionName: "isReceiptSigner", args: [receiptSigner] })).toBe(true);
      expect(await client.readContract({ ...reputation, functionName: "isReceiptSigner", args: [settler] })).toBe(false);
      expect(await client.readContract({ ...reputation, functionName: "defaultAdmin" })).toBe(deployment.admin);
      const [, name, version, , verifyingContract] = await client.readContract({ ...reputation, functionName: "eip712Domain" });
      expect({ name, version, verifyingContract }).toEqual({ ...receiptEip712, verifyingContract: deployment.reputation });
      // The deployment block of the escrow is where an indexer starts, and the reputation contract comes after it.
      const code = await client.getCode({ address: deployment.reputation, blockNumber: BigInt(deployment.startBlock) });
      expect(code ?? "0x").toBe("0x");

      // USDC: FiatTokenV2_2 behind FiatTokenProxy, initialized as Base's, run by the local issuer
      // (Hardhat #8); the proxy's admin (#9) is another account, the only one the proxy answers.
      const usdc = { address: deployment.usdc, abi: fiatTokenAbi } as const;
      const issuer = privateKeyToAccount(hardhatUsdcIssuerKey).address;
      expect(await Promise.all((["name", "symbol", "currency", "version", "decimals"] as const).map((functionName) => client.readContract({ ...usdc, functionName })))).toEqual([
        "USD Coin",
        "USDC",
        "USD",
        "2",
        6,
      ]);
      const roles = await Promise.all((["owner", "masterMinter", "pauser", "blacklister"] as const).map((functionName) => client.readContract({ ...usdc, functionName })));
      expect(roles).toEqual([issuer, issuer, issuer, issuer]);
      expect(await client.readContract({ ...usdc, functionName: "isMinter", args: [issuer] })).toBe(true);
      expect(await client.readContract({ ...usdc, functionName: "DOMAIN_SEPARATOR" })).toBe(domainSeparator({ domain: usdcDomain({ chainId: 31337, usdc: deployment.usdc }) }));
      const proxy = { address: deployment.usdc, abi: fiatTokenProxyAbi } as const;
      expect(await client.readContract({ ...proxy, functionName: "admin", account: hardhatUsdcProxyAdmin })).toBe(hardhatUsdcProxyAdmin);
      const implementation = await client.readContract({ ...proxy, functionName: "implementation", account: hardhatUsdcProxyAdmin });
      expect(await client.readContract({ address: implementation, abi: fiatTokenAbi, functionName: "owner" })).toBe("0x0000000000000000000000000000000000000001");
      expect(lines.join("\n")).toContain(`USDC           ${deployment.usdc} (Circle's FiatTokenV2_2`);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a chain it does not know unless given a USDC address", async () => {
    const connection = await network.create({ override: { chainId: 999 } });
    const publicClient = (await connection.viem.getPublicClient()) as unknown as PublicClient;
    const [walletClient] = await connection.viem.getWalletClients();
    if (walletClient === undefined) throw new Error("no accounts");
    await expect(deployAgentTab({ publicClient, walletClient })).rejects.toBeInstanceOf(UnknownChainError);

    const usdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
    const { deployment, localUsdc, adminTransferPending } = await deployAgentTab(
      { publicClient, walletClient },
      { usdc, adminTransferDelay: 3600, admin: receiptSigner, settler },
    );
    expect(localUsdc).toBeUndefined();
    expect(adminTransferPending).toBe(true);
    // The receipt signer defaults to the settler.
    expect(deployment).toMatchObject({ chainId: 999, network: "eip155:999", usdc, admin: receiptSigner, settler, receiptSigner: settler });
    const reputation = { address: deployment.reputation, abi: agentTabReputationAbi } as const;
    expect(await publicClient.readContract({ ...reputation, functionName: "isReceiptSigner", args: [settler] })).toBe(true);
    const [newAdmin] = await publicClient.readContract({ ...reputation, functionName: "pendingDefaultAdmin" });
    expect(newAdmin).toBe(receiptSigner);
    const [escrowNewAdmin] = await publicClient.readContract({ address: deployment.escrow, abi: agentTabEscrowAbi, functionName: "pendingDefaultAdmin" });
    expect(escrowNewAdmin).toBe(receiptSigner);
  });

  it("reads flags over the environment and rejects malformed values", () => {
    const config = parseDeployConfig({
      argv: ["--fee-bps", "25"],
      env: {
        FEE_BPS: "75",
        MAX_FEE_BPS: "300",
        RPC_URL: "http://127.0.0.1:9999",
        SETTLER_ADDRESS: settler.toLowerCase(),
        RECEIPT_SIGNER_ADDRESS: receiptSigner.toLowerCase(),
      },
    });
    expect(config).toMatchObject({ rpcUrl: "http://127.0.0.1:9999", outDir: "deployments", privateKey: undefined });
    expect(config.options).toMatchObject({ feeBps: 25, maxFeeBps: 300, settler, receiptSigner });
    expect(parseDeployConfig({ argv: [], env: {} }).options.receiptSigner).toBeUndefined();
    expect(() => parseDeployConfig({ argv: ["--receipt-signer", "proxy"], env: {} })).toThrow(/--receipt-signer/);
    expect(() => parseDeployConfig({ argv: ["--fee-bps", "1.5"], env: {} })).toThrow(/--fee-bps/);
    expect(() => parseDeployConfig({ argv: ["--settler", "0x12"], env: {} })).toThrow(/--settler/);
    expect(() => parseDeployConfig({ argv: ["--nope"], env: {} })).toThrow();
    expect(() => parseDeployConfig({ argv: [], env: { DEPLOYER_PRIVATE_KEY: "0x12" } })).toThrow(/DEPLOYER_PRIVATE_KEY/);
  });
});
