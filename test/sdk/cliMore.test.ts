import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { getAgentAccount, getDelegation } from "../../indexer/read/index.ts";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { listService } from "../api/helpers/payments.ts";
import { depositAs, escrowAs, settleAs, testAccount } from "../indexer/helpers/actions.ts";
import { CLI_PRICE, agenttab, cliAccounts, startCliWorld } from "./helpers/cliWorld.ts";
import type { CliWorld } from "./helpers/cliWorld.ts";

/** The CLI's provider commands, spending limits and delegate payments: a file of its own, so it runs beside cli.test.ts. */
describe("cli: agenttab for providers, spending limits and delegates, against the real API and chain", () => {
  let world: CliWorld;
  let stack: ApiStack;
  let upstream: CliWorld["upstream"];
  let apiUrl: string;
  const PRICE = CLI_PRICE;
  const { agent, poor, provider } = cliAccounts;
  const envFor = (label: string, extra: Record<string, string> = {}) => world.envFor(label, extra);
  const charged = (account: `0x${string}`) => world.charged(account);

  beforeAll(async () => {
    world = await startCliWorld();
    ({ stack, upstream, apiUrl } = world);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
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

    const maxSpendHelp = "--max-spend <usdc> never sign vouchers for more than this in total, in USDC: what this key was charged through AgentTab by each provider it pays, plus the call (default 10; env AGENTTAB_MAX_SPEND)";
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
