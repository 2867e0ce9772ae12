import type { Address, Hex } from "viem";

import { typedMessage } from "./eip712/typedMessage.ts";
import type { TypedDataSigner } from "./eip712/typedMessage.ts";
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
 * A voucher: "`signer` lets the escrow pay `provider` up to a cumulative total of `maxCumulative`
 * from `account`". One spend track per (account, signer, provider); `maxCumulative` is cumulative
 * on that track. Mirrors `VoucherHash.VOUCHER_TYPEHASH`.
 *
 * @example
 * hashTypedData({ domain, types: voucherTypes, primaryType: "Voucher", message: { account, signer, provider, maxCumulative: 5_000_000n } });
 */
export const voucherTypes = {
  Voucher: [
    { name: "account", type: "address" },
    { name: "signer", type: "address" },
    { name: "provider", type: "address" },
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

/** What a voucher says: its four signed fields. */
export type Voucher = {
  /** The escrow account the voucher draws on (the signer's own, or one it is a delegate of). */
  account: Address;
  /** Who signs: the account itself, one of its delegates, or (for a smart wallet) the wallet. */
  signer: Address;
  /** The provider the escrow pays from this voucher's track. */
  provider: Address;
  /** The cumulative total the escrow may pay `provider` from `account` on this track, in USDC atomic units. */
  maxCumulative: bigint;
};

/** A voucher's typed data, as a signer receives it. */
export type VoucherTypedData = {
  domain: ReturnType<typeof voucherDomain>;
  types: typeof voucherTypes;
  primaryType: "Voucher";
  message: Voucher;
};

/** Anything that can sign a voucher (see {@link TypedDataSigner}); its `address` becomes the voucher's `signer`. */
export type VoucherSigner = TypedDataSigner<VoucherTypedData>;

/** What a voucher says, but its signer (the key that signs it), and where it is valid. */
export type SignVoucherParameters = {
  chainId: number;
  escrow: Address;
  /** The escrow account the voucher draws on (the signer's own, or one it is a delegate of). */
  account: Address;
  /** The provider paid from this track: the 402's `payTo`. */
  provider: Address;
  /** The cumulative total the escrow may pay `provider` from `account` on this track, in USDC atomic units. */
  maxCumulative: bigint;
};

/** A whole voucher and where it is valid: for hashing and verifying. */
export type VoucherTypedDataParameters = SignVoucherParameters & {
  /** Who signs: `account` for its own voucher, a delegate's address otherwise. */
  signer: Address;
};

const voucherMessage = typedMessage<Voucher>()({ domain: voucherDomain, types: voucherTypes, primaryType: "Voucher" });

/**
 * The typed data of a voucher, for signing or hashing.
 *
 * @example
 * hashTypedData(voucherTypedData({ chainId: 31337, escrow, account, signer: account, provider, maxCumulative: 1_234_567n }));
 */
export function voucherTypedData({
  chainId,
  escrow,
  account,
  signer,
  provider,
  maxCumulative,
}: VoucherTypedDataParameters): VoucherTypedData {
  return voucherMessage.typedData({ domain: { chainId, escrow }, message: { account, signer, provider, maxCumulative } });
}

/**
 * Signs a voucher as `signer` (the voucher's `signer` field is `signer.address`); returns the
 * signature the escrow verifies (ECDSA for an EOA, or whatever the account's ERC-1271
 * `isValidSignature` accepts).
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const agent = privateKeyToAccount(key);
 * const signature = await signVoucher(agent, {
 *   chainId: 8453,
 *   escrow: deployment.escrow,
 *   account: agent.address,
 *   provider: requirements.payTo,
 *   maxCumulative: 2_500_000n,
 * });
 */
export function signVoucher(signer: VoucherSigner, { chainId, escrow, account, provider, maxCumulative }: SignVoucherParameters): Promise<Hex> {
  return voucherMessage.sign(signer, { domain: { chainId, escrow }, message: { account, signer: signer.address, provider, maxCumulative } });
}

/** A voucher, where it is valid, and its signature. */
export type VerifyVoucherParameters = VoucherTypedDataParameters & { signature: Hex };

/**
 * Whether `signature` is an ECDSA signature of the voucher by the address the voucher names as its
 * `signer` (65 bytes, `v` of 27 or 28, low `s`, as the escrow's fast path requires). A smart
 * wallet's ERC-1271 signature is not checked here: it needs the chain. Never throws.
 *
 * @example
 * const ok = await verifyVoucher({ chainId, escrow, account, signer, provider, maxCumulative, signature });
 */
export function verifyVoucher({ chainId, escrow, account, signer, provider, maxCumulative, signature }: VerifyVoucherParameters): Promise<boolean> {
  return voucherMessage.verify({ domain: { chainId, escrow }, message: { account, signer, provider, maxCumulative }, signature, signer });
}

/**
 * The EIP-712 domain name and version of receipts and relayed feedback (the reputation contract's
 * `EIP712` constructor).
 *
 * @example
 * const { name, version } = receiptEip712; // "AgentTab Receipt", "1"
 */
export const receiptEip712 = { name: "AgentTab Receipt", version: "1" } as const;

/**
 * The EIP-712 domain of receipts and relayed feedback: the reputation contract on one chain.
 *
 * @example
 * receiptDomain({ chainId: 8453, reputation: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" });
 * // { name: "AgentTab Receipt", version: "1", chainId: 8453, verifyingContract: "0x9fE4…" }
 */
export function receiptDomain({ chainId, reputation }: { chainId: number; reputation: Address }) {
  return { ...receiptEip712, chainId, verifyingContract: reputation } as const;
}

/**
 * A receipt: what the proxy signs on every paid response. Mirrors `VoucherHash.RECEIPT_TYPEHASH`.
 *
 * @example
 * hashTypedData({ domain: receiptDomain({ chainId, reputation }), types: receiptTypes, primaryType: "Receipt", message: receipt });
 */
export const receiptTypes = {
  Receipt: [
    { name: "requestId", type: "bytes32" },
    { name: "serviceId", type: "bytes32" },
    { name: "provider", type: "address" },
    { name: "payer", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "cumulative", type: "uint256" },
    { name: "issuedAt", type: "uint64" },
  ],
} as const;

/** The proxy's signed statement about one paid call; amounts in USDC atomic units. */
export type Receipt = {
  /** The proxy's unique id of the call; the reputation contract takes one feedback per id. */
  requestId: Hex;
  serviceId: Hex;
  provider: Address;
  /** The key that paid: the voucher signer (the agent or its delegate), or the `exact` payer. */
  payer: Address;
  /** What this call was charged. */
  amount: bigint;
  /** The payer's charged total after this call. */
  cumulative: bigint;
  /** When the proxy signed the receipt, in Unix seconds. */
  issuedAt: bigint;
};

/** A receipt's typed data, as a signer receives it. */
export type ReceiptTypedData = {
  domain: ReturnType<typeof receiptDomain>;
  types: typeof receiptTypes;
  primaryType: "Receipt";
  message: Receipt;
};

/** Anything that can sign a receipt: the proxy's key, a KMS-backed signer (see {@link TypedDataSigner}). */
export type ReceiptSigner = TypedDataSigner<ReceiptTypedData>;

/** A receipt and where it is valid. */
export type SignReceiptParameters = {
  chainId: number;
  /** The reputation contract, whose domain the receipt is signed under. */
  reputation: Address;
  receipt: Receipt;
};

const receiptMessage = typedMessage<Receipt>()({ domain: receiptDomain, types: receiptTypes, primaryType: "Receipt" });

/**
 * The typed data of a receipt, for signing or hashing.
 *
 * @example
 * hashTypedData(receiptTypedData({ chainId: 31337, reputation, receipt }));
 */
export function receiptTypedData({ chainId, reputation, receipt }: SignReceiptParameters): ReceiptTypedData {
  return receiptMessage.typedData({ domain: { chainId, reputation }, message: receipt });
}

/**
 * Signs a receipt with the proxy's key; returns the 65-byte ECDSA signature that the reputation
 * contract accepts from an allowed receipt signer.
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const proxy = privateKeyToAccount(receiptSignerKey);
 * const signature = await signReceipt(proxy, {
 *   chainId: 8453,
 *   reputation: deployment.reputation,
 *   receipt: { requestId, serviceId, provider, payer, amount: 2_500n, cumulative: 1_002_500n, issuedAt: 1_735_689_600n },
 * });
 */
export function signReceipt(signer: ReceiptSigner, { chainId, reputation, receipt }: SignReceiptParameters): Promise<Hex> {
  return receiptMessage.sign(signer, { domain: { chainId, reputation }, message: receipt });
}

/** A receipt, its signature, and the key that should have signed it. */
export type VerifyReceiptParameters = SignReceiptParameters & {
  signature: Hex;
  /** The expected receipt signer (the proxy's key, e.g. `deployment.receiptSigner`). */
  signer: Address;
};

/**
 * Whether `signature` is `signer`'s signature of the receipt, by the rules the reputation contract
 * applies: 65 bytes, `v` of 27 or 28, low `s`. Never throws; a malformed signature is `false`.
 *
 * @example
 * const ok = await verifyReceipt({ chainId: 8453, reputation: deployment.reputation, receipt, signature, signer: deployment.receiptSigner });
 * if (!ok) throw new Error("the proxy did not sign this receipt");
 */
export function verifyReceipt({ chainId, reputation, receipt, signature, signer }: VerifyReceiptParameters): Promise<boolean> {
  return receiptMessage.verify({ domain: { chainId, reputation }, message: receipt, signature, signer });
}

/**
 * A payer's feedback on a call, signed for a relayer to submit with `giveFeedbackBySig`. Mirrors
 * `VoucherHash.FEEDBACK_TYPEHASH`.
 *
 * @example
 * hashTypedData({ domain: receiptDomain({ chainId, reputation }), types: feedbackTypes, primaryType: "Feedback", message });
 */
export const feedbackTypes = {
  Feedback: [
    { name: "requestId", type: "bytes32" },
    { name: "score", type: "uint8" },
    { name: "tags", type: "string[]" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/** What a payer says about a call, and until when a relayer may submit it. */
export type Feedback = {
  /** The receipt's `requestId`. */
  requestId: Hex;
  /** 0 to 100. */
  score: number;
  /** At most 5 tags of at most 32 bytes (UTF-8) each. */
  tags: readonly string[];
  /** The last Unix second at which the feedback may be submitted. */
  deadline: bigint;
};

/** Relayed feedback's typed data, as a signer receives it. */
export type FeedbackTypedData = {
  domain: ReturnType<typeof receiptDomain>;
  types: typeof feedbackTypes;
  primaryType: "Feedback";
  message: Feedback;
};

/** Anything that can sign feedback: the payer's key or its smart wallet's owner (see {@link TypedDataSigner}). */
export type FeedbackSigner = TypedDataSigner<FeedbackTypedData>;

/** Feedback and the reputation contract it is for. */
export type SignFeedbackParameters = {
  chainId: number;
  reputation: Address;
  feedback: Feedback;
};

const feedbackMessage = typedMessage<Feedback>()({ domain: receiptDomain, types: feedbackTypes, primaryType: "Feedback" });

/**
 * The typed data of relayed feedback, for signing or hashing.
 *
 * @example
 * hashTypedData(feedbackTypedData({ chainId: 31337, reputation, feedback: { requestId, score: 90, tags: ["fast"], deadline } }));
 */
export function feedbackTypedData({ chainId, reputation, feedback }: SignFeedbackParameters): FeedbackTypedData {
  return feedbackMessage.typedData({ domain: { chainId, reputation }, message: feedback });
}

/**
 * Signs feedback as the payer, for anyone to relay with `giveFeedbackBySig` (so an agent without
 * gas can rate a call). The signer must be the receipt's `payer`.
 *
 * @example
 * const signature = await signFeedback(agent, {
 *   chainId: 8453,
 *   reputation: deployment.reputation,
 *   feedback: { requestId: receipt.requestId, score: 90, tags: ["fast", "accurate"], deadline: now + 3_600n },
 * });
 */
export function signFeedback(signer: FeedbackSigner, { chainId, reputation, feedback }: SignFeedbackParameters): Promise<Hex> {
  return feedbackMessage.sign(signer, { domain: { chainId, reputation }, message: feedback });
}
