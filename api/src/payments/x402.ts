import { encodePaymentRequiredHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo, SettleResponse } from "@x402/core/types";
import { getAddress } from "viem";
import type { Address, Hex } from "viem";

import { VOUCHER_SCHEME, voucherDomain } from "@agenttab/sdk";
import type { Deployment } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";

export { VOUCHER_SCHEME };

const MAX_UINT128 = (1n << 128n) - 1n;
const MAX_HEADER_LENGTH = 4_096;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * Checksummed addresses, memoized: EIP-55 costs a keccak each, and a paid call names the same few
 * agents and providers over and over. Bounded: cleared when full.
 */
const checksummed = new Map<string, Address>();
function checksum(address: string): Address {
  const key = address.toLowerCase();
  let value = checksummed.get(key);
  if (value === undefined) {
    if (checksummed.size >= 50_000) checksummed.clear();
    value = getAddress(key);
    checksummed.set(key, value);
  }
  return value;
}

/**
 * What a paid call offers in `accepts[]`: a voucher paying `provider` (`payTo`), drawn on the
 * escrow named in `extra`.
 *
 * @example
 * voucherRequirements({ deployment, amount: service.maxPrice, provider: service.provider, charged: 75_000n });
 */
export function voucherRequirements({
  deployment,
  amount,
  provider,
  charged,
}: {
  deployment: Deployment;
  /** The most this call can cost. */
  amount: bigint;
  /** The provider of the service that will serve the call: the payee the voucher must name. */
  provider: Address;
  /** The signer's charged total plus calls in flight on `provider`'s track, when the payer is known. */
  charged?: bigint | undefined;
}): PaymentRequirements {
  const domain = voucherDomain({ chainId: deployment.chainId, escrow: deployment.escrow });
  const payee = checksum(provider);
  return {
    scheme: VOUCHER_SCHEME,
    network: deployment.network,
    asset: deployment.usdc,
    amount: amount.toString(),
    payTo: payee,
    maxTimeoutSeconds: 60,
    extra: {
      escrow: deployment.escrow,
      eip712: { ...domain, chainId: deployment.chainId },
      primaryType: "Voucher",
      provider: payee,
      ...(charged === undefined ? {} : { charged: charged.toString() }),
    },
  };
}

/**
 * The PAYMENT-REQUIRED header value (x402 v2, base64 JSON): the resource at `url` described by
 * `resource` (its description, MIME type, service name and tags), its offers, and `extensions`
 * (the service's `bazaar` discovery extension).
 */
export function paymentRequiredHeader({
  url,
  resource,
  extensions,
  requirements,
  error,
}: {
  url: string;
  resource: Omit<ResourceInfo, "url">;
  extensions?: Record<string, unknown>;
  /** The offers, best first (x402 clients take the first one they can pay). */
  requirements: PaymentRequirements | PaymentRequirements[];
  error?: string;
}): string {
  const body: PaymentRequired = {
    x402Version: 2,
    resource: { url, ...resource },
    accepts: Array.isArray(requirements) ? requirements : [requirements],
    ...(extensions === undefined ? {} : { extensions }),
    ...(error === undefined ? {} : { error }),
  };
  return encodePaymentRequiredHeader(body);
}

/** A voucher payment, decoded and shape-checked (not yet verified). */
export type VoucherPayment = {
  account: Address;
  signer: Address;
  /** The provider the voucher pays (not yet compared with the serving service's). */
  provider: Address;
  maxCumulative: bigint;
  signature: Hex;
};

const invalid = (code: string, message: string) =>
  new ApiError({ status: 400, code, message, reason: "invalid_payload" });

/**
 * Decodes a PAYMENT-SIGNATURE header into a voucher payment, refusing anything malformed or meant
 * for another scheme, network or escrow with a 400 and a stable code. Whether the provider it pays
 * is the one serving the call is for the caller to decide (after routing).
 *
 * @example
 * const payment = decodeVoucherPayment(request.headers["payment-signature"], deployment);
 */
