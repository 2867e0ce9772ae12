import { writeFile } from "node:fs/promises";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runCli } from "@agenttab/sdk/cli";

import { getAgentAccount } from "../../indexer/read/index.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { v3Keystore } from "../helpers/keystore.ts";
import { testAccount } from "../indexer/helpers/actions.ts";
import { CLI_PRICE, agenttab, cliAccounts, keyOf, startCliWorld } from "./helpers/cliWorld.ts";
import type { CliWorld, Run } from "./helpers/cliWorld.ts";

describe("cli: agenttab against the real API and chain", () => {
  let world: CliWorld;
  let stack: ApiStack;
  let upstream: CliWorld["upstream"];
  let apiUrl: string;
  let tmp: string;
  const PRICE = CLI_PRICE;
  const agentKey = keyOf("cli agent");
  const { agent, poor, provider } = cliAccounts;
  const depositor = testAccount("cli depositor");
  const envFor = (label: string, extra: Record<string, string> = {}) => world.envFor(label, extra);
  const charged = (account: `0x${string}`) => world.charged(account);

  beforeAll(async () => {
    world = await startCliWorld();
    ({ stack, upstream, apiUrl, tmp } = world);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
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
});
