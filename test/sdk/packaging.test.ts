import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startApiStack } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";

const run = promisify(execFile);
// The provider the consumer's voucher pays (Hardhat's account #3), checksummed as the SDK returns it.
const PROVIDER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
// `--no`: never fetch a package named agenttab from the registry; `--`: the rest is the bin's, --help included.
const NPX_AGENTTAB = ["--no", "--", "agenttab"];
const REPO = path.resolve(import.meta.dirname, "../..");
const TSC = path.join(REPO, "node_modules/typescript/bin/tsc");
const rootManifest = JSON.parse(await readFile(path.join(REPO, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
// npm's own variables from a surrounding `npm test` would make the children act on this repository.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_")));

/** Runs a command to completion (bounded), failing with its output. */
async function sh(command: string, args: string[], cwd: string, { timeout = 60_000, env = {} }: { timeout?: number; env?: Record<string, string> } = {}) {
  try {
    return await run(command, args, { cwd, timeout, env: { ...childEnv, ...env }, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} (in ${cwd}) failed: ${(error as Error).message}\n${stdout ?? ""}\n${stderr ?? ""}`);
  }
}

// Plain ESM in a project that knows nothing of this repository: one real call per public subpath.
const consumerScript = `
import { AgentTabClient, decodeClaims, encodeClaims, settlementProviders, signVoucher, voucherPaymentHeader, voucherTypedData, VOUCHER_SCHEME } from "@agenttab/sdk";
import { agentTabEscrowBytecode } from "@agenttab/sdk/bytecode";
import { DEFAULT_MAX_SPEND, buildProgram } from "@agenttab/sdk/cli";
import { createAgentTabMcpServer } from "@agenttab/sdk/mcp";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { recoverTypedDataAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const signer = privateKeyToAccount(process.env.AGENTTAB_PRIVATE_KEY);
const client = await AgentTabClient.connect({ apiUrl: process.env.AGENTTAB_API_URL, signer, maxSpend: DEFAULT_MAX_SPEND });
const provider = process.env.AGENTTAB_PROVIDER;
const voucher = { chainId: client.chainId, escrow: client.escrow, account: signer.address, provider, maxCumulative: 25_000n };
const signature = await signVoucher(signer, voucher);
const header = voucherPaymentHeader({
  requirements: { scheme: VOUCHER_SCHEME, network: "eip155:" + client.chainId, asset: client.usdc, amount: "25000", payTo: provider, maxTimeoutSeconds: 60, extra: { escrow: client.escrow, provider } },
  account: signer.address,
  signer: signer.address,
  provider,
  maxCumulative: voucher.maxCumulative,
  signature,
});
const owed = [{ account: signer.address, provider, maxCumulative: 25_000n, cumulative: 10_000n, signature }];
const providers = settlementProviders(owed);
const claims = decodeClaims(encodeClaims(owed, providers), providers);

const [clientEnd, serverEnd] = InMemoryTransport.createLinkedPair();
const server = createAgentTabMcpServer({ client });
await server.connect(serverEnd);
const mcp = new Client({ name: "consumer", version: "1.0.0" });
await mcp.connect(clientEnd);
const { tools } = await mcp.listTools();
await mcp.close();

const io = { env: {}, stdout: process.stdout, stderr: process.stderr };
console.log(JSON.stringify({
  chainId: client.chainId,
  escrow: client.escrow,
  recovered: await recoverTypedDataAddress({ ...voucherTypedData({ ...voucher, signer: signer.address }), signature }),
  payment: JSON.parse(Buffer.from(header, "base64").toString("utf8")).payload,
  claims: claims.map((claim) => ({ ...claim, maxCumulative: String(claim.maxCumulative), cumulative: String(claim.cumulative) })),
  bytecode: agentTabEscrowBytecode.slice(0, 2) + agentTabEscrowBytecode.length,
  help: buildProgram(io).helpInformation().split("\\n")[0],
  tools: tools.map((tool) => tool.name).sort(),
}));
`;

// Type-checked, never run: wrong uses must fail, so the declarations cannot have decayed to any.
const consumerTypes = `
import { AgentTabClient, encodeClaims, registerAgentTabScheme, signVoucher, type CallResult, type Claim } from "@agenttab/sdk";
import { agentTabEscrowBytecode } from "@agenttab/sdk/bytecode";
import { DEFAULT_MAX_SPEND, runCli } from "@agenttab/sdk/cli";
import { createAgentTabMcpServer } from "@agenttab/sdk/mcp";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

export async function consume(key: Hex, claims: readonly Claim[]) {
  const signer = privateKeyToAccount(key);
  const client = await AgentTabClient.connect({ apiUrl: "http://127.0.0.1:8787", signer, maxSpend: DEFAULT_MAX_SPEND });
  const result: CallResult = await client.call("weather-api", { path: "/forecast", maxAmount: 5_000n });
  const amount: bigint = result.amount;
  const encoded: Hex = encodeClaims(claims, claims.map((claim) => claim.provider));
  // @ts-expect-error the claims' providers are required: a claim's provider is an index into them
  encodeClaims(claims);
  const bytecode: Hex = agentTabEscrowBytecode;
  const exitCode: number = await runCli(["--help"]);
  createAgentTabMcpServer({ client });
  // @ts-expect-error maxCumulative is a bigint of USDC atomic units
  await signVoucher(signer, { chainId: 1, escrow: signer.address, account: signer.address, provider: signer.address, maxCumulative: "1" });
  // @ts-expect-error a voucher names the provider it pays
  await signVoucher(signer, { chainId: 1, escrow: signer.address, account: signer.address, maxCumulative: 1n });
  // @ts-expect-error apiOrigins is required
  registerAgentTabScheme({} as Parameters<typeof registerAgentTabScheme>[0], { signer });
  return { amount, encoded, bytecode, exitCode };
}
`;

describe("sdk packaging: npm pack of @agenttab/sdk installs and runs in a project outside the repository", () => {
  let work: string;
  let project: string;
  let tarball: string;
  let copyRoot: string | undefined;
  let stack: ApiStack | undefined;
  let apiUrl: string;
  const agentKey = generatePrivateKey();

  async function startApi() {
    stack = await startApiStack();
    await stack.app.listen({ host: "127.0.0.1", port: 0 });
    apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
  }

  async function packAndInstall() {
    const packDir = path.join(work, "pack");
    await mkdir(packDir);
    // Packed from a copy: prepack swaps the manifest it packs and builds dist/, and the repository's
    // own sdk/ must never change under the other test files that import it meanwhile. The copy
    // sits inside the repository, so its imports still resolve through the root node_modules.
    const copy = path.join(REPO, `.pack-${path.basename(work)}`);
    copyRoot = copy;
    await mkdir(path.join(copy, "sdk"), { recursive: true });
    await cp(path.join(REPO, "tsconfig.json"), path.join(copy, "tsconfig.json"));
    for (const entry of ["package.json", "tsconfig.build.json", "src", "scripts"]) {
      await cp(path.join(REPO, "sdk", entry), path.join(copy, "sdk", entry), { recursive: true });
    }
    await symlink(path.join(REPO, "sdk", "node_modules"), path.join(copy, "sdk", "node_modules"));
    const { stdout } = await sh("npm", ["pack", "--json", "--pack-destination", packDir], path.join(copy, "sdk"));
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    tarball = path.join(packDir, filename);
    await mkdir(project);
    await writeFile(path.join(project, "package.json"), JSON.stringify({ name: "agenttab-consumer", private: true, type: "module" }));
    const { viem, "@types/node": nodeTypes } = rootManifest.devDependencies;
    await sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, `viem@${viem}`, `@types/node@${nodeTypes}`], project, { timeout: 150_000 });
  }

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "agenttab-packaging-"));
    project = path.join(work, "consumer");
    // Both finish before anything fails, so afterAll never removes a folder npm is still writing.
    const failed = (await Promise.allSettled([startApi(), packAndInstall()])).find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  }, 180_000);

  afterAll(async () => {
    if (project) for (const pid of await processesUnder(project)) process.kill(pid, "SIGKILL");
    await stack?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    if (copyRoot) await rm(copyRoot, { recursive: true, force: true });
  });

  it("ships JavaScript and declarations only: every export and the bin built, no tests, nothing no entry point reaches", async () => {
    const { stdout } = await sh("tar", ["tzf", tarball], work);
    const files = stdout.trim().split("\n").map((file) => file.replace(/^package\//, ""));
    expect(files.filter((file) => /\.test\.|(^|\/)src\//.test(file))).toEqual([]);
    expect(files.filter((file) => file !== "package.json" && !/^dist\/.+\.(js|d\.ts)$/.test(file))).toEqual([]);

    const installed = path.join(project, "node_modules/@agenttab/sdk");
    const manifest = JSON.parse(await readFile(path.join(installed, "package.json"), "utf8")) as {
      exports: Record<string, { types: string; default: string }>;
      bin: Record<string, string>;
      scripts?: unknown;
    };
    expect(Object.keys(manifest.exports).sort()).toEqual([".", "./bytecode", "./cli", "./mcp"]);
    expect(manifest.scripts).toBeUndefined();
    const entries = [...Object.values(manifest.exports).flatMap(({ types, default: js }) => [types, js]), ...Object.values(manifest.bin)].map((file) => path.normalize(file));
    for (const entry of entries) expect(files).toContain(entry);

    // Follow relative imports (static and dynamic) from the entry points, JavaScript and declarations.
    const reached = new Set<string>();
    const queue = [...entries];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (reached.has(file)) continue;
      reached.add(file);
      const text = await readFile(path.join(installed, file), "utf8");
      for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
        expect(specifier, `${file} imports ${specifier}`).toMatch(/\.js$/);
        const target = path.join(path.dirname(file), specifier as string);
        queue.push(file.endsWith(".d.ts") ? target.replace(/\.js$/, ".d.ts") : target);
      }
    }
    const moduleOf = (file: string) => file.replace(/\.(d\.ts|js)$/, "");
    const reachedModules = new Set([...reached].map(moduleOf));
    expect(files.filter((file) => file !== "package.json" && !reachedModules.has(moduleOf(file)))).toEqual([]);
    for (const file of reached) expect(files).toContain(file);
  });

  it("(a) plain ESM imports every public subpath and uses it: a signed voucher, its payment header, claims, bytecode, the CLI program, the MCP server", async () => {
    await writeFile(path.join(project, "consumer.mjs"), consumerScript);
    const { stdout } = await sh(process.execPath, ["consumer.mjs"], project, { env: { AGENTTAB_API_URL: apiUrl, AGENTTAB_PRIVATE_KEY: agentKey, AGENTTAB_PROVIDER: PROVIDER } });
    const agent = privateKeyToAccount(agentKey).address;
    const { deployment } = (stack as ApiStack).chain;
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      chainId: 31337,
      escrow: deployment.escrow,
      recovered: agent,
      payment: { account: agent, signer: agent, provider: PROVIDER, maxCumulative: "25000" },
      claims: [{ account: agent, signer: agent, provider: PROVIDER, maxCumulative: "25000", cumulative: "10000" }],
      help: "Usage: agenttab [options] [command]",
      tools: ["call_service", "discover_services", "get_balance", "get_spending_report"],
    });
    expect(out.bytecode).toMatch(/^0x\d{4,}$/);
  });

  it("(b) a TypeScript consumer type-checks against the declarations under moduleResolution node16 and bundler", async () => {
    await writeFile(path.join(project, "consumer.ts"), consumerTypes);
    const common = { strict: true, noEmit: true, target: "es2022", types: ["node"] };
    // Under node16 every declaration file is checked too (ours included; ~10 s); under bundler only
    // the resolution of the exports and the consumer, whose @ts-expect-error lines catch any decay to any.
    const node16 = { ...common, module: "node16", moduleResolution: "node16", skipLibCheck: false };
    const bundler = { ...common, module: "esnext", moduleResolution: "bundler", skipLibCheck: true };
    await writeFile(path.join(project, "tsconfig.node16.json"), JSON.stringify({ compilerOptions: node16, files: ["consumer.ts"] }));
    await writeFile(path.join(project, "tsconfig.bundler.json"), JSON.stringify({ compilerOptions: bundler, files: ["consumer.ts"] }));
    for (const config of ["tsconfig.node16.json", "tsconfig.bundler.json"]) await sh(process.execPath, [TSC, "-p", config], project);
  });

  it("(c) npx agenttab runs from node_modules: --help, and network against a real API", async () => {
    const help = await sh("npx", [...NPX_AGENTTAB, "--help"], project);
    expect(help.stdout).toMatch(/^Usage: agenttab \[options\] \[command\]/);
    expect(help.stdout).toContain("network");
    const network = await sh("npx", [...NPX_AGENTTAB, "network", "--api", apiUrl, "--json"], project);
    const { deployment } = (stack as ApiStack).chain;
    expect(JSON.parse(network.stdout)).toMatchObject({ chainId: 31337, network: "eip155:31337", escrow: deployment.escrow, usdc: deployment.usdc });
  });

  it("(d) npx agenttab mcp serves its tools over stdio to the official MCP client", async () => {
    const transport = new StdioClientTransport({
      command: "npx",
      args: [...NPX_AGENTTAB, "mcp"],
      cwd: project,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? os.homedir(), AGENTTAB_API_URL: apiUrl, AGENTTAB_PRIVATE_KEY: agentKey },
      stderr: "pipe",
    });
    const client = new Client({ name: "agenttab-packaging-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      expect(client.getServerVersion()).toMatchObject({ name: "agenttab" });
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(["call_service", "discover_services", "get_balance", "get_spending_report"]);
    } finally {
      await client.close();
    }
    // npx runs the bin as its child: both must be gone once the client has closed stdin.
    for (let waited = 0; (await processesUnder(project)).length > 0 && waited < 5_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await processesUnder(project)).toEqual([]);
  });
});

/** Pids of the processes whose command line names `folder` (what npx started from the temp project). */
async function processesUnder(folder: string): Promise<number[]> {
  const { stdout } = await run("ps", ["-eo", "pid=,args="]);
  return stdout
    .split("\n")
    .filter((line) => line.includes(folder) && !line.includes("ps -eo"))
    .map((line) => Number.parseInt(line.trim(), 10));
}
