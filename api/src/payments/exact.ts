import { decodePaymentSignatureHeader, encodePaymentResponseHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements, SettleResponse } from "@x402/core/types";
import { BaseError, ContractFunctionRevertedError, decodeErrorResult, getAddress, hashTypedData, isAddress, isHex } from "viem";
import type { Address, Hex } from "viem";

import { agentTabEscrowAbi, transferWithAuthorizationTypes, usdcDomain } from "@agenttab/sdk";
import type { Deployment } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";

/** The x402 scheme name of a one-off EIP-3009 payment (`@x402/evm`'s `exact`). */
export const EXACT_SCHEME = "exact";

const MAX_UINT256 = (1n << 256n) - 1n;
const MAX_HEADER_LENGTH = 8_192;
// Contract-wallet signatures (ERC-1271, ERC-6492 wrapped) can be longer than 65 bytes.
const MAX_SIGNATURE_BYTES = 2_048;

/**
 * The `exact` entry of a paid call's `accepts[]`: what `@x402/evm`'s exact client needs to sign a
 * USDC TransferWithAuthorization to the escrow (which `settleExactPayment` pulls from), for the
 * service's fixed price. `extra` is USDC's EIP-712 domain name and version.
 *
 * @example
 * const offer = exactRequirements({ deployment, price: 25_000n, maxTimeoutSeconds: 60 });
 */
export function exactRequirements({ deployment, price, maxTimeoutSeconds }: { deployment: Deployment; price: bigint; maxTimeoutSeconds: number }): PaymentRequirements {
  const { name, version } = usdcDomain({ chainId: deployment.chainId, usdc: deployment.usdc });
  return {
    scheme: EXACT_SCHEME,
    network: deployment.network,
    asset: deployment.usdc,
    amount: price.toString(),
    payTo: deployment.escrow,
    maxTimeoutSeconds,
    extra: { name, version },
  };
}

// A cheap look first: every voucher-paid call passes through here, and a full decode costs ~15 µs.
const MAYBE_EXACT = /"scheme"\s*:\s*"exact"/;

/** Whether a PAYMENT-SIGNATURE header is meant for the `exact` scheme (anything unreadable is not). */
export function isExactPaymentHeader(header: string): boolean {
  if (header.length > MAX_HEADER_LENGTH || !MAYBE_EXACT.test(Buffer.from(header, "base64").toString("latin1"))) return false;
  try {
    const decoded = decodePaymentSignatureHeader(header) as Partial<PaymentPayload> | null;
    return (decoded?.accepted as Partial<PaymentRequirements> | undefined)?.scheme === EXACT_SCHEME;
  } catch {
    return false;
  }
}

/** A USDC TransferWithAuthorization as the `exact` payload carries it, shape-checked. */
export type ExactAuthorization = {
  from: Address;
  to: Address;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: Hex;
  signature: Hex;
};

const malformed = (code: string, message: string) => new ApiError({ status: 400, code, message, reason: "invalid_payload" });

const uint256 = (value: unknown, field: string): bigint => {
  if (typeof value !== "string" || !/^(0|[1-9][0-9]{0,77})$/.test(value) || BigInt(value) > MAX_UINT256) {
    throw malformed("invalid_authorization", `\`payload.authorization.${field}\` must be a decimal uint256 string`);
  }
  return BigInt(value);
};

/**
 * Decodes an `exact` PAYMENT-SIGNATURE header (x402 v2, @x402/core's codec) and checks that it pays
 * this deployment: network, asset (USDC), payTo and the authorization's `to` (the escrow). Refuses
 * anything malformed or misdirected with a 400 and a stable code; amounts, time window and
 * signature are checked by {@link checkExactAuthorization}.
 *
 * @example
 * const authorization = decodeExactPayment(request.headers["payment-signature"], deployment);
 */