export function decodeVoucherPayment(header: string, deployment: Deployment): VoucherPayment {
  if (header.length > MAX_HEADER_LENGTH) throw invalid("payment_header_too_large", `PAYMENT-SIGNATURE is over ${MAX_HEADER_LENGTH} bytes`);
  let decoded: PaymentPayload;
  try {
    // What @x402/core's decodePaymentSignatureHeader does (the same alphabet check, UTF-8 JSON),
    // with Buffer's native base64 instead of atob and a loop over every byte.
    if (!BASE64.test(header)) throw new Error("not base64");
    decoded = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as PaymentPayload;
  } catch {
    throw invalid("invalid_payment_header", "PAYMENT-SIGNATURE is not base64-encoded JSON");
  }
  if (typeof decoded !== "object" || decoded === null) throw invalid("invalid_payment_header", "PAYMENT-SIGNATURE is not a JSON object");
  if (decoded.x402Version !== 2) throw invalid("unsupported_x402_version", "Only x402Version 2 is supported");
  const accepted = decoded.accepted as Partial<PaymentRequirements> | undefined;
  if (typeof accepted !== "object" || accepted === null) throw invalid("invalid_payment_header", "`accepted` is missing");
  if (accepted.scheme !== VOUCHER_SCHEME) {
    throw new ApiError({ status: 400, code: "unsupported_scheme", message: `Scheme "${String(accepted.scheme)}" is not accepted here; use "${VOUCHER_SCHEME}"`, reason: "unsupported_scheme" });
  }
  if (accepted.network !== deployment.network) {
    throw new ApiError({ status: 400, code: "wrong_network", message: `This proxy takes payments on ${deployment.network}, not ${String(accepted.network)}`, reason: "invalid_network" });
  }
  // The escrow is `extra.escrow`; `payTo` is the provider paid. A client of the older shape, with
  // no `extra.escrow`, named the escrow in `payTo`.
  const extra = accepted.extra as Record<string, unknown> | undefined;
  const escrow = typeof extra === "object" && extra !== null && extra.escrow !== undefined ? extra.escrow : accepted.payTo;
  if (typeof escrow !== "string" || escrow.toLowerCase() !== deployment.escrow.toLowerCase()) {
    throw invalid("wrong_escrow", `Vouchers must be for the escrow ${deployment.escrow}`);
  }
  const payload = decoded.payload as Record<string, unknown> | undefined;
  if (typeof payload !== "object" || payload === null) throw invalid("invalid_payment_header", "`payload` is missing");
  const { account, signer, provider, maxCumulative, signature } = payload;
  if (typeof account !== "string" || !ADDRESS.test(account)) throw invalid("invalid_voucher", "`payload.account` is not an address");
  if (typeof signer !== "string" || !ADDRESS.test(signer)) throw invalid("invalid_voucher", "`payload.signer` is not an address");
  if (typeof provider !== "string" || !ADDRESS.test(provider)) throw invalid("invalid_voucher", "`payload.provider` is not an address");
  if (typeof maxCumulative !== "string" || !/^(0|[1-9][0-9]{0,38})$/.test(maxCumulative)) {
    throw invalid("invalid_amount", "`payload.maxCumulative` must be a decimal string of USDC atomic units");
  }
  const max = BigInt(maxCumulative);
  if (max > MAX_UINT128) throw invalid("invalid_amount", "`payload.maxCumulative` is above 2^128 - 1");
  if (typeof signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(signature)) {
    throw invalid("invalid_signature", "`payload.signature` must be a 65-byte hex signature");
  }
  return { account: checksum(account), signer: checksum(signer), provider: checksum(provider), maxCumulative: max, signature: signature.toLowerCase() as Hex };
}

/** The PAYMENT-RESPONSE header value: the signed receipt, in an x402 v2 SettleResponse. */
export function paymentResponseHeader({
  deployment,
  payer,
  amount,
  receipt,
}: {
  deployment: Deployment;
  payer: Address;
  amount: bigint;
  receipt: Record<string, unknown>;
}): string {
  const response: SettleResponse = {
    success: true,
    // Vouchers settle on-chain in the weekly batch; nothing was sent for this call.
    transaction: "",
    network: deployment.network,
    payer,
    amount: amount.toString(),
    extensions: { agenttab: { receipt } },
  };
  // As @x402/core's encodePaymentResponseHeader (base64 of the UTF-8 JSON), natively.
  return Buffer.from(JSON.stringify(response), "utf8").toString("base64");
}
