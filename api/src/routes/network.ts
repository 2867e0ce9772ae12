import type { FastifyInstance } from "fastify";
import { Type } from "typebox";

const Address = Type.String({ pattern: "^0x[0-9a-fA-F]{40}$" });

const NetworkResponse = Type.Object({
  chainId: Type.Integer(),
  network: Type.String({ description: "CAIP-2, e.g. eip155:8453" }),
  escrow: Address,
  reputation: Address,
  usdc: Address,
  receiptSigner: Address,
  feeBps: Type.Integer(),
  withdrawalDelay: Type.Integer({ description: "seconds an agent withdrawal waits" }),
  relayer: Type.Union([Address, Type.Null()], { description: "the API's transaction sender; null when it relays nothing" }),
});

/**
 * `GET /v1/network`: what a client needs to pay through this API (chain, contracts, receipt
 * signer), so an SDK, CLI or MCP server can be configured with the API's URL alone.
 */
export default async function network(app: FastifyInstance) {
  const { chainId, network, escrow, reputation, usdc, receiptSigner, withdrawalDelay } = app.config.deployment;
  const body = { chainId, network, escrow, reputation, usdc, receiptSigner, withdrawalDelay, relayer: app.relayer?.address ?? null };
  // The fee rate in force, as indexed: an admin may have changed it since the deployment.
  app.get("/v1/network", { schema: { response: { 200: NetworkResponse } } }, async () => ({ ...body, feeBps: app.chain.feeBps() }));
}
