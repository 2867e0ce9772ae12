import type { Address, LocalAccount } from "viem";

/**
 * Wraps an account so that the test sees every voucher it signs: `signed` holds the
 * `maxCumulative` of each, in order, and `vouchers` the provider each pays with it; other typed
 * data (sign-ins) passes through unrecorded.
 *
 * @example
 * const { signer, signed, vouchers } = recordingSigner(agent);
 * await new AgentTabClient({ …, signer }).call("echo");
 * expect(signed).toEqual([25_000n]);
 * expect(vouchers).toEqual([{ provider, maxCumulative: 25_000n }]);
 */
export function recordingSigner(account: LocalAccount) {
  const signed: bigint[] = [];
  const vouchers: { provider: Address; maxCumulative: bigint }[] = [];
  const signer = {
    address: account.address,
    signTypedData: (typedData: Parameters<LocalAccount["signTypedData"]>[0]) => {
      if (typedData.primaryType === "Voucher") {
        const { provider, maxCumulative } = typedData.message as { provider: Address; maxCumulative: bigint };
        signed.push(maxCumulative);
        vouchers.push({ provider, maxCumulative });
      }
      return account.signTypedData(typedData);
    },
  };
  return { signer, signed, vouchers };
}
