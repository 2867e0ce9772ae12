import type { LocalAccount } from "viem";

import { voucherRequirements } from "../../../api/src/payments/x402.ts";
import type { Deployment } from "../../../sdk/src/index.ts";
import { signVoucher, voucherPaymentHeader } from "../../../sdk/src/index.ts";
import type { ApiStack } from "./apiStack.ts";

/**
 * A PAYMENT-SIGNATURE header carrying a voucher for `maxCumulative`, signed by `signer` against
 * `account` (the signer's own account unless given), encoded with @x402/core's codec.
 */
export async function voucherHeader(
  deployment: Deployment,
  { signer, account = signer.address, maxCumulative }: { signer: LocalAccount; account?: `0x${string}`; maxCumulative: bigint },
): Promise<string> {
  const signature = await signVoucher(signer, { chainId: deployment.chainId, escrow: deployment.escrow, account, maxCumulative });
  return voucherPaymentHeader({ requirements: voucherRequirements({ deployment, amount: 0n }), account, signer: signer.address, maxCumulative, signature });
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
