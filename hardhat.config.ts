import { createRequire } from "node:module";
import { defineConfig } from "hardhat/config";
import hardhatViem from "@nomicfoundation/hardhat-viem";

// Hardhat cannot download compilers on these machines: use the npm `solc` (wasm) build and take
// its version from the package itself, so the label Hardhat uses for the EVM target can't drift.
const require = createRequire(import.meta.url);
const solcVersion: string = require("solc/package.json").version;
const solcPath: string = require.resolve("solc/soljson.js");

export default defineConfig({
  plugins: [hardhatViem],
  solidity: {
    version: solcVersion,
    path: solcPath,
    settings: {
      optimizer: { enabled: true, runs: 10_000 },
      viaIR: true,
      evmVersion: "cancun",
    },
  },
  paths: {
    sources: "./contracts",
    tests: { solidity: "./test/solidity" },
  },
  test: {
    solidity: {
      fuzz: { runs: 256 },
      invariant: { runs: 64, depth: 64 },
    },
  },
});
