import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { keccak256, toHex } from "viem";
import type { Address, LocalAccount } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getProviderAccount } from "../../indexer/read/index.ts";
import { NothingToWithdrawError, PayoutError, runPayout } from "../../scripts/payout/run.ts";
import type { SettleChain } from "../../scripts/settle/chain.ts";
import { settle } from "../../scripts/settle/run.ts";
import { agentTabEscrowAbi, authorizationHeader, fiatTokenAbi, serializeDeployment, signIn } from "@agenttab/sdk";
import { startApiStack, startUpstream } from "../api/helpers/apiStack.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService, voucherHeader } from "../api/helpers/payments.ts";
import { depositAs, testAccount } from "../indexer/helpers/actions.ts";

const DEPOSIT = 2_000_000n;
/** testAccount's key, for the script's PROVIDER_PRIVATE_KEY. */
const keyOf = (label: string) => keccak256(toHex(label));
const agents = [testAccount("payout agent 1"), testAccount("payout agent 2")];
const providerLabels = ["payout provider 1", "payout provider 2"];
const providers = providerLabels.map(testAccount);
const services = [
  { id: "translate", provider: providers[0]!, price: 30_007n }, // a fee with a fraction: rounded down once, on the sum
  { id: "summarize", provider: providers[1]!, price: 20_000n },
];
const coldWallet = testAccount("payout provider 1's cold wallet").address;
const CALLS_EACH = 3;
const FEE_BPS = 100n;

