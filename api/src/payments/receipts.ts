import secp256k1 from "secp256k1";
import { domainSeparator, padHex } from "viem";
import type { Address, Hex } from "viem";
import { privateKeyToAddress } from "viem/accounts";

import { receiptDomain, receiptTypes } from "@agenttab/sdk";
import type { Receipt } from "@agenttab/sdk";

import { addressWord, hexBytes, keccak256Buffer, uintWord } from "./keccak.ts";
import { typeHashOf } from "./typeHash.ts";

const RECEIPT_TYPEHASH = hexBytes(typeHashOf(receiptTypes.Receipt, "Receipt"));
const PREFIX = Buffer.from([0x19, 0x01]);

/**
 * Builds the proxy's receipt signer for one reputation contract: the domain separator is computed
 * once and signing uses native libsecp256k1, because a receipt is signed inside every paid call's
 * charge transaction. Produces exactly what the SDK's `signReceipt` (viem) produces; tests check it.
 *
 * @example
 * const signer = receiptSigner({ chainId, reputation, privateKey });
 * const signature = signer.sign(receipt);
 */
export function receiptSigner({ chainId, reputation, privateKey }: { chainId: number; reputation: Address; privateKey: Hex }) {
  const separator = hexBytes(domainSeparator({ domain: receiptDomain({ chainId, reputation }) }));
  const key = hexBytes(privateKey);
  return {
    address: privateKeyToAddress(privateKey),
    sign(receipt: Receipt): Hex {
      const structHash = keccak256Buffer(
        RECEIPT_TYPEHASH,
        hexBytes(receipt.requestId),
        hexBytes(receipt.serviceId),
        addressWord(receipt.provider),
        addressWord(receipt.payer),
        uintWord(receipt.amount),
        uintWord(receipt.cumulative),
        uintWord(receipt.issuedAt),
      );
      const digest = keccak256Buffer(PREFIX, separator, structHash);
      // libsecp256k1 produces low-s signatures, which is what the reputation contract accepts.
      const { signature, recid } = secp256k1.ecdsaSign(digest, key);
      return `0x${Buffer.from(signature.buffer, signature.byteOffset, 64).toString("hex")}${(27 + recid).toString(16)}` as Hex;
    },
  };
}

/** A request id (UUID) as the bytes32 that receipts carry. */
export function requestIdToBytes32(requestId: string): Hex {
  return padHex(`0x${requestId.replaceAll("-", "")}`, { size: 32 });
}
