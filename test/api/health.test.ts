import { readdir } from "node:fs/promises";
import path from "node:path";

import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hardhatRelayerKey } from "../../scripts/lib/deployConfig.ts";

import { startApiStack } from "./helpers/apiStack.ts";
import type { ApiStack } from "./helpers/apiStack.ts";

describe("api: boot, migrations, health", () => {
  let stack: ApiStack;
  beforeAll(async () => {
    stack = await startApiStack();
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("applies its migrations into its own schema", async () => {
    const rows = await stack.app.sql`SELECT version FROM schema_migrations ORDER BY version`;
    const files = (await readdir(path.join(import.meta.dirname, "../../ledger/migrations"))).filter((f) => f.endsWith(".sql")).sort();
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(rows.map((r) => r.version)).toEqual(files.map((f) => Number(f.slice(0, 3))));
  });

  it("tells a client the chain, the contracts and the relayer (GET /v1/network)", async () => {
    const res = await stack.app.inject({ method: "GET", url: "/v1/network" });
    expect(res.statusCode).toBe(200);
    const { deployment } = stack.chain;
    expect(res.json()).toEqual({
      chainId: 31337,
      network: "eip155:31337",
      escrow: deployment.escrow,
      reputation: deployment.reputation,
      usdc: deployment.usdc,
      receiptSigner: deployment.receiptSigner,
      feeBps: deployment.feeBps,
      withdrawalDelay: deployment.withdrawalDelay,
      relayer: privateKeyToAccount(hardhatRelayerKey).address,
    });
  });

  it("reports a healthy database and a fresh index", async () => {
    // The indexer may still be a block or two behind the deployment's last transactions.
    const { value: res } = await stack.chain.waitFor(
      () => stack.app.inject({ method: "GET", url: "/healthz" }),
      (r) => r.json().indexer.lagBlocks === "0",
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, database: true, indexer: { ready: true, fresh: true, lagBlocks: "0" } });
  });

  it("answers unknown routes with a stable code", async () => {
    const res = await stack.app.inject({ method: "GET", url: "/nope" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: "not_found" });
  });
});

describe("api: docs and metrics", () => {
  let stack: ApiStack;
  beforeAll(async () => {
    stack = await startApiStack();
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("serves OpenAPI with the paid route and the health route", async () => {
    const res = await stack.app.inject({ method: "GET", url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    const spec = res.json();
    expect(spec.openapi).toMatch(/^3\./);
    const paths = Object.keys(spec.paths);
    expect(paths).toContain("/healthz");
    expect(paths.some((p) => p.startsWith("/v1/proxy/{serviceId}/"))).toBe(true);
    const ui = await stack.app.inject({ method: "GET", url: "/docs/" });
    expect(ui.statusCode).toBe(200);
  });

  it("exposes Prometheus metrics including responses by route", async () => {
    await stack.app.inject({ method: "GET", url: "/v1/proxy/nothing-here/x" });
    const res = await stack.app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain("agenttab_calls_total");
    expect(res.body).toContain("# TYPE agenttab_call_latency_seconds histogram");
    expect(res.body).toMatch(/agenttab_http_responses_total\{route="\/v1\/proxy\/:serviceId\/\*",status="404"\} 1/);
  });
});