export function decodeExactPayment(header: string, deployment: Deployment): ExactAuthorization {
  if (header.length > MAX_HEADER_LENGTH) throw malformed("payment_header_too_large", `PAYMENT-SIGNATURE is over ${MAX_HEADER_LENGTH} bytes`);
  let decoded: PaymentPayload;
  try {
    decoded = decodePaymentSignatureHeader(header) as PaymentPayload;
  } catch {
    throw malformed("invalid_payment_header", "PAYMENT-SIGNATURE is not base64-encoded JSON");
  }
  if (typeof decoded !== "object" || decoded === null) throw malformed("invalid_payment_header", "PAYMENT-SIGNATURE is not a JSON object");
  if (decoded.x402Version !== 2) throw malformed("unsupported_x402_version", "Only x402Version 2 is supported");
  const accepted = decoded.accepted as Partial<PaymentRequirements> | undefined;
  if (typeof accepted !== "object" || accepted === null || accepted.scheme !== EXACT_SCHEME) throw malformed("invalid_payment_header", "`accepted` is not an exact requirement");
  if (accepted.network !== deployment.network) {
    throw new ApiError({ status: 400, code: "wrong_network", message: `This proxy takes payments on ${deployment.network}, not ${String(accepted.network)}`, reason: "invalid_network" });
  }
  if (typeof accepted.asset !== "string" || accepted.asset.toLowerCase() !== deployment.usdc.toLowerCase()) {
    throw malformed("wrong_asset", `Exact payments must be in USDC (${deployment.usdc})`);
  }
  if (typeof accepted.payTo !== "string" || accepted.payTo.toLowerCase() !== deployment.escrow.toLowerCase()) {
    throw malformed("wrong_pay_to", `Exact payments must pay the escrow ${deployment.escrow}`);
  }
  const payload = decoded.payload as { authorization?: Record<string, unknown>; signature?: unknown } | undefined;
  const authorization = payload?.authorization;
  if (typeof authorization !== "object" || authorization === null) {
    // Another form of `exact` (Permit2), or not an exact payload at all.
    throw new ApiError({ status: 400, code: "unsupported_scheme", message: "Only the EIP-3009 form of `exact` is accepted: `payload.authorization` is missing", reason: "unsupported_scheme" });
  }
  const { from, to, nonce } = authorization;
  if (typeof from !== "string" || !isAddress(from, { strict: false })) throw malformed("invalid_authorization", "`payload.authorization.from` is not an address");
  if (typeof to !== "string" || !isAddress(to, { strict: false })) throw malformed("invalid_authorization", "`payload.authorization.to` is not an address");
  if (to.toLowerCase() !== deployment.escrow.toLowerCase()) throw malformed("wrong_pay_to", `The authorization must pay the escrow ${deployment.escrow}, not ${to}`);
  if (typeof nonce !== "string" || !isHex(nonce) || nonce.length !== 66) throw malformed("invalid_authorization", "`payload.authorization.nonce` must be 32 bytes of hex");
  const signature = payload?.signature;
  if (typeof signature !== "string" || !isHex(signature) || signature.length < 132 || signature.length % 2 !== 0 || signature.length > 2 + 2 * MAX_SIGNATURE_BYTES) {
    throw malformed("invalid_signature", "`payload.signature` must be a hex signature of at least 65 bytes");
  }
  return {
    from: getAddress(from),
    to: getAddress(to),
    value: uint256(authorization.value, "value"),
    validAfter: uint256(authorization.validAfter, "validAfter"),
    validBefore: uint256(authorization.validBefore, "validBefore"),
    nonce: nonce.toLowerCase() as Hex,
    signature: signature.toLowerCase() as Hex,
  };
}

/**
 * Refuses an authorization that cannot pay this call: below the price, not valid yet, expiring
 * within `marginSeconds` of `now` (the margin covers the upstream call and the settlement), or valid
 * for longer than `maxValiditySeconds` from `now` (the proxy forgets an unused authorization's
 * record only once it has expired, so expiry must come within a bounded time). Each refusal is a
 * 402 a fresh payment can fix.
 *
 * @example
 * checkExactAuthorization(authorization, { price: 25_000n, now: BigInt(Math.floor(Date.now() / 1000)), marginSeconds: 30n, maxValiditySeconds: 86_400n });
 */
export function checkExactAuthorization(
  authorization: ExactAuthorization,
  { price, now, marginSeconds, maxValiditySeconds }: { price: bigint; now: bigint; marginSeconds: bigint; maxValiditySeconds: bigint },
): void {
  if (authorization.value === 0n || authorization.value < price) {
    throw new ApiError({
      status: 402,
      code: "amount_too_low",
      message: `This call costs ${price}; the authorization is for ${authorization.value}`,
      reason: "invalid_exact_evm_payload_authorization_value",
      details: { price: price.toString(), value: authorization.value.toString() },
    });
  }
  if (authorization.validAfter > now) {
    throw new ApiError({ status: 402, code: "authorization_not_yet_valid", message: `The authorization is valid only after ${authorization.validAfter}`, reason: "invalid_exact_evm_payload_authorization_valid_after" });
  }
  if (authorization.validBefore < now + marginSeconds) {
    throw new ApiError({
      status: 402,
      code: "authorization_expired",
      message: `The authorization expires at ${authorization.validBefore}; it must stay valid until at least ${now + marginSeconds}`,
      reason: "invalid_exact_evm_payload_authorization_valid_before",
    });
  }
  if (authorization.validBefore > now + maxValiditySeconds) {
    throw new ApiError({
      status: 402,
      code: "authorization_too_long",
      message: `The authorization is valid until ${authorization.validBefore}; this proxy takes authorizations valid for at most ${maxValiditySeconds} s (until ${now + maxValiditySeconds})`,
      reason: "invalid_exact_evm_payload_authorization_valid_before",
    });
  }
}

