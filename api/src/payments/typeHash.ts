import { keccak256, stringToHex } from "viem";
import type { Hex } from "viem";

/**
 * The EIP-712 type hash of a struct with only atomic fields, built from the SDK's own type
 * definition so that the hot path never carries a second copy of a type string.
 *
 * @example
 * typeHashOf(voucherTypes.Voucher, "Voucher"); // keccak256("Voucher(address account,address signer,address provider,uint256 maxCumulative)")
 */
export function typeHashOf(fields: readonly { name: string; type: string }[], primaryType: string): Hex {
  return keccak256(stringToHex(`${primaryType}(${fields.map((f) => `${f.type} ${f.name}`).join(",")})`));
}
