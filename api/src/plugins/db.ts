import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Sql } from "postgres";

import { ledgerPool, migrate } from "@agenttab/ledger";

declare module "fastify" {
  interface FastifyInstance {
    /** The ledger's pool (search_path on its schema); chain views are read schema-qualified. */
    sql: Sql;
  }
}

/** Opens the ledger's pool, brings its schema up to date, and closes the pool on shutdown. */
export default fp(
  async function db(app: FastifyInstance, { databaseUrl, maxConnections = 20 }: { databaseUrl: string; maxConnections?: number }) {
    const sql = ledgerPool(databaseUrl, { max: maxConnections, applicationName: "agenttab-api" });
    const applied = await migrate(sql);
    if (applied.length > 0) app.log.info({ applied }, "applied database migrations");
    app.decorate("sql", sql);
    app.addHook("onClose", async () => {
      await sql.end({ timeout: 5 });
    });
  },
  { name: "agenttab-db" },
);
