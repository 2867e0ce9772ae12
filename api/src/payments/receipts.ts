import secp256k1 from "secp256k1";
import { bytesToHex, concatHex, domainSeparator, hexToBytes, keccak256, numberToHex, padHex } from "viem";
import type { Address, Hex } from "viem";
import { privateKeyToAddress } from "viem/accounts";

import { receiptDomain, receiptTypes } from "@agenttab/sdk";
import type { Receipt } from "@agenttab/sdk";

import { typeHashOf } from "./typeHash.ts";

const RECEIPT_TYPEHASH = typeHashOf(receiptTypes.Receipt, "Receipt");

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
  const separator = domainSeparator({ domain: receiptDomain({ chainId, reputation }) });
  const key = hexToBytes(privateKey);
  return {
    address: privateKeyToAddress(privateKey),
    sign(receipt: Receipt): Hex {
      const structHash = keccak256(
        concatHex([
          RECEIPT_TYPEHASH,
          receipt.requestId,
          receipt.serviceId,
          padHex(receipt.provider, { size: 32 }),
          padHex(receipt.payer, { size: 32 }),
          numberToHex(receipt.amount, { size: 32 }),
          numberToHex(receipt.cumulative, { size: 32 }),
          numberToHex(receipt.issuedAt, { size: 32 }),
        ]),
      );
      const digest = keccak256(concatHex(["0x1901", separator, structHash]));
      // libsecp256k1 produces low-s signatures, which is what the reputation contract accepts.
      const { signature, recid } = secp256k1.ecdsaSign(hexToBytes(digest), key);
      return `${bytesToHex(signature)}${(27 + recid).toString(16)}` as Hex;
    },
  };
}

/** A request id (UUID) as the bytes32 that receipts carry. */
export function requestIdToBytes32(requestId: string): Hex {
  return padHex(`0x${requestId.replaceAll("-", "")}`, { size: 32 });
}
