import { domainSeparator } from "viem";
import type { Address, Hex } from "viem";

import { voucherDomain, voucherTypes } from "@agenttab/sdk";

import { addressWord, hexBytes, keccak256Buffer, uintWord } from "./keccak.ts";
import { typeHashOf } from "./typeHash.ts";

const VOUCHER_TYPEHASH = hexBytes(typeHashOf(voucherTypes.Voucher, "Voucher"));
const VOUCHER_FIELDS: readonly { name: string; type: string }[] = voucherTypes.Voucher;
const PREFIX = Buffer.from([0x19, 0x01]);

/** What a voucher says: `signer` lets the platform claim up to `maxCumulative` from `account`'s (signer, provider) track, for `provider`. */
export type VoucherMessage = { account: Address; signer: Address; provider: Address; maxCumulative: bigint };

/**
 * Builds the voucher digest function for one escrow: the domain separator is computed once, so
 * each call costs two native keccaks over a few words instead of a full typed-data hash. The fields
 * are encoded in the order of the SDK's type definition (atomic `address` and `uint256` fields
 * only); tests check the digest against viem's `hashTypedData` with the SDK's types.
 *
 * @example
 * const digest = voucherDigester({ chainId, escrow })({ account, signer, provider, maxCumulative });
 */
export function voucherDigester({ chainId, escrow }: { chainId: number; escrow: Address }) {
  const separator = hexBytes(domainSeparator({ domain: voucherDomain({ chainId, escrow }) }));
  return (voucher: VoucherMessage): Hex => {
    const values = voucher as Record<string, Address | bigint>;
    const words = VOUCHER_FIELDS.map(({ name, type }) => {
      const value = values[name];
      if (type === "address" && typeof value === "string") return addressWord(value);
      if (type === "uint256" && typeof value === "bigint") return uintWord(value);
      throw new Error(`voucher field ${name} (${type}) is missing or of the wrong kind`);
    });
    const structHash = keccak256Buffer(VOUCHER_TYPEHASH, ...words);
    return `0x${keccak256Buffer(PREFIX, separator, structHash).toString("hex")}`;
  };
}
