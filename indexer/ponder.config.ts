import { createConfig } from "ponder";
import { http } from "viem";

import { agentTabEscrowAbi, agentTabReputationAbi } from "@agenttab/sdk";

import { loadIndexerSettings } from "./settings.ts";

// Addresses and the start block come from the deployment record, never from literals.
const settings = loadIndexerSettings(process.env);

export default createConfig({
  database: { kind: "postgres", connectionString: settings.databaseUrl },
  ordering: "multichain",
  chains: {
    agenttab: {
      id: settings.chainId,
      rpc: http(settings.rpcUrl),
      pollingInterval: settings.pollingIntervalMs,
      // A fresh local chain reuses chain id 31337, so its RPC responses must not be cached.
      disableCache: settings.chainId === 31337,
    },
  },
  contracts: {
    AgentTabEscrow: {
      chain: "agenttab",
      abi: agentTabEscrowAbi,
      address: settings.deployment.escrow,
      startBlock: settings.deployment.startBlock,
    },
    AgentTabReputation: {
      chain: "agenttab",
      abi: agentTabReputationAbi,
      address: settings.deployment.reputation,
      startBlock: settings.deployment.startBlock,
    },
  },
  blocks: {
    // One row per chain that records the last block indexed, so readers can tell how fresh the
    // index is without decoding Ponder's internal checkpoints.
    IndexedHead: {
      chain: "agenttab",
      startBlock: settings.deployment.startBlock,
      interval: 1,
    },
  },
});
