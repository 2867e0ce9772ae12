// The SDK is published as JavaScript with declarations, while this repository imports its `.ts`
// sources through the workspace symlink with no build step. So the committed package.json points
// at `src/`, and `npm pack` (prepack) builds `dist/` and swaps in the manifest it publishes, which
// postpack puts back. Usage: `node scripts/pack.ts build | prepack | postpack` (from sdk/).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const sdkDir = path.resolve(import.meta.dirname, "..");
const manifestPath = path.join(sdkDir, "package.json");
// The repository's own manifest while the published one is in place; its presence at prepack
// means an earlier pack was interrupted, so it is put back before anything else.
const savedManifestPath = path.join(sdkDir, ".package.repo.json");
const distDir = path.join(sdkDir, "dist");

type RepoManifest = { exports: Record<string, string>; bin: Record<string, string>; scripts?: Record<string, string>; [field: string]: unknown };
type PublishedManifest = Omit<RepoManifest, "exports" | "scripts"> & { exports: Record<string, { types: string; default: string }>; files: string[] };

/** `./src/x/y.ts` → `./dist/x/y` (no extension); anything else is a mistake in the manifest. */
function distStem(sourcePath: string): string {
  const match = /^\.\/src\/(.+)\.ts$/.exec(sourcePath);
  if (!match) throw new Error(`sdk/package.json: ${sourcePath} is not a .ts file under ./src/`);
  return `./dist/${match[1]}`;
}

/** The manifest `npm pack` ships: every export and bin on `dist/`, no scripts, only `dist/` as files. */
function publishedManifest(repoManifest: RepoManifest): PublishedManifest {
  const { scripts: _scripts, ...rest } = repoManifest;
  return {
    ...rest,
    exports: Object.fromEntries(
      Object.entries(repoManifest.exports).map(([subpath, source]) => [subpath, { types: `${distStem(source)}.d.ts`, default: `${distStem(source)}.js` }]),
    ),
    bin: Object.fromEntries(Object.entries(repoManifest.bin).map(([name, source]) => [name, `${distStem(source)}.js`])),
    files: ["dist"],
  };
}

function* filesUnder(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else yield full;
  }
}

/** Compiles `src/` (tests excluded) into `dist/` with the repository's TypeScript. */
function build() {
  rmSync(distDir, { recursive: true, force: true });
  const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", path.join(sdkDir, "tsconfig.build.json")], { stdio: "inherit" });
  if (result.status !== 0) throw new Error(`tsc failed (exit ${result.status ?? result.signal})`);
  // tsc rewrites `.ts` specifiers in the JavaScript but keeps them in declarations; consumers on an
  // older TypeScript, or without allowImportingTsExtensions, need the `.js` ones.
  for (const file of filesUnder(distDir)) {
    if (!file.endsWith(".d.ts")) continue;
    const text = readFileSync(file, "utf8");
    const rewritten = text.replace(/((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g, "$1$2.js$3");
    if (rewritten !== text) writeFileSync(file, rewritten);
  }
}

function restoreManifest() {
  if (existsSync(savedManifestPath)) renameSync(savedManifestPath, manifestPath);
}

function prepack() {
  restoreManifest();
  build();
  const repoText = readFileSync(manifestPath, "utf8");
  writeFileSync(savedManifestPath, repoText);
  const next = `${manifestPath}.next`;
  writeFileSync(next, `${JSON.stringify(publishedManifest(JSON.parse(repoText) as RepoManifest), null, 2)}\n`);
  renameSync(next, manifestPath);
}

function postpack() {
  restoreManifest();
  rmSync(distDir, { recursive: true, force: true });
}

const commands: Record<string, () => void> = { build, prepack, postpack };
const run = commands[process.argv[2] ?? ""];
if (!run) throw new Error(`usage: node scripts/pack.ts ${Object.keys(commands).join(" | ")}`);
run();
