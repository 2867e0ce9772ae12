import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import { describe, expect, it } from "vitest";

const LEDGER = path.join(import.meta.dirname, "..", "..", "ledger");
const sqlFiles = async (dir: string) => (await readdir(path.join(LEDGER, dir))).filter((f) => f.endsWith(".sql")).sort();
const read = (dir: string, file: string) => readFile(path.join(LEDGER, dir, file), "utf8");
// Comments out, so that a migration may still name a function it drops or a file it moved to.
const statements = (text: string) => text.replace(/--.*$/gm, "");

/**
 * The rule `migrate` relies on: versioned migrations change the schema only, and every function is
 * one file that is replaced on each start. A function defined in a migration would be overwritten
 * by its file at the next start, or, without a file, be read in two places again.
 */
describe("ledger: migrations and functions", () => {
  it("no versioned migration defines a function", async () => {
    for (const file of await sqlFiles("migrations")) {
      expect(statements(await read("migrations", file)), file).not.toMatch(/CREATE\s+(OR\s+REPLACE\s+)?FUNCTION/i);
    }
  });

  it("each function file is one CREATE OR REPLACE FUNCTION of the function it is named after", async () => {
    for (const file of await sqlFiles("functions")) {
      const definitions = [...statements(await read("functions", file)).matchAll(/CREATE\s+(OR\s+REPLACE\s+)?FUNCTION\s+(\w+)/gi)];
      expect(definitions.map((d) => `${d[1] ? "CREATE OR REPLACE" : "CREATE"} ${d[2]}`), file).toEqual([`CREATE OR REPLACE ${file.slice(0, -4)}`]);
    }
  });
});
