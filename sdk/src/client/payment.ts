import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import type { Address, Hex } from "viem";

import type { Receipt } from "../typedData.ts";

/**
 * The x402 scheme name of AgentTab's cumulative escrow vouchers (the proxy's `accepts[]` entry).
 *
 * @example
 * const requirements = paymentRequired.accepts.find((entry) => entry.scheme === VOUCHER_SCHEME);
 */
export const VOUCHER_SCHEME = "agenttab-voucher";

/** A receipt as the proxy returns it in PAYMENT-RESPONSE: the EIP-712 message and its signature. */
export type SignedReceipt = Receipt & { signature: Hex };

/**
 * The `agenttab-voucher` requirement of a PAYMENT-REQUIRED header, with the `error` it carries and
 * its `extra.charged` (on a corrective 402), or undefined when the header offers no such scheme.
 *
 * @example
 * const required = voucherRequirement(res.headers.get("payment-required"));
 * if (required) console.log(BigInt(required.requirements.amount), required.charged);
 */
export function voucherRequirement(header: string | null): { requirements: PaymentRequirements; error: string | undefined; charged: bigint | undefined } | undefined {
  if (!header) return undefined;
  let decoded;
  try {
    decoded = decodePaymentRequiredHeader(header);
  } catch {
    return undefined;
  }
  const requirements = decoded.accepts?.find((entry) => entry.scheme === VOUCHER_SCHEME);
  if (!requirements || !/^[0-9]+$/.test(String(requirements.amount))) return undefined;
  const charged = requirements.extra?.charged;
  return {
    requirements,
    error: decoded.error,
    charged: typeof charged === "string" && /^[0-9]+$/.test(charged) ? BigInt(charged) : undefined,
  };
}

/**
 * The PAYMENT-SIGNATURE header of a voucher payment (x402 v2, @x402/core's codec).
 *
 * @example
 * headers["payment-signature"] = voucherPaymentHeader({ requirements, account, signer: agent.address, maxCumulative, signature });
 */
export function voucherPaymentHeader({
  requirements,
  account,
  signer,
  maxCumulative,
  signature,
}: {
  requirements: PaymentRequirements;
  account: Address;
  signer: Address;
  maxCumulative: bigint;
  signature: Hex;
}): string {
  return encodePaymentSignatureHeader({
    x402Version: 2,
    accepted: requirements,
    payload: { account, signer, maxCumulative: maxCumulative.toString(), signature },
  });
}

/**
 * The receipt in a PAYMENT-RESPONSE header (`extensions.agenttab.receipt`), or undefined when the
 * header is missing or carries none.
 *
 * @example
 * const receipt = receiptFromPaymentResponse(res.headers.get("payment-response"));
 * if (receipt) await verifyReceipt({ chainId, reputation, receipt, signature: receipt.signature, signer: receiptSigner });
 */
export function receiptFromPaymentResponse(header: string | null): SignedReceipt | undefined {
  if (!header) return undefined;
  try {
    const settle = decodePaymentResponseHeader(header);
    const raw = (settle.extensions as { agenttab?: { receipt?: Record<string, unknown> } } | undefined)?.agenttab?.receipt;
    if (!raw) return undefined;
    const text = (key: string) => {
      const value = raw[key];
      if (typeof value !== "string") throw new Error(`receipt.${key} is missing`);
      return value;
    };
    return {
      requestId: text("requestId") as Hex,
      serviceId: text("serviceId") as Hex,
      provider: text("provider") as Address,
      payer: text("payer") as Address,
      amount: BigInt(text("amount")),
      cumulative: BigInt(text("cumulative")),
      issuedAt: BigInt(text("issuedAt")),
      signature: text("signature") as Hex,
    };
  } catch {
    return undefined;
  }
}