describe("payout: providers withdraw what the weekly settlement credited", () => {
  let stack: ApiStack;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let dir: string;
  /** What each agent was charged on each provider's track. */
  const spent = new Map<string, bigint>();

  const earningsOf = (provider: Address) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "earningsOf", args: [provider] });
  const usdcOf = (holder: Address) =>
    stack.chain.publicClient.readContract({ address: stack.chain.deployment.usdc, abi: fiatTokenAbi, functionName: "balanceOf", args: [holder] });

  /** One paid call through the proxy. */
  const pay = async (agent: LocalAccount, service: (typeof services)[number]) => {
    const key = `${agent.address}:${service.provider.address}`;
    const next = (spent.get(key) ?? 0n) + service.price;
    const payment = await voucherHeader(stack.chain.deployment, { signer: agent, provider: service.provider.address, maxCumulative: next });
    const res = await stack.app.inject({ method: "GET", url: `/v1/proxy/${service.id}/q`, headers: { "payment-signature": payment } });
    expect(res.statusCode, res.body).toBe(200);
    spent.set(key, next);
  };

  /** The provider's earnings as the API shows them, signed in as the provider. */
  const apiEarnings = async (provider: LocalAccount) => {
    const token = await signIn(provider, { chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow, ttlSeconds: 600 });
    const res = await stack.app.inject({ method: "GET", url: `/v1/providers/${provider.address}/earnings`, headers: { authorization: authorizationHeader(token) } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { pending: string; settled: string; withdrawable: string; withdrawn: string };
  };

  /** Waits for the indexer to see the provider's withdrawals. */
  const indexed = (provider: Address, withdrawn: bigint) =>
    stack.chain.waitFor(() => getProviderAccount(stack.chain.reader, { provider }), (p) => p?.withdrawn === withdrawn);

  const cli = (label: string, ...args: string[]) =>
    promisify(execFile)(process.execPath, [path.join(import.meta.dirname, "..", "..", "scripts", "payout.ts"), "--rpc", stack.chain.rpcUrl, ...args], {
      env: { ...process.env, PROVIDER_PRIVATE_KEY: keyOf(label), AGENTTAB_DEPLOYMENTS_DIR: dir },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  /** What each provider was credited in the one batch: its calls' prices less the 1% fee on their sum. */
  const credited = (service: (typeof services)[number]) => {
    const gross = service.price * BigInt(CALLS_EACH * agents.length);
    return gross - (gross * FEE_BPS) / 10_000n;
  };

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'));
    stack = await startApiStack();
    dir = await mkdtemp(path.join(tmpdir(), "agenttab-payout-"));
    await writeFile(path.join(dir, "31337.json"), serializeDeployment(stack.chain.deployment));
    for (const s of services) await listService(stack, { id: s.id, provider: s.provider.address, upstreamUrl: upstream.url, price: s.price });
    for (const a of agents) await depositAs(stack.chain, a, DEPOSIT);
    for (const a of agents) await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: a.address }), (x) => x?.balance === DEPOSIT);
    // The providers pay their own gas.
    for (const p of providers) await stack.chain.walletFor(p);

    for (const a of agents) for (let i = 0; i < CALLS_EACH; i++) for (const s of services) await pay(a, s);
    const chain: SettleChain = { publicClient: stack.chain.publicClient, walletClient: stack.chain.deployer, chainId: stack.chain.deployment.chainId, escrow: stack.chain.deployment.escrow };
    const report = await settle({ sql: stack.app.sql, chain });
    expect(report.status).toBe("settled");
    for (const s of services) await stack.chain.waitFor(() => getProviderAccount(stack.chain.reader, { provider: s.provider.address }), (p) => p?.credited === credited(s));
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("pays part of a provider's earnings to the address it names; the API shows settled, withdrawn and the rest", async () => {
    const [provider, service] = [providers[0]!, services[0]!];
    const total = credited(service);
    expect(await earningsOf(provider.address)).toBe(total);
    expect(await apiEarnings(provider)).toMatchObject({ pending: "0", settled: total.toString(), withdrawable: total.toString(), withdrawn: "0" });
    const env = { PROVIDER_PRIVATE_KEY: keyOf(providerLabels[0]!), AGENTTAB_DEPLOYMENTS_DIR: dir };
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);

    // A dry run sends nothing.
    const dry = await runPayout({ argv: ["--rpc", stack.chain.rpcUrl, "--to", coldWallet, "--dry-run"], env, log });
    expect(dry).toMatchObject({ status: "dry-run", to: coldWallet, amount: total, withdrawableAfter: total });
    expect(await earningsOf(provider.address)).toBe(total);
    // More than is withdrawable is refused before anything is sent.
    await expect(runPayout({ argv: ["--rpc", stack.chain.rpcUrl, "--amount", (total + 1n).toString()], env, log })).rejects.toBeInstanceOf(PayoutError);
    await expect(runPayout({ argv: ["--rpc", stack.chain.rpcUrl, "--to", "0x1234"], env, log })).rejects.toThrow(/--to/);

    const part = 100_000n;
    const report = await runPayout({ argv: ["--rpc", stack.chain.rpcUrl, "--to", coldWallet, "--amount", part.toString()], env, log });
    expect(report).toMatchObject({ status: "paid", provider: provider.address, to: coldWallet, amount: part, withdrawableBefore: total, withdrawableAfter: total - part });
    expect(report.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(lines.join("\n")).toContain(report.txHash!);
    expect(await usdcOf(coldWallet)).toBe(part);
    expect(await earningsOf(provider.address)).toBe(total - part);

    await indexed(provider.address, part);
    expect(await apiEarnings(provider)).toMatchObject({ pending: "0", settled: total.toString(), withdrawn: part.toString(), withdrawable: (total - part).toString() });
  });

  it("runs as a CLI: everything to the provider itself by default, then exit code 3 with nothing left", async () => {
    const [provider, service] = [providers[1]!, services[1]!];
    const total = credited(service);
    const before = await usdcOf(provider.address);

    const paid = await cli(providerLabels[1]!);
    expect(paid.code, paid.stderr).toBe(0);
    expect(paid.stdout).toMatch(/tx {12}0x[0-9a-f]{64}/);
    expect(paid.stdout).toContain("0.000000 USDC left");
    expect((await usdcOf(provider.address)) - before).toBe(total);
    expect(await earningsOf(provider.address)).toBe(0n);

    const again = await cli(providerLabels[1]!);
    expect(again.code, again.stderr).toBe(3);
    expect(again.stderr).toContain("nothing to withdraw");
    await expect(runPayout({ argv: ["--rpc", stack.chain.rpcUrl], env: { PROVIDER_PRIVATE_KEY: keyOf(providerLabels[1]!), AGENTTAB_DEPLOYMENTS_DIR: dir }, log: () => {} })).rejects.toBeInstanceOf(
      NothingToWithdrawError,
    );

    const bad = await cli(providerLabels[1]!, "--amount", "1.5");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--amount");

    await indexed(provider.address, total);
    expect(await apiEarnings(provider)).toMatchObject({ pending: "0", settled: total.toString(), withdrawn: total.toString(), withdrawable: "0" });
  });
});
