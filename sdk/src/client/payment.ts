import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { getAddress, isAddress } from "viem";
import type { Address, Hex } from "viem";

import { caip2ToChainId } from "../networks.ts";
import type { Receipt } from "../typedData.ts";
import { VoucherRequirementError } from "./errors.ts";

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

/** What an `agenttab-voucher` requirement asks for, checked: the track it pays on and the price. */
export type VoucherOffer = {
  chainId: number;
  /** The escrow the voucher draws on (`extra.escrow`). */
  escrow: Address;
  /** The provider the voucher must name (`payTo`, which `extra.provider` repeats). */
  provider: Address;
  /** The most the call can cost. */
  amount: bigint;
  /** The proxy's charged-and-in-flight total on the signer's track for `provider` (`extra.charged`), when given. */
  charged: bigint | undefined;
};

/**
 * Reads an `agenttab-voucher` requirement: `payTo` is the provider the voucher pays (and
 * `extra.provider`, when present, must say the same), `extra.escrow` the escrow it draws on.
 *
 * @throws {VoucherRequirementError} when the requirement is not such an offer: another scheme, a
 *   non-EVM network, no `extra.escrow`, a `payTo` that is no address, that differs from
 *   `extra.provider`, or that is the escrow itself (an API from before vouchers named providers).
 * @example
 * const { escrow, provider, amount, charged } = voucherOffer(required.requirements);
 */
export function voucherOffer(requirements: PaymentRequirements): VoucherOffer {
  const refuse = (reason: string) => new VoucherRequirementError({ reason });
  if (requirements.scheme !== VOUCHER_SCHEME) throw refuse(`scheme "${requirements.scheme}" is not "${VOUCHER_SCHEME}"`);
  const chainId = caip2ToChainId(requirements.network);
  if (chainId === undefined) throw refuse(`network "${requirements.network}" is not an EVM chain`);
  if (!/^(0|[1-9][0-9]{0,38})$/.test(String(requirements.amount))) throw refuse(`amount "${requirements.amount}" is not a decimal amount`);
  const escrow = requirements.extra?.escrow;
  if (typeof escrow !== "string" || !isAddress(escrow, { strict: false })) throw refuse("`extra.escrow` is not an address");
  const payTo = requirements.payTo;
  if (typeof payTo !== "string" || !isAddress(payTo, { strict: false })) throw refuse(`payTo ${String(payTo)} is not an address`);
  if (payTo.toLowerCase() === escrow.toLowerCase()) {
    throw refuse(`payTo names the escrow ${escrow}, not a provider: this API predates vouchers that name the provider they pay`);
  }
  const named = requirements.extra?.provider;
  if (named !== undefined && (typeof named !== "string" || named.toLowerCase() !== payTo.toLowerCase())) {
    throw refuse(`payTo ${payTo} and extra.provider ${String(named)} name different providers`);
  }
  const charged = requirements.extra?.charged;
  return {
    chainId,
    escrow: getAddress(escrow),
    provider: getAddress(payTo),
    amount: BigInt(requirements.amount),
    charged: typeof charged === "string" && /^(0|[1-9][0-9]{0,77})$/.test(charged) ? BigInt(charged) : undefined,
  };
}

/**
 * The PAYMENT-SIGNATURE header of a voucher payment (x402 v2, @x402/core's codec). `provider` is
 * the provider the voucher was signed for: the requirement's `payTo`.
 *
 * @example
 * const provider = requirements.payTo;
 * const signature = await signVoucher(agent, { chainId, escrow, account, provider, maxCumulative });
 * headers["payment-signature"] = voucherPaymentHeader({ requirements, account, signer: agent.address, provider, maxCumulative, signature });
 */
export function voucherPaymentHeader({
  requirements,
  account,
  signer,
  provider,
  maxCumulative,
  signature,
}: {
  requirements: PaymentRequirements;
  account: Address;
  signer: Address;
  provider: Address;
  maxCumulative: bigint;
  signature: Hex;
}): string {
  return encodePaymentSignatureHeader({
    x402Version: 2,
    accepted: requirements,
    payload: { account, signer, provider, maxCumulative: maxCumulative.toString(), signature },
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
