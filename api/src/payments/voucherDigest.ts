import { concatHex, domainSeparator, keccak256, numberToHex, padHex } from "viem";
import type { Address, Hex } from "viem";

import { voucherDomain, voucherTypes } from "@agenttab/sdk";

import { typeHashOf } from "./typeHash.ts";

const VOUCHER_TYPEHASH = typeHashOf(voucherTypes.Voucher, "Voucher");

/**
 * Builds the voucher digest function for one escrow: the domain separator is computed once, so
 * each call costs two keccaks over a few words instead of a full typed-data hash. Tests check it
 * against viem's `hashTypedData` with the SDK's types.
 *
 * @example
 * const digest = voucherDigester({ chainId, escrow })(account, maxCumulative);
 */
export function voucherDigester({ chainId, escrow }: { chainId: number; escrow: Address }) {
  const separator = domainSeparator({ domain: voucherDomain({ chainId, escrow }) });
  return (account: Address, maxCumulative: bigint): Hex => {
    const structHash = keccak256(concatHex([VOUCHER_TYPEHASH, padHex(account, { size: 32 }), numberToHex(maxCumulative, { size: 32 })]));
    return keccak256(concatHex(["0x1901", separator, structHash]));
  };
}
