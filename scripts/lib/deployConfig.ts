import { parseArgs } from "node:util";

import { getAddress, isAddress, isHex } from "viem";
import type { Address, Hex } from "viem";

import type { DeployAgentTabOptions } from "./deployAgentTab.ts";

/**
 * Hardhat's first well-known development key: only ever used on the local chain (31337).
 *
 * @example
 * privateKeyToAccount(hardhatDeployerKey).address; // "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
 */
export const hardhatDeployerKey: Hex = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/**
 * Hardhat's second well-known development key: the API's relayer on the local chain (31337), holder
 * of EXACT_PAYMENT_ROLE so that it can execute x402 `exact` payments. Never used on any other chain.
 *
 * @example
 * privateKeyToAccount(hardhatRelayerKey).address; // "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
 */
export const hardhatRelayerKey: Hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/** The deploy script's configuration, from flags with environment fallbacks. */
export type DeployConfig = {
  rpcUrl: string;
  /** From DEPLOYER_PRIVATE_KEY only (never a flag, so it stays out of shell history). */
  privateKey: Hex | undefined;
  /** Where `<chainId>.json` is written. */
  outDir: string;
  options: DeployAgentTabOptions;
};

/**
 * Usage text of `npm run deploy`.
 *
 * @example
 * if (process.argv.includes("--help")) console.log(deployUsage);
 */
export const deployUsage = `Usage: npm run deploy -- [flags]

  --rpc URL                    JSON-RPC endpoint (RPC_URL; default http://127.0.0.1:8545)
  --usdc ADDRESS               USDC token (USDC_ADDRESS; default: the known network's; on 31337 Circle's
                               FiatToken v2.2 is deployed from Hardhat account #8, its proxy admin #9)
  --admin ADDRESS              admin of the escrow and reputation contracts (ADMIN_ADDRESS; default: the deployer)
  --settler ADDRESS            SETTLER_ROLE holder (SETTLER_ADDRESS; default: the admin)
  --relayer ADDRESS            the API's relayer, EXACT_PAYMENT_ROLE holder for x402 exact payments (RELAYER_ADDRESS;
                               default: Hardhat account #1 on 31337, none elsewhere)
  --pauser ADDRESS             PAUSER_ROLE holder (PAUSER_ADDRESS; default: the admin)
  --receipt-signer ADDRESS     the proxy's receipt-signing key (RECEIPT_SIGNER_ADDRESS; default: the settler)
  --fee-bps N                  starting fee rate (FEE_BPS; default 100 = 1%)
  --max-fee-bps N              immutable fee cap (MAX_FEE_BPS; default 500)
  --withdrawal-delay SECONDS   agent withdrawal delay (WITHDRAWAL_DELAY; default 691200 = 8 days)
  --admin-transfer-delay SECONDS  (ADMIN_TRANSFER_DELAY; default 172800 = 2 days, 0 on 31337)
  --out-dir DIR                where <chainId>.json goes (DEPLOYMENTS_DIR; default deployments)

  DEPLOYER_PRIVATE_KEY         the deployer's key (required except on the local chain 31337); or
  DEPLOYER_KEYSTORE            a V3 keystore file, its password in DEPLOYER_KEYSTORE_PASSWORD`;

const flags = {
  rpc: { type: "string", env: "RPC_URL" },
  usdc: { type: "string", env: "USDC_ADDRESS" },
  admin: { type: "string", env: "ADMIN_ADDRESS" },
  settler: { type: "string", env: "SETTLER_ADDRESS" },
  relayer: { type: "string", env: "RELAYER_ADDRESS" },
  pauser: { type: "string", env: "PAUSER_ADDRESS" },
  "receipt-signer": { type: "string", env: "RECEIPT_SIGNER_ADDRESS" },
  "fee-bps": { type: "string", env: "FEE_BPS" },
  "max-fee-bps": { type: "string", env: "MAX_FEE_BPS" },
  "withdrawal-delay": { type: "string", env: "WITHDRAWAL_DELAY" },
  "admin-transfer-delay": { type: "string", env: "ADMIN_TRANSFER_DELAY" },
  "out-dir": { type: "string", env: "DEPLOYMENTS_DIR" },
} as const;

/**
 * Parses the deploy script's flags and environment. Flags win over the environment.
 *
 * @throws {Error} with the offending flag when a value is malformed.
 * @example
 * parseDeployConfig({ argv: ["--rpc", "http://127.0.0.1:8545", "--fee-bps", "50"], env: process.env });
 */
export function parseDeployConfig({ argv, env }: { argv: readonly string[]; env: Record<string, string | undefined> }): DeployConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(Object.keys(flags).map((name) => [name, { type: "string" }])),
    strict: true,
    allowPositionals: false,
  });
  const get = (name: keyof typeof flags): string | undefined => {
    const value = values[name] ?? env[flags[name].env];
    return value === undefined || value === "" ? undefined : String(value);
  };
  const address = (name: keyof typeof flags): Address | undefined => {
    const value = get(name);
    if (value === undefined) return undefined;
    if (!isAddress(value, { strict: false })) throw new Error(`--${name}: ${value} is not an address`);
    return getAddress(value);
  };
  const integer = (name: keyof typeof flags, max: number): number | undefined => {
    const value = get(name);
    if (value === undefined) return undefined;
    if (!/^[0-9]+$/.test(value) || Number(value) > max) throw new Error(`--${name}: ${value} is not an integer in [0, ${max}]`);
    return Number(value);
  };
  const privateKey = env.DEPLOYER_PRIVATE_KEY || undefined;
  if (privateKey !== undefined && !(isHex(privateKey) && privateKey.length === 66)) {
    throw new Error("DEPLOYER_PRIVATE_KEY is not a 32-byte hex key");
  }
  return {
    rpcUrl: get("rpc") ?? "http://127.0.0.1:8545",
    privateKey: privateKey as Hex | undefined,
    outDir: get("out-dir") ?? "deployments",
    options: {
      usdc: address("usdc"),
      admin: address("admin"),
      settler: address("settler"),
      relayer: address("relayer"),
      pauser: address("pauser"),
      receiptSigner: address("receipt-signer"),
      feeBps: integer("fee-bps", 10_000),
      maxFeeBps: integer("max-fee-bps", 10_000),
      withdrawalDelay: integer("withdrawal-delay", Number.MAX_SAFE_INTEGER),
      adminTransferDelay: integer("admin-transfer-delay", 2 ** 48 - 1),
    },
  };
}
