import type { FastifyInstance } from "fastify";
import { Type } from "typebox";

const HealthResponse = Type.Object({
  ok: Type.Boolean(),
  database: Type.Boolean(),
  indexer: Type.Object({
    ready: Type.Boolean(),
    fresh: Type.Boolean(),
    indexedBlock: Type.Union([Type.String(), Type.Null()]),
    chainHead: Type.Union([Type.String(), Type.Null()]),
    lagBlocks: Type.Union([Type.String(), Type.Null()]),
  }),
});

/** `/healthz`: 200 when the database answers and the index is fresh enough to spend on, else 503. */
export default async function health(app: FastifyInstance) {
  app.get("/healthz", { schema: { response: { 200: HealthResponse, 503: HealthResponse } } }, async (_request, reply) => {
    let database = true;
    try {
      await app.sql`SELECT 1`;
    } catch {
      database = false;
    }
    const { ok: fresh, status } = database
      ? await app.chain.fresh()
      : { ok: false, status: { ready: false, indexedBlock: undefined, chainHead: app.chain.head(), lagBlocks: undefined } };
    const str = (v: bigint | undefined) => (v === undefined ? null : v.toString());
    const body = {
      ok: database && fresh,
      database,
      indexer: { ready: status.ready, fresh, indexedBlock: str(status.indexedBlock), chainHead: str(status.chainHead), lagBlocks: str(status.lagBlocks) },
    };
    return reply.status(body.ok ? 200 : 503).send(body);
  });
}
