import { readFile } from "node:fs/promises";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { readArtifacts, renderGeneratedFiles } from "../../scripts/lib/abiExport.ts";

const root = path.resolve(import.meta.dirname, "../..");

describe("generated ABIs and bytecode", () => {
  it("match the Hardhat artifacts (run `npm run abi` after changing the contracts)", async () => {
    const expected = renderGeneratedFiles(await readArtifacts({ artifactsDir: path.join(root, "artifacts") }));
    for (const [file, contents] of Object.entries(expected)) {
      const committed = await readFile(path.join(root, file), "utf8").catch(() => "");
      expect(committed === contents, `${file} is stale: run \`npm run abi\``).toBe(true);
    }
  });
});
