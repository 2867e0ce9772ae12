/**
 * Pre-signed PAYMENT-SIGNATURE headers for the proxy benchmark, signed with native libsecp256k1
 * (the same RFC 6979 deterministic ECDSA as viem, ~20× faster) over the API's own voucher digest,
 * so that tens of thousands can be signed before the timed part. `checkParity` proves the fast
 * path produces exactly the header viem's `signVoucher` does.
 */
import { encodePaymentSignatureHeader } from "@x402/core/http";
import secp256k1 from "secp256k1";
import { bytesToHex, getAddress, hexToBytes } from "viem";
import type { Address, Hex, LocalAccount } from "viem";

import { signVoucher } from "@agenttab/sdk";
import type { Deployment } from "@agenttab/sdk";

import { voucherDigester } from "../../api/src/payments/voucherDigest.ts";
import type { VoucherMessage } from "../../api/src/payments/voucherDigest.ts";
import { voucherRequirements } from "../../api/src/payments/x402.ts";

export type VoucherAgent = { account: LocalAccount; privateKey: Hex };

/**
 * A native voucher signer for one escrow: the signature viem's `signVoucher` gives, from the
 * signer's private key (`voucherHeaders(…).checkParity` holds it to that).
 */
export function nativeVoucherSigner(deployment: Pick<Deployment, "chainId" | "escrow">) {
  const digestOf = voucherDigester({ chainId: deployment.chainId, escrow: deployment.escrow });
  const keys = new Map<string, Uint8Array>();
  return (privateKey: Hex, voucher: VoucherMessage): Hex => {
    let key = keys.get(privateKey);
    if (!key) keys.set(privateKey, (key = hexToBytes(privateKey)));
    const { signature, recid } = secp256k1.ecdsaSign(hexToBytes(digestOf(voucher)), key);
    return `${bytesToHex(signature)}${(27 + recid).toString(16)}` as Hex;
  };
}

/**
 * Builds a signer of voucher headers for one deployment, every voucher paying `provider` (the
 * provider of the service the benchmark calls).
 */
export function voucherHeaders(deployment: Deployment, { provider }: { provider: Address }) {
  const payee = getAddress(provider);
  const sign = nativeVoucherSigner(deployment);
  const accepted = voucherRequirements({ deployment, amount: 0n, provider: payee });

  const header = (account: Address, signer: Address, maxCumulative: bigint, signature: Hex) =>
    encodePaymentSignatureHeader({
      x402Version: 2,
      accepted,
      payload: { account, signer, provider: payee, maxCumulative: maxCumulative.toString(), signature },
    });

  /** Signs natively: one voucher of `agent` for its own account, up to `maxCumulative`. */
  const fast = (agent: VoucherAgent, maxCumulative: bigint): string => {
    const { address } = agent.account;
    return header(address, address, maxCumulative, sign(agent.privateKey, { account: address, signer: address, provider: payee, maxCumulative }));
  };

  /** The reference: viem's typed-data signature through the SDK. */
  const reference = async (agent: VoucherAgent, maxCumulative: bigint): Promise<string> => {
    const { address } = agent.account;
    const sig = await signVoucher(agent.account, { chainId: deployment.chainId, escrow: deployment.escrow, account: address, provider: payee, maxCumulative });
    return header(address, address, maxCumulative, sig);
  };

  /** Throws unless the native and viem signatures agree on a few vouchers. */
  const checkParity = async (agent: VoucherAgent) => {
    for (const max of [1n, 123_456_789n, (1n << 100n) + 7n]) {
      if (fast(agent, max) !== (await reference(agent, max))) throw new Error(`native and viem voucher signatures differ at ${max}`);
    }
  };

  return { fast, reference, checkParity };
}
