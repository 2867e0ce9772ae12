import type { Address, Hex } from "viem";

import { getNetwork } from "./networks.ts";

/**
 * The EIP-712 domain name and version the escrow signs under (its `EIP712` constructor).
 *
 * @example
 * const { name, version } = escrowEip712; // "AgentTab Escrow", "1"
 */
export const escrowEip712 = { name: "AgentTab Escrow", version: "1" } as const;

/**
 * The EIP-712 domain of vouchers: the escrow on one chain.
 *
 * @example
 * voucherDomain({ chainId: 8453, escrow: "0x5FbDB2315678afecb367f032d93F642f64180aa3" });
 * // { name: "AgentTab Escrow", version: "1", chainId: 8453, verifyingContract: "0x5FbDB…" }
 */
export function voucherDomain({ chainId, escrow }: { chainId: number; escrow: Address }) {
  return { ...escrowEip712, chainId, verifyingContract: escrow } as const;
}

/**
 * A voucher: "the platform may claim up to a cumulative total of `maxCumulative` from `account`".
 * Mirrors `VoucherHash.VOUCHER_TYPEHASH`.
 *
 * @example
 * hashTypedData({ domain, types: voucherTypes, primaryType: "Voucher", message: { account, maxCumulative: 5_000_000n } });
 */
export const voucherTypes = {
  Voucher: [
    { name: "account", type: "address" },
    { name: "maxCumulative", type: "uint256" },
  ],
} as const;

/**
 * The EIP-712 domain of USDC on a chain. The name and version come from the known network
 * ("USDC" on Base Sepolia, "USD Coin" on Base and locally) unless given.
 *
 * @example
 * usdcDomain({ chainId: 8453, usdc: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913" });
 * // { name: "USD Coin", version: "2", chainId: 8453, verifyingContract: "0x8335…" }
 * usdcDomain({ chainId: 1, usdc, name: "USD Coin", version: "2" }); // an unknown chain
 */
export function usdcDomain({
  chainId,
  usdc,
  name,
  version,
}: {
  chainId: number;
  usdc: Address;
  name?: string;
  version?: string;
}) {
  const known = getNetwork({ chainId })?.usdcEip712;
  return {
    name: name ?? known?.name ?? "USD Coin",
    version: version ?? known?.version ?? "2",
    chainId,
    verifyingContract: usdc,
  };
}

const authorizationFields = [
  { name: "from", type: "address" },
  { name: "to", type: "address" },
  { name: "value", type: "uint256" },
  { name: "validAfter", type: "uint256" },
  { name: "validBefore", type: "uint256" },
  { name: "nonce", type: "bytes32" },
] as const;

/**
 * EIP-3009 `TransferWithAuthorization` (anyone may submit it): what the x402 `exact` scheme signs
 * and `settleExactPayment` executes.
 *
 * @example
 * account.signTypedData({
 *   domain: usdcDomain({ chainId, usdc }),
 *   types: transferWithAuthorizationTypes,
 *   primaryType: "TransferWithAuthorization",
 *   message: { from, to: escrow, value: 1_000_000n, validAfter: 0n, validBefore, nonce },
 * });
 */
export const transferWithAuthorizationTypes = { TransferWithAuthorization: authorizationFields } as const;

/**
 * EIP-3009 `ReceiveWithAuthorization` (only `to` may submit it): what `depositWithAuthorization`
 * takes, with `to` = the escrow.
 *
 * @example
 * account.signTypedData({
 *   domain: usdcDomain({ chainId, usdc }),
 *   types: receiveWithAuthorizationTypes,
 *   primaryType: "ReceiveWithAuthorization",
 *   message: { from, to: escrow, value: 10_000_000n, validAfter: 0n, validBefore, nonce },
 * });
 */
export const receiveWithAuthorizationTypes = { ReceiveWithAuthorization: authorizationFields } as const;

/**
 * EIP-2612 `Permit`: what `depositWithPermit` takes, with `spender` = the escrow and `nonce` =
 * USDC's `nonces(owner)`.
 *
 * @example
 * account.signTypedData({
 *   domain: usdcDomain({ chainId, usdc }),
 *   types: permitTypes,
 *   primaryType: "Permit",
 *   message: { owner, spender: escrow, value: 10_000_000n, nonce: 0n, deadline },
 * });
 */
export const permitTypes = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/** A voucher's typed data, as a signer receives it. */
export type VoucherTypedData = {
  domain: ReturnType<typeof voucherDomain>;
  types: typeof voucherTypes;
  primaryType: "Voucher";
  message: { account: Address; maxCumulative: bigint };
};

/**
 * Anything that can sign a voucher: a viem `LocalAccount`, a smart wallet's owner, a remote signer.
 * Only `signTypedData` is called; `address` identifies the signer.
 */
export type VoucherSigner = {
  address: Address;
  signTypedData: (typedData: VoucherTypedData) => Promise<Hex>;
};

/** What a voucher says and where it is valid. */
export type SignVoucherParameters = {
  chainId: number;
  escrow: Address;
  /** The escrow account the voucher draws on (the signer's own, or one it is a delegate of). */
  account: Address;
  /** The cumulative total the platform may claim from `account`, in USDC atomic units. */
  maxCumulative: bigint;
};

/**
 * The typed data of a voucher, for signing or hashing.
 *
 * @example
 * hashTypedData(voucherTypedData({ chainId: 31337, escrow, account, maxCumulative: 1_234_567n }));
 */
export function voucherTypedData({ chainId, escrow, account, maxCumulative }: SignVoucherParameters): VoucherTypedData {
  return {
    domain: voucherDomain({ chainId, escrow }),
    types: voucherTypes,
    primaryType: "Voucher",
    message: { account, maxCumulative },
  };
}

/**
 * Signs a voucher; returns the 65-byte signature the escrow verifies (ECDSA for an EOA, or
 * whatever the account's ERC-1271 `isValidSignature` accepts).
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const agent = privateKeyToAccount(key);
 * const signature = await signVoucher(agent, {
 *   chainId: 8453,
 *   escrow: deployment.escrow,
 *   account: agent.address,
 *   maxCumulative: 2_500_000n,
 * });
 */
export function signVoucher(signer: VoucherSigner, parameters: SignVoucherParameters): Promise<Hex> {
  return signer.signTypedData(voucherTypedData(parameters));
}
