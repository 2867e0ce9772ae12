import { Hono } from "hono";
import { db } from "ponder:api";
import schema from "ponder:schema";
import { graphql } from "ponder";

// Ponder serves /health, /ready and /status itself; the AgentTab API reads the views schema with
// SQL instead of this server, which stays for operators (GraphQL over the indexed tables).
const app = new Hono();
app.use("/graphql", graphql({ db, schema }));

export default app;
