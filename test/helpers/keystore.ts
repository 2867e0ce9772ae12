import { createCipheriv, randomBytes, scryptSync } from "node:crypto";

import { keccak256 } from "viem";
import type { Hex } from "viem";

/**
 * A V3 keystore written the way geth does (scrypt, aes-128-ctr, keccak256 MAC), independently of
 * the SDK's decoder, for tests of everything that reads keystores.
 *
 * @example
 * await writeFile(file, JSON.stringify(v3Keystore(key, "hunter2")));
 */
export function v3Keystore(privateKey: Hex, password: string) {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const params = { dklen: 32, n: 4096, r: 8, p: 1 };
  const derived = scryptSync(Buffer.from(password), salt, params.dklen, { N: params.n, r: params.r, p: params.p });
  const cipher = createCipheriv("aes-128-ctr", derived.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(privateKey.slice(2), "hex")), cipher.final()]);
  const mac = keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext]));
  return {
    version: 3,
    id: "00000000-0000-4000-8000-000000000000",
    crypto: {
      cipher: "aes-128-ctr",
      cipherparams: { iv: iv.toString("hex") },
      ciphertext: ciphertext.toString("hex"),
      kdf: "scrypt",
      kdfparams: { ...params, salt: salt.toString("hex") },
      mac: mac.slice(2),
    },
  };
}
