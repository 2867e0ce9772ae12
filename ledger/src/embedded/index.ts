export { freePort, openDatabase } from "./embeddedPostgres.ts";
export type { Database } from "./embeddedPostgres.ts";
export { createRootPostgres, stagedBinaries, stagedDataDir, unreachableByOthers } from "./postgresAsRoot.ts";
export type { PostgresServer } from "./postgresAsRoot.ts";
