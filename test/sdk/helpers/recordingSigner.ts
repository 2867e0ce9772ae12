import type { LocalAccount } from "viem";

/**
 * Wraps an account so that the test sees every voucher it signs (the `maxCumulative` of each, in
 * order); other typed data (sign-ins) passes through unrecorded.
 *
 * @example
 * const { signer, signed } = recordingSigner(agent);
 * await new AgentTabClient({ …, signer }).call("echo");
 * expect(signed).toEqual([25_000n]);
 */
export function recordingSigner(account: LocalAccount) {
  const signed: bigint[] = [];
  const signer = {
    address: account.address,
    signTypedData: (typedData: Parameters<LocalAccount["signTypedData"]>[0]) => {
      if (typedData.primaryType === "Voucher") signed.push((typedData.message as { maxCumulative: bigint }).maxCumulative);
      return account.signTypedData(typedData);
    },
  };
  return { signer, signed };
}
