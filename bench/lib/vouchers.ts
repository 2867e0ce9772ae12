/**
 * Pre-signed PAYMENT-SIGNATURE headers for the proxy benchmark, signed with native libsecp256k1
 * (the same RFC 6979 deterministic ECDSA as viem, ~20× faster) over the API's own voucher digest,
 * so that tens of thousands can be signed before the timed part. `checkParity` proves the fast
 * path produces exactly the header viem's `signVoucher` does.
 */
import { encodePaymentSignatureHeader } from "@x402/core/http";
import secp256k1 from "secp256k1";
import { bytesToHex, hexToBytes } from "viem";
import type { Hex, LocalAccount } from "viem";

import { voucherDigester } from "../../api/src/payments/voucherDigest.ts";
import { voucherRequirements } from "../../api/src/payments/x402.ts";
import type { Deployment } from "../../sdk/src/index.ts";
import { signVoucher } from "../../sdk/src/index.ts";

export type VoucherAgent = { account: LocalAccount; privateKey: Hex };

/** Builds a signer of voucher headers for one deployment. */
export function voucherHeaders(deployment: Deployment) {
  const digestOf = voucherDigester({ chainId: deployment.chainId, escrow: deployment.escrow });
  const accepted = voucherRequirements({ deployment, amount: 0n });
  const keys = new Map<string, Uint8Array>();

  const header = (account: `0x${string}`, signer: `0x${string}`, maxCumulative: bigint, signature: Hex) =>
    encodePaymentSignatureHeader({
      x402Version: 2,
      accepted,
      payload: { account, signer, maxCumulative: maxCumulative.toString(), signature },
    });

  /** Signs natively: one voucher of `agent` for its own account, up to `maxCumulative`. */
  const fast = (agent: VoucherAgent, maxCumulative: bigint): string => {
    let key = keys.get(agent.privateKey);
    if (!key) keys.set(agent.privateKey, (key = hexToBytes(agent.privateKey)));
    const { signature, recid } = secp256k1.ecdsaSign(hexToBytes(digestOf(agent.account.address, maxCumulative)), key);
    const sig = `${bytesToHex(signature)}${(27 + recid).toString(16)}` as Hex;
    return header(agent.account.address, agent.account.address, maxCumulative, sig);
  };

  /** The reference: viem's typed-data signature through the SDK. */
  const reference = async (agent: VoucherAgent, maxCumulative: bigint): Promise<string> => {
    const sig = await signVoucher(agent.account, { chainId: deployment.chainId, escrow: deployment.escrow, account: agent.account.address, maxCumulative });
    return header(agent.account.address, agent.account.address, maxCumulative, sig);
  };

  /** Throws unless the native and viem signatures agree on a few vouchers. */
  const checkParity = async (agent: VoucherAgent) => {
    for (const max of [1n, 123_456_789n, (1n << 100n) + 7n]) {
      if (fast(agent, max) !== (await reference(agent, max))) throw new Error(`native and viem voucher signatures differ at ${max}`);
    }
  };

  return { fast, reference, checkParity };
}
