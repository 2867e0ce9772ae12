import type { Address, Hex } from "viem";

import { serviceIdToBytes32 } from "@agenttab/sdk";

import { receiptSigner, requestIdToBytes32 } from "../payments/receipts.ts";
import type { Settlement } from "./paymentMethod.ts";

/**
 * The receipts of paid calls, whatever paid for them: the EIP-712 receipt the reputation contract
 * accepts, signed by the proxy's receipt key, in the JSON form PAYMENT-RESPONSE carries
 * (`extensions.agenttab.receipt`; amounts as decimal strings, and the `transaction` when the
 * payment moved money on-chain).
 *
 * @example
 * const receipts = paidCallReceipts({ chainId, reputation, privateKey });
 * const receipt = receipts.issue({ requestId, serviceId, provider, payer, settlement });
 */
export function paidCallReceipts({ chainId, reputation, privateKey }: { chainId: number; reputation: Address; privateKey: Hex }) {
  const signer = receiptSigner({ chainId, reputation, privateKey });
  return {
    issue({ requestId, serviceId, provider, payer, settlement }: { requestId: string; serviceId: string; provider: Address; payer: Address; settlement: Settlement }) {
      const { amount, cumulative, issuedAt, transaction } = settlement;
      const signed = { requestId: requestIdToBytes32(requestId), serviceId: serviceIdToBytes32(serviceId), provider, payer, amount, cumulative, issuedAt };
      const receipt: Record<string, unknown> = {
        requestId: signed.requestId,
        serviceId: signed.serviceId,
        provider,
        payer,
        amount: amount.toString(),
        cumulative: cumulative.toString(),
        issuedAt: issuedAt.toString(),
        // After the payment is durable: the signature is deterministic over what was recorded.
        signature: signer.sign(signed),
        signer: signer.address,
        reputation,
      };
      if (transaction !== undefined) receipt.transaction = transaction;
      return receipt;
    },
  };
}