/**
 * The EIP-712 digest of a USDC TransferWithAuthorization, with the SDK's typed-data definition and
 * USDC domain.
 *
 * @example
 * const digest = transferAuthorizationDigest(authorization, { chainId, usdc });
 * recoverSigner(digest, authorization.signature) === authorization.from.toLowerCase();
 */
export function transferAuthorizationDigest(authorization: ExactAuthorization, { chainId, usdc }: { chainId: number; usdc: Address }): Hex {
  const { from, to, value, validAfter, validBefore, nonce } = authorization;
  return hashTypedData({
    domain: usdcDomain({ chainId, usdc }),
    types: transferWithAuthorizationTypes,
    primaryType: "TransferWithAuthorization",
    message: { from, to, value, validAfter, validBefore, nonce },
  });
}

const revertAbi = agentTabEscrowAbi;

/**
 * Why a `settleExactPayment` simulation failed, as the 4xx the payer gets: the escrow's custom
 * errors or FiatToken's revert strings (USDC, locally too). A
 * failure that is not a revert (the RPC is down) is a 503.
 *
 * @example
 * try { await app.relayer.simulate(write) } catch (error) { throw exactRevertError(error) }
 */
export function exactRevertError(error: unknown): ApiError {
  const reverted = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
  if (!(reverted instanceof ContractFunctionRevertedError)) {
    return new ApiError({ status: 503, code: "chain_unavailable", message: "The chain could not be reached to check the payment; nothing was charged", headers: { "retry-after": "2" } });
  }
  let name = reverted.data?.errorName;
  if (name === undefined && reverted.raw !== undefined && reverted.raw !== "0x") {
    try {
      name = decodeErrorResult({ abi: revertAbi, data: reverted.raw }).errorName;
    } catch {
      // Not one of ours: fall back to the revert string, if any.
    }
  }
  const text = `${name ?? ""} ${reverted.reason ?? ""}`.toLowerCase();
  const refuse = (code: string, message: string, reason: string) => new ApiError({ status: 402, code, message, reason });
  if (/authorizationalreadyused|authorization is used/.test(text)) return refuse("authorization_used", "This authorization has already been used", "invalid_exact_evm_payload_authorization_nonce_used");
  if (/invalidsignature|invalid signature/.test(text)) return refuse("invalid_signature", "The authorization's signature is not valid for its `from`", "invalid_exact_evm_payload_signature");
  if (/authorizationexpired|authorization is expired/.test(text)) return refuse("authorization_expired", "The authorization has expired", "invalid_exact_evm_payload_authorization_valid_before");
  if (/authorizationnotyetvalid|authorization is not yet valid/.test(text)) return refuse("authorization_not_yet_valid", "The authorization is not valid yet", "invalid_exact_evm_payload_authorization_valid_after");
  if (/blacklisted/.test(text)) return refuse("account_blacklisted", "USDC's issuer has blacklisted the payer (or the escrow): the token refuses this transfer", "invalid_payload");
  if (/insufficientbalance|exceeds balance/.test(text)) return refuse("insufficient_funds", "The payer's USDC balance does not cover the authorization", "insufficient_funds");
  if (/enforcedpause/.test(text)) return new ApiError({ status: 503, code: "escrow_paused", message: "The escrow is paused; exact payments are stopped", headers: { "retry-after": "60" } });
  return refuse("payment_rejected", `The escrow would reject this payment${name ? ` (${name})` : ""}`, "invalid_payload");
}

/**
 * The PAYMENT-RESPONSE header of a settled exact payment: an x402 v2 SettleResponse with the
 * settlement's transaction, plus the proxy's signed receipt under `extensions.agenttab.receipt`
 * (as for vouchers, so the payer can leave feedback).
 *
 * @example
 * reply.header("payment-response", exactPaymentResponseHeader({ deployment, payer, amount, transaction: hash, receipt }));
 */
export function exactPaymentResponseHeader({
  deployment,
  payer,
  amount,
  transaction,
  receipt,
}: {
  deployment: Deployment;
  payer: Address;
  amount: bigint;
  transaction: Hex;
  receipt: Record<string, unknown>;
}): string {
  const response: SettleResponse = {
    success: true,
    transaction,
    network: deployment.network,
    payer,
    amount: amount.toString(),
    extensions: { agenttab: { receipt } },
  };
  return encodePaymentResponseHeader(response);
}
