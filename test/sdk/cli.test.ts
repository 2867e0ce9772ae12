import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { bytesToHex, keccak256 } from "viem";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService } from "../api/helpers/payments.ts";
import { v3Keystore } from "../helpers/keystore.ts";
import { depositAs, escrowAs, settleAs, testAccount } from "../indexer/helpers/actions.ts";
import { runCli } from "../../sdk/src/cli/program.ts";
import { startEchoStack } from "./helpers/echoStack.ts";
import type { EchoStack } from "./helpers/echoStack.ts";

const BIN = path.resolve(import.meta.dirname, "../../sdk/src/cli/main.ts");
const PRICE = 25_000n;
const DEPOSIT = 1_000_000n;

type Run = { code: number; stdout: string; stderr: string };

/** Runs the real `agenttab` bin with node, with only the environment given (plus PATH). */
function agenttab(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("cli: agenttab against the real API and chain", () => {
  let stack: ApiStack;
  let world: EchoStack;
  let upstream: EchoStack["upstream"];
  let apiUrl: string;
  let tmp: string;
  const agentKey = keccak256(bytesToHex(new TextEncoder().encode("cli agent")));
  const agent = testAccount("cli agent");
  const poor = testAccount("cli poor agent");
  const depositor = testAccount("cli depositor");
  const provider = testAccount("cli provider");
  const keyOf = (label: string) => keccak256(bytesToHex(new TextEncoder().encode(label)));
  const envFor = (label: string, extra: Record<string, string> = {}) => ({ AGENTTAB_API_URL: apiUrl, AGENTTAB_PRIVATE_KEY: keyOf(label), ...extra });
  const charged = async (account: `0x${string}`) => (await world.ledger(account)).charged;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "agenttab-cli-"));
    world = await startEchoStack({ price: PRICE, provider: provider.address, funded: [{ account: agent, amount: DEPOSIT }, { account: poor, amount: 100_000n }] });
    ({ stack, upstream, apiUrl } = world);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("has --help on every command, and lists the exit codes", async () => {
    const commands = [
      [],
      ["services"],
      ["network"],
      ["balance"],
      ["transactions"],
      ["spending"],
      ["call"],
      ["deposit"],
      ["withdraw"],
      ["withdraw", "request"],
      ["withdraw", "finalize"],
      ["withdraw", "cancel"],
      ["delegate"],
      ["delegate", "add"],
      ["delegate", "revoke"],
      ["provider"],
      ["provider", "register"],
      ["provider", "update"],
      ["provider", "delist"],
      ["provider", "services"],
      ["provider", "earnings"],
      ["provider", "payout"],
      ["mcp"],
    ];
    // The top level through the real bin; each subcommand's help through the same program in
    // process (23 node start-ups were half a minute of CPU; the bin runs in every other test here).
    const inProcess = async (argv: string[]): Promise<Run> => {
      let stdout = "";
      let stderr = "";
      const sink = (append: (text: string) => void) => ({ write: (chunk: string | Uint8Array) => (append(String(chunk)), true) }) as unknown as NodeJS.WriteStream;
      const code = await runCli(argv, { env: { PATH: process.env.PATH ?? "" }, stdout: sink((t) => (stdout += t)), stderr: sink((t) => (stderr += t)) });
      return { code, stdout, stderr };
    };
    const runs: Run[] = [await agenttab(["--help"])];
    for (const command of commands.slice(1)) runs.push(await inProcess([...command, "--help"]));
    runs.forEach((run, i) => {
      expect(run.code, commands[i]?.join(" ")).toBe(0);
      expect(run.stdout).toContain(`Usage: agenttab${commands[i]?.length ? ` ${commands[i]?.join(" ")}` : ""}`);
    });
    expect(runs[0]?.stdout).toMatch(/Exit codes:\n\s+0\s+ok[\s\S]*2\s+usage[\s\S]*3\s+payment refused[\s\S]*4\s+not found[\s\S]*5\s+unavailable/);
    expect(runs[0]?.stdout).toContain("AGENTTAB_PRIVATE_KEY");
    expect(runs[0]?.stdout).not.toMatch(/--private-key/);
  }, 180_000);

  it("lists services as JSON and as an aligned table, without a key", async () => {
    const json = await agenttab(["services", "--sort", "price", "--json"], { AGENTTAB_API_URL: apiUrl });
    expect(json.code).toBe(0);
    expect(json.stderr).toBe("");
    const page = JSON.parse(json.stdout) as { items: { id: string; price: string; maxPrice: string; pricing: string }[]; nextCursor: string | null };
    expect(page.items.map((s) => [s.id, s.price, s.maxPrice, s.pricing])).toEqual([
      ["echo", "25000", "25000", "fixed"],
      ["pricey", "400000", "400000", "fixed"],
    ]);
    const filtered = JSON.parse((await agenttab(["services", "--max-price", "0.025", "--json"], { AGENTTAB_API_URL: apiUrl })).stdout) as typeof page;
    expect(filtered.items.map((s) => s.id)).toEqual(["echo"]);

    const table = await agenttab(["services", "--sort", "price", "--format", "table"], { AGENTTAB_API_URL: apiUrl });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^id\s{2,}name\s{2,}category\s{2,}pricing\s{2,}price\s{2,}max price\s{2,}reputation\s{2,}calls$/);
    expect(lines[1]).toMatch(/^-+( {2}-+){7}$/);
    expect(lines[2]).toMatch(/^echo\s+echo\s+test\s+fixed\s+0\.025000\s+0\.025000\s+unrated\s+0$/);
    expect(lines[3]).toMatch(/^pricey\s+pricey\s+test\s+fixed\s+0\.400000\s+0\.400000\s+unrated\s+0$/);
    // Columns line up: every row's price ends where the header's "price" ends (right-aligned numbers).
    const priceEnd = (lines[0] ?? "").indexOf("price") + "price".length;
    expect(lines[2]?.slice(0, priceEnd).endsWith("0.025000")).toBe(true);
    expect(lines[3]?.slice(0, priceEnd).endsWith("0.400000")).toBe(true);

    const tsv = await agenttab(["services", "--sort", "price"], { AGENTTAB_API_URL: apiUrl });
    expect(tsv.stdout.split("\n")[1]).toBe("echo\techo\ttest\tfixed\t0.025000\t0.025000\tunrated\t0");
  });

  it("pays for a call and prints the data, the amount and the receipt", async () => {
    const before = await charged(agent.address);
    const run = await agenttab(["call", "echo", "/weather?city=paris", "-X", "POST", "-d", '{"hello":"world"}', "-H", "x-trace: 7", "--max", "0.025", "--json"], envFor("cli agent"));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { status: number; data: unknown; amount: string; requestId: string; receipt: Record<string, string> };
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ path: "/api/weather?city=paris", method: "POST", body: '{"hello":"world"}' });
    expect(result.amount).toBe("25000");
    expect(result.receipt).toMatchObject({ payer: agent.address, provider: provider.address.toLowerCase(), amount: "25000", cumulative: (before + PRICE).toString() });
    expect(result.receipt.signature).toMatch(/^0x[0-9a-f]{130}$/);
    expect(await charged(agent.address)).toBe(before + PRICE);

    const human = await agenttab(["call", "echo", "/again", "--format", "table"], envFor("cli agent"));
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('"path": "/api/again"');
    expect(human.stdout).toMatch(/charged\s+0\.025000 USDC/);
    expect(human.stdout).toMatch(/cumulative\s+0\.050000 USDC/);
    expect(human.stdout).toMatch(/receipt\s+0x[0-9a-f]{130}/);
    expect(await charged(agent.address)).toBe(before + 2n * PRICE);
  });

  it("reads balance, transactions and spending with exact amounts", async () => {
    const total = await charged(agent.address);
    expect(total).toBe(2n * PRICE);
    const balance = JSON.parse((await agenttab(["balance", "--json"], envFor("cli agent"))).stdout) as Record<string, string>;
    expect(balance).toMatchObject({ account: agent.address.toLowerCase(), deposited: "1000000", balance: "1000000", unsettled: "50000", reserved: "0", available: "950000" });
    const table = await agenttab(["balance", "--format", "table"], envFor("cli agent"));
    expect(table.stdout).toMatch(/^available\s+0\.950000 USDC$/m);

    const page = JSON.parse((await agenttab(["transactions", "--limit", "10", "--json"], envFor("cli agent"))).stdout) as { items: { serviceId: string; amount: string; cumulative: string; path: string }[] };
    expect(page.items.map((t) => [t.serviceId, t.amount, t.cumulative, t.path])).toEqual([
      ["echo", "25000", "50000", "/again"],
      ["echo", "25000", "25000", "/weather"], // the ledger keeps the path, not the query
    ]);
    const report = JSON.parse((await agenttab(["spending", "--period", "day", "--json"], envFor("cli agent"))).stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ total: "50000", calls: 2, averagePerCall: "25000", byService: [{ serviceId: "echo", total: "50000", calls: 2 }] });
  });

  it("exits with codes that mean something, one line on stderr", async () => {
    const badKey = await agenttab(["balance"], envFor("cli agent", { AGENTTAB_PRIVATE_KEY: "0x1234" }));
    expect(badKey).toMatchObject({ code: 2, stdout: "" });
    expect(badKey.stderr).toBe("agenttab: invalid_key: AGENTTAB_PRIVATE_KEY is not a 32-byte hex private key.\n");
    const noKey = await agenttab(["balance"], { AGENTTAB_API_URL: apiUrl });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("missing_key");
    expect((await agenttab(["call"], envFor("cli agent"))).code).toBe(2);
    expect((await agenttab(["frobnicate"], envFor("cli agent"))).code).toBe(2);
    const tooPrecise = await agenttab(["call", "echo", "--max", "0.0000001"], envFor("cli agent"));
    expect(tooPrecise.code).toBe(2);
    expect(tooPrecise.stderr).toContain("more than 6 decimals");

    const before = await charged(agent.address);
    const unknown = await agenttab(["call", "no-such-service"], envFor("cli agent"));
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/^agenttab: service_not_found: No such service\./);
    const tooDear = await agenttab(["call", "pricey", "--max", "0.01", "--json"], envFor("cli agent"));
    expect(tooDear.code).toBe(3);
    expect(tooDear.stdout).toBe("");
    expect(JSON.parse(tooDear.stderr)).toMatchObject({ error: { name: "PriceExceedsMaxError", code: "price_exceeds_max", exitCode: 3 } });
    expect(await charged(agent.address)).toBe(before);

    const broke = await agenttab(["call", "pricey"], envFor("cli poor agent"));
    expect(broke.code).toBe(3);
    expect(broke.stderr).toMatch(/^agenttab: insufficient_funds: The escrow balance does not cover this call\. Available balance 100000 is below this call's maximum 400000 \(.*available 100000.*required 400000/);
    expect(broke.stderr.trim().split("\n")).toHaveLength(1);
    expect(await charged(poor.address)).toBe(0n);

    const down = await agenttab(["services", "--api", "http://127.0.0.1:1"]);
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/^agenttab: api_unreachable: /);
    for (const run of [badKey, unknown, broke, down]) expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  it("deposits gaslessly, requests and cancels a withdrawal, and manages a delegate", async () => {
    await stack.chain.mint(depositor.address, 5_000_000n);
    const env = envFor("cli depositor", { AGENTTAB_RPC_URL: stack.chain.rpcUrl });
    const deposit = await agenttab(["deposit", "2.5", "--json"], env);
    expect(deposit.stderr).toBe("");
    expect(deposit.code).toBe(0);
    expect(JSON.parse(deposit.stdout)).toMatchObject({ amount: "2500000", method: "authorization", relayed: true, hash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    // Waited for the indexer: the API already shows it.
    expect(JSON.parse((await agenttab(["balance", "--json"], env)).stdout)).toMatchObject({ deposited: "2500000", available: "2500000" });

    await stack.chain.walletFor(depositor); // ETH for the gas of what the agent sends itself
    const request = await agenttab(["withdraw", "request", "1", "--json"], env);
    expect(request.code).toBe(0);
    const requested = JSON.parse(request.stdout) as { amount: string; unlockAt: string; hash: string };
    expect(requested.amount).toBe("1000000");
    expect(Number(requested.unlockAt)).toBeGreaterThan(Date.now() / 1000);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: depositor.address }), (a) => a?.pendingWithdrawal === 1_000_000n);
    expect(JSON.parse((await agenttab(["balance", "--json"], env)).stdout)).toMatchObject({ withdrawing: "1000000", available: "1500000" });

    const early = await agenttab(["withdraw", "finalize"], env);
    expect(early.code).toBe(6);
    expect(early.stderr).toMatch(/^agenttab: withdrawal_locked/);
    expect((await agenttab(["withdraw", "cancel", "--json"], env)).code).toBe(0);
    const again = await agenttab(["withdraw", "cancel"], env);
    expect(again.code).toBe(4);

    const member = testAccount("cli member");
    const add = await agenttab(["delegate", "add", member.address, "--cap", "0.5", "--expires", "1d", "--json"], env);
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ delegate: member.address, cap: "500000" });
    expect((await agenttab(["delegate", "revoke", member.address, "--json"], env)).code).toBe(0);
    expect((await agenttab(["delegate", "revoke", member.address], env)).code).toBe(4);
    expect((await agenttab(["delegate", "add", "0x1234", "--cap", "1"], env)).code).toBe(2);
  }, 120_000);

  it("signs with a V3 keystore, and refuses a wrong password clearly", async () => {
    const file = path.join(tmp, "agent.json");
    await writeFile(file, JSON.stringify(v3Keystore(agentKey, "correct horse")));
    const ok = await agenttab(["balance", "--keystore", file, "--json"], { AGENTTAB_API_URL: apiUrl, AGENTTAB_KEYSTORE_PASSWORD: "correct horse" });
    expect(ok.stderr).toBe("");
    expect(JSON.parse(ok.stdout)).toMatchObject({ account: agent.address.toLowerCase(), deposited: "1000000" });
    const wrong = await agenttab(["balance", "--keystore", file], { AGENTTAB_API_URL: apiUrl, AGENTTAB_KEYSTORE_PASSWORD: "wrong" });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe("agenttab: keystore_wrong_password: Wrong keystore password (the keystore's MAC does not match).\n");
    const noPassword = await agenttab(["balance"], { AGENTTAB_API_URL: apiUrl, AGENTTAB_KEYSTORE: file });
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toContain("AGENTTAB_KEYSTORE_PASSWORD");
  });

  it("runs a provider: register, update, earnings, payout, delist", async () => {
    const seller = testAccount("cli seller");
    const env = envFor("cli seller", { AGENTTAB_RPC_URL: stack.chain.rpcUrl });
    const service = ["--id", "cli-weather", "--name", "Weather", "--category", "data", "--upstream", `${upstream.url}/api`, "--tag", "weather", "--tag", "eu"];
    const registered = await agenttab(["provider", "register", ...service, "--price", "0.01", "--json"], env);
    expect(registered.stderr).toBe("");
    expect(JSON.parse(registered.stdout)).toMatchObject({ id: "cli-weather", created: true, pricing: "fixed", price: "10000", maxPrice: "10000", tags: ["weather", "eu"] });
    // A refused registration prints the API's explanation with its code (issue 12).
    const refused = await agenttab(["provider", "register", "--id", "cli-refused", "--name", "Refused", "--category", "data", "--upstream", "ftp://files.example/x", "--price", "0.01"], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe("agenttab: invalid_upstream_url: The API answered 400 invalid_upstream_url. Invalid upstream URL: only http and https are supported.\n");
    const listed = JSON.parse((await agenttab(["services", "--category", "data", "--json"], { AGENTTAB_API_URL: apiUrl })).stdout) as { items: { id: string; provider: string }[] };
    expect(listed.items.map((s) => [s.id, s.provider.toLowerCase()])).toEqual([["cli-weather", seller.address.toLowerCase()]]);

    const paid = await agenttab(["call", "cli-weather", "/today", "--json"], envFor("cli agent"));
    expect(JSON.parse(paid.stdout)).toMatchObject({ amount: "10000" });
    // Net of the 1% fee.
    expect(JSON.parse((await agenttab(["provider", "earnings", "--json"], env)).stdout)).toMatchObject({ pending: "9900", pendingCalls: 1, withdrawable: "0" });

    const updated = await agenttab(["provider", "update", ...service, "--price", "0.02", "--json"], env);
    expect(JSON.parse(updated.stdout)).toMatchObject({ id: "cli-weather", created: false, price: "20000" });
    expect(JSON.parse((await agenttab(["provider", "services", "--json"], env)).stdout)).toMatchObject({ items: [{ id: "cli-weather", price: "20000" }] });
    const notMine = await agenttab(["provider", "update", ...service, "--price", "0.03"], envFor("cli agent"));
    expect(notMine.code).toBe(3);
    expect(notMine.stderr).toMatch(/^agenttab: not_service_owner: /);

    await stack.chain.walletFor(seller);
    const nothing = await agenttab(["provider", "payout"], env);
    expect(nothing.code).toBe(3);
    expect(nothing.stderr).toMatch(/^agenttab: nothing_to_withdraw: /);
    // A settlement credits the seller on-chain: 20_000 claimed from the poor agent, less the 1% fee.
    await settleAs(stack.chain, { batchLabel: "cli payout", entries: [{ agent: poor.address, signer: poor, cumulative: 20_000n, debit: 20_000n }], provider: seller.address });
    await stack.chain.waitFor(
      async () => JSON.parse((await agenttab(["provider", "earnings", "--json"], env)).stdout) as { withdrawable: string },
      (e) => e.withdrawable === "19800",
      30_000,
    );
    const payout = await agenttab(["provider", "payout", "--amount", "0.0098", "--json"], env);
    expect(payout.stderr).toBe("");
    expect(JSON.parse(payout.stdout)).toMatchObject({ amount: "9800", to: seller.address, remaining: "10000" });
    const tooMuch = await agenttab(["provider", "payout", "--amount", "1"], env);
    expect(tooMuch.code).toBe(3);

    const delisted = await agenttab(["provider", "delist", "cli-weather", "--json"], env);
    expect(JSON.parse(delisted.stdout)).toMatchObject({ id: "cli-weather", status: "delisted" });
    const gone = await agenttab(["call", "cli-weather"], envFor("cli agent"));
    expect(gone.code).toBe(4);
    expect(gone.stderr).toMatch(/^agenttab: service_delisted: /);
  }, 120_000);

  it("signs no voucher past 10 USDC in total unless --max-spend or AGENTTAB_MAX_SPEND raises it", async () => {
    const spender = testAccount("cli big spender");
    await depositAs(stack.chain, spender, 30_000_000n);
    await stack.chain.waitFor(() => getAgentAccount(stack.chain.reader, { account: spender.address }), (a) => a?.balance === 30_000_000n);
    await listService(stack, { id: "cli-dear", provider: provider.address, upstreamUrl: `${upstream.url}/api`, price: 6_000_000n });
    const env = envFor("cli big spender");

    expect((await agenttab(["call", "cli-dear", "--json"], env)).code).toBe(0);
    // 6 USDC charged, and this call may cost 6 more: above the default 10, refused before signing.
    const capped = await agenttab(["call", "cli-dear", "--json"], env);
    expect(capped.code).toBe(3);
    expect(JSON.parse(capped.stderr)).toMatchObject({ error: { name: "SpendLimitError", code: "spend_limit", exitCode: 3 } });
    expect(JSON.parse(capped.stderr).error.message).toContain("would sign 12000000, limit 10000000");
    expect(await charged(spender.address)).toBe(6_000_000n);

    const byFlag = await agenttab(["call", "cli-dear", "--max-spend", "12", "--json"], env);
    expect(byFlag.stderr).toBe("");
    expect(JSON.parse(byFlag.stdout)).toMatchObject({ amount: "6000000", receipt: { cumulative: "12000000" } });
    expect((await agenttab(["call", "cli-dear", "--json"], { ...env, AGENTTAB_MAX_SPEND: "17.999999" })).code).toBe(3);
    const byEnv = await agenttab(["call", "cli-dear", "--json"], { ...env, AGENTTAB_MAX_SPEND: "18" });
    expect(JSON.parse(byEnv.stdout)).toMatchObject({ receipt: { cumulative: "18000000" } });
    const badEnv = await agenttab(["call", "cli-dear"], { ...env, AGENTTAB_MAX_SPEND: "lots" });
    expect(badEnv).toMatchObject({ code: 2, stdout: "" });
    expect(badEnv.stderr).toContain("AGENTTAB_MAX_SPEND must be a USDC amount");
    expect(await charged(spender.address)).toBe(18_000_000n);

    const maxSpendHelp = "--max-spend <usdc> never sign a voucher above this cumulative total, in USDC: everything this key was charged through AgentTab, plus the call (default 10; env AGENTTAB_MAX_SPEND)";
    for (const command of ["call", "mcp"]) expect((await agenttab([command, "--help"])).stdout.replace(/\s+/g, " "), command).toContain(maxSpendHelp);
  }, 120_000);

  it("pays from the owner's account with a delegate's key: call --account or AGENTTAB_ACCOUNT", async () => {
    const owner = testAccount("cli delegating owner");
    const delegate = testAccount("cli delegate payer");
    await depositAs(stack.chain, owner, 1_000_000n);
    await escrowAs(stack.chain, owner, "authorizeDelegate", [delegate.address, 100_000n, 0]);
    await stack.chain.waitFor(() => getDelegation(stack.chain.reader, { account: owner.address, delegate: delegate.address }), (d) => d?.active === true);
    const track = async () => {
      const [row] = await stack.app.sql`SELECT charged FROM spend_tracks WHERE account = ${owner.address.toLowerCase()} AND signer = ${delegate.address.toLowerCase()}`;
      return BigInt(row?.charged ?? 0);
    };
    const env = envFor("cli delegate payer");

    const byFlag = await agenttab(["call", "echo", "/by-delegate", "--account", owner.address.toLowerCase(), "--json"], env);
    expect(byFlag.stderr).toBe("");
    expect(byFlag.code).toBe(0);
    expect(JSON.parse(byFlag.stdout)).toMatchObject({ amount: "25000", data: { path: "/api/by-delegate" }, receipt: { payer: delegate.address, cumulative: "25000" } });
    const byEnv = await agenttab(["call", "echo", "/again", "--json"], { ...env, AGENTTAB_ACCOUNT: owner.address });
    expect(JSON.parse(byEnv.stdout)).toMatchObject({ amount: "25000", receipt: { payer: delegate.address, cumulative: "50000" } });
    // Charged to the owner's account, on the delegate's own track; the delegate's account is untouched.
    expect(await charged(owner.address)).toBe(2n * PRICE);
    expect(await track()).toBe(2n * PRICE);
    expect(await charged(delegate.address)).toBe(0n);

    const bad = await agenttab(["call", "echo", "--account", "0x1234"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^agenttab: .*--account is not an address/);
    expect(await charged(owner.address)).toBe(2n * PRICE);
    const accountHelp = "--account <address> pay from this escrow account as its delegate (default: the key's own account) (env: AGENTTAB_ACCOUNT)";
    for (const command of ["call", "mcp"]) expect((await agenttab([command, "--help"])).stdout.replace(/\s+/g, " "), command).toContain(accountHelp);
  }, 120_000);
});
