import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

import { sweepExpired } from "@agenttab/ledger";

/** Runs `sweepExpired` in the background every `intervalMs`. */
export default fp(
  async function sweeper(app: FastifyInstance, { intervalMs = 5_000 }: { intervalMs?: number }) {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      sweepExpired(app.sql)
        .then((released) => {
          if (released > 0) app.log.warn({ released }, "released expired reservations");
        })
        .catch((error: unknown) => app.log.error({ err: error }, "reservation sweep failed"))
        .finally(() => {
          running = false;
        });
    }, intervalMs);
    timer.unref();
    app.addHook("onClose", async () => clearInterval(timer));
  },
  { name: "agenttab-sweeper", dependencies: ["agenttab-db"] },
);
