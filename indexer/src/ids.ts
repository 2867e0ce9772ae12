import type { Address, Hex } from "viem";

/** Addresses are stored lowercase so that readers can match them without checksumming. */
export function lower(address: Address): Hex {
  return address.toLowerCase() as Hex;
}
