/**
 * Writes the SDK's generated ABIs and bytecode from the Hardhat artifacts (`npm run abi`).
 * Build first: `node_modules/.bin/hardhat build`.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { readArtifacts, renderGeneratedFiles } from "./lib/abiExport.ts";

const root = path.resolve(import.meta.dirname, "..");
const files = renderGeneratedFiles(await readArtifacts({ artifactsDir: path.join(root, "artifacts") }));
for (const [file, contents] of Object.entries(files)) {
  await mkdir(path.dirname(path.join(root, file)), { recursive: true });
  await writeFile(path.join(root, file), contents);
  console.log(`wrote ${file}`);
}
