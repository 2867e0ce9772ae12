import { keccak256, stringToHex } from "viem";
import type { Hex } from "viem";

/**
 * The bytes32 form of a service id, as receipts, feedback and the indexer carry it:
 * keccak256 of the id's UTF-8 bytes.
 *
 * @example
 * serviceIdToBytes32("weather-api"); // "0x97f78858…"
 */
export function serviceIdToBytes32(serviceId: string): Hex {
  return keccak256(stringToHex(serviceId));
}
