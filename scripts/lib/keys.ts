import { readFile } from "node:fs/promises";

import { isHex } from "viem";
import type { Hex } from "viem";

import { decryptKeystore } from "@agenttab/sdk";


/** Where a role's key may come from: a hex key, or a V3 keystore file and its password. */
export type KeySource = {
  /** e.g. "SETTLER_PRIVATE_KEY": a 0x-prefixed 32-byte hex key. */
  keyVariable: string;
  /** e.g. "SETTLER_KEYSTORE": a V3 JSON keystore file; its password in `<keystoreVariable>_PASSWORD`. */
  keystoreVariable: string;
};

/** A key variable that is malformed, both forms given, or a keystore that cannot be opened. */
export class KeyConfigError extends Error {
  override name = "KeyConfigError";
}

/**
 * Reads a role's key from the environment: the hex key variable, or a keystore file with its
 * password (never a flag, never a file in the repo). Returns undefined when neither is set, for the
 * caller to fall back (to a well-known Hardhat key on the local chain only) or refuse.
 *
 * @example
 * const key = (await keyFromEnv(process.env, { keyVariable: "SETTLER_PRIVATE_KEY", keystoreVariable: "SETTLER_KEYSTORE" })) ?? localDefault;
 */
export async function keyFromEnv(env: Record<string, string | undefined>, { keyVariable, keystoreVariable }: KeySource): Promise<Hex | undefined> {
  const key = env[keyVariable] || undefined;
  const keystore = env[keystoreVariable] || undefined;
  if (key !== undefined && keystore !== undefined) throw new KeyConfigError(`Set ${keyVariable} or ${keystoreVariable}, not both`);
  if (key !== undefined) {
    if (!(isHex(key) && key.length === 66)) throw new KeyConfigError(`${keyVariable} is not a 32-byte hex key`);
    return key;
  }
  if (keystore === undefined) return undefined;
  const password = env[`${keystoreVariable}_PASSWORD`];
  if (password === undefined) throw new KeyConfigError(`${keystoreVariable} needs its password in ${keystoreVariable}_PASSWORD`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(keystore, "utf8"));
  } catch (error) {
    throw new KeyConfigError(`${keystoreVariable}: cannot read ${keystore}: ${(error as Error).message}`);
  }
  try {
    return await decryptKeystore(json, password);
  } catch (error) {
    throw new KeyConfigError(`${keystoreVariable}: ${(error as Error).message}`);
  }
}
