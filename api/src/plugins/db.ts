import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import postgres from "postgres";
import type { Sql } from "postgres";

import { migrate } from "./migrations.ts";

declare module "fastify" {
  interface FastifyInstance {
    /** postgres.js on the API's own schema (search_path); chain views are read schema-qualified. */
    sql: Sql;
  }
}

/** The ledger's schema in the shared database. */
export const API_SCHEMA = "agenttab_api";

/** Connects to PostgreSQL, applies pending migrations, and closes the pool on shutdown. */
export default fp(
  async function db(app: FastifyInstance, { databaseUrl, maxConnections = 20 }: { databaseUrl: string; maxConnections?: number }) {
    const sql = postgres(databaseUrl, {
      max: maxConnections,
      connection: { search_path: API_SCHEMA, application_name: "agenttab-api" },
      onnotice: () => {},
    });
    const applied = await migrate(sql, { schema: API_SCHEMA });
    if (applied.length > 0) app.log.info({ applied }, "applied database migrations");
    app.decorate("sql", sql);
    app.addHook("onClose", async () => {
      await sql.end({ timeout: 5 });
    });
  },
  { name: "agenttab-db" },
);
