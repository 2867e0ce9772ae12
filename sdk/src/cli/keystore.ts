import { createDecipheriv, pbkdf2, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

import { bytesToHex, hexToBytes, keccak256 } from "viem";
import type { Hex } from "viem";

import { CliUsageError } from "./exitCodes.ts";

const scryptAsync = promisify(scrypt) as (password: Buffer, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const pbkdf2Async = promisify(pbkdf2);

/**
 * An Ethereum V3 keystore (Web3 Secret Storage) as geth, Foundry's `cast wallet` and ethers write it.
 * Only aes-128-ctr with scrypt or pbkdf2 (hmac-sha256) exists in practice.
 */
export type KeystoreV3 = {
  version: 3;
  address?: string;
  crypto: {
    cipher: string;
    ciphertext: string;
    cipherparams: { iv: string };
    kdf: string;
    kdfparams: Record<string, unknown>;
    mac: string;
  };
};

/**
 * Decrypts a V3 keystore into its private key: derives the key (scrypt or pbkdf2), checks the MAC
 * (keccak256 of the derived key's second half and the ciphertext) before decrypting with
 * aes-128-ctr. A wrong password fails the MAC check: a usage error (exit 2), never a wrong key.
 *
 * @example
 * const key = await decryptKeystore(JSON.parse(await readFile("agent.json", "utf8")), process.env.AGENTTAB_KEYSTORE_PASSWORD!);
 * const account = privateKeyToAccount(key);
 */
export async function decryptKeystore(keystore: unknown, password: string): Promise<Hex> {
  const { crypto } = asKeystore(keystore);
  if (crypto.cipher !== "aes-128-ctr") throw invalid(`unsupported cipher ${crypto.cipher}`);
  const params = crypto.kdfparams;
  const salt = Buffer.from(hexToBytes(hex(params.salt, "kdfparams.salt")));
  const dklen = int(params.dklen, "kdfparams.dklen");
  if (dklen < 32) throw invalid("kdfparams.dklen is below 32");
  const secret = Buffer.from(password.normalize("NFKC"), "utf8");
  let derived: Buffer;
  if (crypto.kdf === "scrypt") {
    const N = int(params.n, "kdfparams.n");
    const r = int(params.r, "kdfparams.r");
    const p = int(params.p, "kdfparams.p");
    derived = await scryptAsync(secret, salt, dklen, { N, r, p, maxmem: 128 * N * r * p + 16 * 1024 * 1024 });
  } else if (crypto.kdf === "pbkdf2") {
    if (params.prf !== "hmac-sha256") throw invalid(`unsupported pbkdf2 prf ${String(params.prf)}`);
    derived = await pbkdf2Async(secret, salt, int(params.c, "kdfparams.c"), dklen, "sha256");
  } else {
    throw invalid(`unsupported kdf ${crypto.kdf}`);
  }
  const ciphertext = Buffer.from(hexToBytes(hex(crypto.ciphertext, "crypto.ciphertext")));
  const mac = Buffer.from(hexToBytes(keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext]))));
  const expected = Buffer.from(hexToBytes(hex(crypto.mac, "crypto.mac")));
  if (expected.length !== mac.length || !timingSafeEqual(expected, mac)) {
    throw new CliUsageError("Wrong keystore password (the keystore's MAC does not match).", { code: "keystore_wrong_password" });
  }
  const decipher = createDecipheriv("aes-128-ctr", derived.subarray(0, 16), Buffer.from(hexToBytes(hex(crypto.cipherparams.iv, "cipherparams.iv"))));
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32) throw invalid("the decrypted key is not 32 bytes");
  return bytesToHex(key);
}

function asKeystore(value: unknown): KeystoreV3 {
  const candidate = value as Partial<KeystoreV3> & { Crypto?: KeystoreV3["crypto"] };
  if (typeof value !== "object" || value === null || candidate.version !== 3) throw invalid("not a version 3 keystore");
  const crypto = candidate.crypto ?? candidate.Crypto;
  if (typeof crypto !== "object" || crypto === null || typeof crypto.kdfparams !== "object" || typeof crypto.cipherparams !== "object") throw invalid("crypto section missing");
  return { ...candidate, crypto } as KeystoreV3;
}

function hex(value: unknown, field: string): Hex {
  if (typeof value !== "string" || !/^(0x)?([0-9a-fA-F]{2})+$/.test(value)) throw invalid(`${field} is not hex`);
  return (value.startsWith("0x") ? value : `0x${value}`) as Hex;
}

function int(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) throw invalid(`${field} is not a positive integer`);
  return value;
}

function invalid(reason: string): CliUsageError {
  return new CliUsageError(`Invalid keystore: ${reason}.`, { code: "keystore_invalid" });
}
