import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import type { Address, Hex, LocalAccount } from "viem";

import { signVoucher } from "@agenttab/sdk";
import type { Deployment } from "@agenttab/sdk";

import { voucherRequirements } from "../../../api/src/payments/x402.ts";
import type { ApiStack } from "./apiStack.ts";

/**
 * A PAYMENT-SIGNATURE header carrying a voucher for `maxCumulative` on the (account, signer,
 * provider) track, signed by `signer` against `account` (the signer's own account unless given),
 * encoded with @x402/core's codec.
 */
export async function voucherHeader(
  deployment: Deployment,
  { signer, account = signer.address, provider, maxCumulative }: { signer: LocalAccount; account?: Address; provider: Address; maxCumulative: bigint },
): Promise<string> {
  const signature = await signVoucher(signer, { chainId: deployment.chainId, escrow: deployment.escrow, account, provider, maxCumulative });
  return voucherPaymentHeader({ accepted: voucherRequirements({ deployment, amount: 0n, provider }), account, signer: signer.address, provider, maxCumulative, signature });
}

/** The PAYMENT-SIGNATURE header of a voucher payment as the wire carries it, whatever its fields say. */
export function voucherPaymentHeader({
  accepted,
  account,
  signer,
  provider,
  maxCumulative,
  signature,
}: {
  accepted: PaymentRequirements;
  account: Address;
  signer: Address;
  provider: Address;
  maxCumulative: bigint;
  signature: Hex;
}): string {
  return encodePaymentSignatureHeader({ x402Version: 2, accepted, payload: { account, signer, provider, maxCumulative: maxCumulative.toString(), signature } });
}

/**
 * The provider a 402 `wrong_provider` names (its PAYMENT-REQUIRED `payTo`), or undefined for any
 * other response: what a client re-signs its voucher for, once.
 */
export function wrongProviderPayee(status: number, paymentRequired: unknown): Address | undefined {
  if (status !== 402 || typeof paymentRequired !== "string") return undefined;
  const required = decodePaymentRequiredHeader(paymentRequired);
  if (required.error !== "wrong_provider") return undefined;
  return required.accepts.find((a) => a.scheme === "agenttab-voucher")?.payTo as Address | undefined;
}

/**
 * Lists a service straight into the ledger's services table: a fixture for the paid-call tests,
 * which exercise the proxy, not registration (tested on its own with signed requests).
 */
export async function listService(
  stack: ApiStack,
  {
    id,
    provider,
    upstreamUrl,
    price,
    pricing = "fixed",
    maxPrice = price,
    usageHeader = null,
  }: { id: string; provider: `0x${string}`; upstreamUrl: string; price: bigint; pricing?: "fixed" | "metered"; maxPrice?: bigint; usageHeader?: string | null },
) {
  await stack.app.sql`
    INSERT INTO services (id, provider, name, category, upstream_url, pricing, price, max_price, usage_header, nonce)
    VALUES (${id}, ${provider.toLowerCase()}, ${id}, 'test', ${upstreamUrl}, ${pricing}, ${price.toString()}, ${maxPrice.toString()}, ${usageHeader}, 1)`;
}
