import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "sdk/**/*.test.ts", "indexer/read/**/*.test.ts", "api/src/**/*.test.ts", "ledger/src/**/*.test.ts"],
    // Most files spend their time waiting on a real stack (a chain, PostgreSQL, Ponder), not on
    // the CPU: three at a time on two cores roughly halves the run (vitest's default is cores − 1).
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
