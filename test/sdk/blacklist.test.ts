/**
 * USDC's blacklist (Circle's FiatToken on the local chain, as on Base) seen by an agent that
 * deposits: the API's relayed deposit routes, the SDK and the CLI all refuse plainly, before any
 * gas is spent, and nothing reaches the escrow.
 */
import { keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { AccountBlacklistedError, AgentTabClient, agentTabEscrowAbi, fiatTokenAbi, permitTypes, receiveWithAuthorizationTypes, usdcDomain } from "@agenttab/sdk";
import type { ApiStack } from "../api/helpers/apiStack.ts";
import { agenttab, keyOf, startCliWorld } from "./helpers/cliWorld.ts";
import type { CliWorld } from "./helpers/cliWorld.ts";

describe("a blacklisted agent's deposit", () => {
  let world: CliWorld;
  let stack: ApiStack;
  const listed = privateKeyToAccount(keyOf("blacklisted agent"));

  beforeAll(async () => {
    world = await startCliWorld();
    stack = world.stack;
    // Funded first: FiatToken refuses to mint to a blacklisted address too.
    await stack.chain.mint(listed.address, 5_000_000n);
    await stack.chain.usdcIssuer.blacklist(listed.address);
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  const escrowBalance = async () =>
    (await stack.chain.publicClient.readContract({ address: stack.chain.deployment.escrow, abi: agentTabEscrowAbi, functionName: "accountOf", args: [listed.address] })).balance;

  /** A relayed deposit request body, signed by `listed`. */
  const signedBodies = async () => {
    const { chainId, escrow, usdc } = stack.chain.deployment;
    const domain = usdcDomain({ chainId, usdc });
    const validBefore = (await stack.chain.publicClient.getBlock()).timestamp + 3_600n;
    const nonce = keccak256(toHex("blacklisted deposit"));
    const authorization = { from: listed.address, to: escrow, value: 1_000_000n, validAfter: 0n, validBefore, nonce };
    const permitNonce = await stack.chain.publicClient.readContract({ address: usdc, abi: fiatTokenAbi, functionName: "nonces", args: [listed.address] });
    return {
      authorization: {
        from: listed.address,
        value: "1000000",
        validAfter: "0",
        validBefore: validBefore.toString(),
        nonce,
        signature: await listed.signTypedData({ domain, types: receiveWithAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message: authorization }),
      },
      permit: {
        owner: listed.address,
        value: "1000000",
        deadline: validBefore.toString(),
        signature: await listed.signTypedData({
          domain,
          types: permitTypes,
          primaryType: "Permit",
          message: { owner: listed.address, spender: escrow, value: 1_000_000n, nonce: permitNonce, deadline: validBefore },
        }),
      },
    };
  };

  it("is refused by both relayed deposit routes with 403 account_blacklisted, before anything is sent", async () => {
    const bodies = await signedBodies();
    const relayerNonce = await stack.chain.publicClient.getTransactionCount({ address: stack.app.relayer!.address });
    for (const [route, payload] of [["authorization", bodies.authorization], ["permit", bodies.permit]] as const) {
      const response = await stack.app.inject({ method: "POST", url: `/v1/deposits/${route}`, payload });
      expect(response.statusCode, route).toBe(403);
      expect(response.json(), route).toEqual({
        code: "account_blacklisted",
        message: expect.stringContaining(`blacklisted ${listed.address}`),
        details: { account: listed.address },
      });
    }
    expect(await stack.chain.publicClient.getTransactionCount({ address: stack.app.relayer!.address })).toBe(relayerNonce);
    expect(await escrowBalance()).toBe(0n);
  });

  it("throws AccountBlacklistedError from the SDK, gasless or by permit", async () => {
    const client = await AgentTabClient.connect({ apiUrl: world.apiUrl, signer: listed, rpcUrl: stack.chain.rpcUrl });
    for (const method of ["auto", "authorization", "permit"] as const) {
      const error = await client.deposit(1_000_000n, { method }).catch((e: unknown) => e);
      expect(error, method).toBeInstanceOf(AccountBlacklistedError);
      expect(error, method).toMatchObject({ name: "AccountBlacklistedError", code: "account_blacklisted", status: 403, account: listed.address });
    }
    expect(await escrowBalance()).toBe(0n);
  });

  it("makes `agenttab deposit` exit 3 with one line naming the cause", async () => {
    const run = await agenttab(["deposit", "1"], world.envFor("blacklisted agent", { AGENTTAB_RPC_URL: stack.chain.rpcUrl }));
    expect(run.code).toBe(3);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^agenttab: account_blacklisted: USDC's issuer has blacklisted this account/);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    const json = await agenttab(["deposit", "1", "--json"], world.envFor("blacklisted agent"));
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "account_blacklisted" } });
  });

  it("refuses every deposit with 503 escrow_blacklisted while the escrow itself is blacklisted, and deposits once lifted", async () => {
    const agent = privateKeyToAccount(keyOf("agent while the escrow is listed"));
    await stack.chain.mint(agent.address, 2_000_000n);
    const client = await AgentTabClient.connect({ apiUrl: world.apiUrl, signer: agent });
    await stack.chain.usdcIssuer.blacklist(stack.chain.deployment.escrow);
    try {
      const error = await client.deposit(1_000_000n).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "escrow_blacklisted", status: 503 });
    } finally {
      await stack.chain.usdcIssuer.unBlacklist(stack.chain.deployment.escrow);
    }
    expect(await client.deposit(1_000_000n)).toMatchObject({ method: "authorization", relayed: true });
  });
});
