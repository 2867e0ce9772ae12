import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { keccak256, toHex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { KeyConfigError, keyFromEnv } from "../../scripts/lib/keys.ts";
import { v3Keystore } from "../helpers/keystore.ts";

const source = { keyVariable: "SETTLER_PRIVATE_KEY", keystoreVariable: "SETTLER_KEYSTORE" };
const key = keccak256(toHex("keys test settler"));

describe("scripts: a role's key from the environment or a keystore", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "agenttab-keys-"));
    file = path.join(dir, "settler.json");
    await writeFile(file, JSON.stringify(v3Keystore(key, "correct horse")));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("takes the hex key, and nothing when neither is set", async () => {
    expect(await keyFromEnv({ SETTLER_PRIVATE_KEY: key }, source)).toBe(key);
    expect(await keyFromEnv({}, source)).toBeUndefined();
  });

  it("decrypts the keystore with its password", async () => {
    expect(await keyFromEnv({ SETTLER_KEYSTORE: file, SETTLER_KEYSTORE_PASSWORD: "correct horse" }, source)).toBe(key);
  });

  it.each([
    ["a malformed key", { SETTLER_PRIVATE_KEY: "0x1234" }, /not a 32-byte hex key/],
    ["both forms", { SETTLER_PRIVATE_KEY: key, SETTLER_KEYSTORE: "x.json" }, /not both/],
    ["no password", { SETTLER_KEYSTORE: "x.json" }, /SETTLER_KEYSTORE_PASSWORD/],
    ["a missing file", { SETTLER_KEYSTORE: "/nonexistent/settler.json", SETTLER_KEYSTORE_PASSWORD: "x" }, /cannot read/],
  ])("refuses %s with a clear message", async (_label, env, message) => {
    const error = await keyFromEnv(env, source).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyConfigError);
    expect(String((error as Error).message)).toMatch(message);
  });

  it("refuses a wrong password (the MAC check), never returning a wrong key", async () => {
    const error = await keyFromEnv({ SETTLER_KEYSTORE: file, SETTLER_KEYSTORE_PASSWORD: "wrong" }, source).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyConfigError);
  });
});
