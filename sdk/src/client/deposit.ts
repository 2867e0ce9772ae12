import { bytesToHex, isAddressEqual, parseSignature } from "viem";
import type { Address, Hash, Hex } from "viem";

import { agentTabEscrowAbi, usdcAbi } from "../generated/abis.ts";
import { permitTypes, receiveWithAuthorizationTypes, usdcDomain } from "../typedData.ts";
import { ChainAccessError } from "./chainErrors.ts";
import { getChainTime, requirePublicClient, sendContractWrite } from "./chain.ts";
import type { ChainAccess, TransactionResult } from "./chain.ts";
import { ApiRequestError } from "./errors.ts";
import { apiUrlOf, postJson } from "./http.ts";

/** How a deposit reaches the escrow. */
export type DepositMethod = "authorization" | "permit" | "approve";

/** Progress of a deposit, for a spinner: each step once, in order (`approving` only when an approval is sent). */
export type DepositStatus =
  | { step: "signing"; method: DepositMethod }
  | { step: "submitting"; method: DepositMethod; relayed: boolean }
  | { step: "approving"; hash: Hash }
  | { step: "submitted"; hash: Hash }
  | { step: "mined"; hash: Hash; blockNumber: bigint }
  | { step: "indexed"; deposited: bigint };

/** Options of `AgentTabClient.deposit`. */
export type DepositParameters = {
  /**
   * "auto" (default): a gasless EIP-3009 authorization relayed by the API when it has a relayer
   * (and the amount is not below its minimum), else approve + deposit from the signer's wallet.
   * "permit": an EIP-2612 permit, relayed by the API when it can, else sent by the signer.
   */
  method?: "auto" | DepositMethod;
  onStatus?: (status: DepositStatus) => void;
  /** Resolve only once the API's balance shows the deposit (polls the indexed balance). */
  waitForIndexer?: boolean | { timeoutMs?: number };
  /** How long a signed authorization or permit stays valid, in seconds of the chain's clock (`getChainTime`); 1 hour by default. */
  validForSeconds?: number;
};

/** A mined deposit. `gasUsed` is what the agent paid for when `relayed` is false (approval included). */
export type DepositResult = TransactionResult & { method: DepositMethod; relayed: boolean };

/** What a deposit needs to know about the client. */
export type DepositContext = {
  apiUrl: string;
  fetch: typeof globalThis.fetch;
  /** Signs the USDC typed data (EIP-3009, EIP-2612): any wallet does. */
  signer: { address: Address; signTypedData: (typedData: never) => Promise<Hex> };
  /** The escrow account credited. */
  account: Address;
  chainId: number;
  escrow: Address;
  usdc: Address;
  /** The API's relayer, or null when it has none. */
  relayer: Address | null;
  access: ChainAccess;
};

type SignAny = (typedData: unknown) => Promise<Hex>;

/**
 * Deposits `amount` (USDC atomic units) into the escrow account by the chosen method.
 *
 * @example
 * const result = await deposit(context, 10_000_000n, { method: "auto", onStatus: (s) => console.log(s.step) });
 */
export async function deposit(context: DepositContext, amount: bigint, { method = "auto", onStatus, validForSeconds = 3_600 }: DepositParameters): Promise<DepositResult> {
  const report = onStatus ?? (() => {});
  if (method === "authorization") return depositByAuthorization(context, amount, { report, validForSeconds });
  if (method === "permit") return depositByPermit(context, amount, { report, validForSeconds });
  if (method === "approve") return depositByApproval(context, amount, { report });
  if (context.relayer !== null && ownAccount(context)) {
    try {
      return await depositByAuthorization(context, amount, { report, validForSeconds });
    } catch (error) {
      // Below the relayer's minimum, the agent's own wallet may still deposit, paying its gas.
      const canSend = context.access.walletClient !== undefined;
      if (!(error instanceof ApiRequestError && error.code === "amount_below_minimum" && canSend)) throw error;
    }
  }
  return depositByApproval(context, amount, { report });
}

const ownAccount = ({ signer, account }: DepositContext) => isAddressEqual(signer.address, account);

function requireOwnAccount(context: DepositContext, method: DepositMethod) {
  if (!ownAccount(context)) {
    throw new ChainAccessError({ missing: "walletSigner", action: `deposit by ${method} into another account (${context.account}); use method "approve"` });
  }
}

async function depositByAuthorization(
  context: DepositContext,
  amount: bigint,
  { report, validForSeconds }: { report: (status: DepositStatus) => void; validForSeconds: number },
): Promise<DepositResult> {
  requireOwnAccount(context, "authorization");
  const { signer, chainId, escrow, usdc, access } = context;
  report({ step: "signing", method: "authorization" });
  const message = {
    from: signer.address,
    to: escrow,
    value: amount,
    validAfter: 0n,
    // USDC checks it against the block's timestamp, not the local clock.
    validBefore: (await getChainTime(access)) + BigInt(validForSeconds),
    nonce: bytesToHex(crypto.getRandomValues(new Uint8Array(32))),
  };
  const signature = await (signer.signTypedData as SignAny)({
    domain: usdcDomain({ chainId, usdc }),
    types: receiveWithAuthorizationTypes,
    primaryType: "ReceiveWithAuthorization",
    message,
  });
  report({ step: "submitting", method: "authorization", relayed: true });
  const relayed = await postRelayed(context, "/v1/deposits/authorization", {
    from: message.from,
    value: amount.toString(),
    validAfter: message.validAfter.toString(),
    validBefore: message.validBefore.toString(),
    nonce: message.nonce,
    signature,
  });
  report({ step: "submitted", hash: relayed.hash });
  report({ step: "mined", hash: relayed.hash, blockNumber: relayed.blockNumber });
  return { method: "authorization", relayed: true, ...relayed };
}

async function depositByPermit(
  context: DepositContext,
  amount: bigint,
  { report, validForSeconds }: { report: (status: DepositStatus) => void; validForSeconds: number },
): Promise<DepositResult> {
  requireOwnAccount(context, "permit");
  const { signer, chainId, escrow, usdc, access } = context;
  const publicClient = requirePublicClient(access, "sign a permit (it reads the USDC nonce)");
  const nonce = await publicClient.readContract({ address: usdc, abi: usdcAbi, functionName: "nonces", args: [signer.address] });
  // Checked against the block's timestamp, not the local clock.
  const deadline = (await getChainTime(access)) + BigInt(validForSeconds);
  report({ step: "signing", method: "permit" });
  const signature = await (signer.signTypedData as SignAny)({
    domain: usdcDomain({ chainId, usdc }),
    types: permitTypes,
    primaryType: "Permit",
    message: { owner: signer.address, spender: escrow, value: amount, nonce, deadline },
  });
  if (context.relayer !== null) {
    report({ step: "submitting", method: "permit", relayed: true });
    const relayed = await postRelayed(context, "/v1/deposits/permit", { owner: signer.address, value: amount.toString(), deadline: deadline.toString(), signature });
    report({ step: "submitted", hash: relayed.hash });
    report({ step: "mined", hash: relayed.hash, blockNumber: relayed.blockNumber });
    return { method: "permit", relayed: true, ...relayed };
  }
  const { r, s, v, yParity } = parseSignature(signature);
  report({ step: "submitting", method: "permit", relayed: false });
  const { hash, receipt } = await sendContractWrite(
    access,
    { address: escrow, abi: agentTabEscrowAbi, functionName: "depositWithPermit", args: [signer.address, amount, deadline, Number(v ?? 27n + BigInt(yParity)), r, s] },
    "deposit with a permit (no relayer: the signer sends it)",
  );
  report({ step: "submitted", hash });
  report({ step: "mined", hash, blockNumber: receipt.blockNumber });
  return { method: "permit", relayed: false, hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
}

async function depositByApproval(context: DepositContext, amount: bigint, { report }: { report: (status: DepositStatus) => void }): Promise<DepositResult> {
  const { signer, account, escrow, usdc, access } = context;
  const publicClient = requirePublicClient(access, "deposit from the signer's wallet");
  if (access.walletClient === undefined) throw new ChainAccessError({ missing: "walletSigner", action: "deposit from the signer's wallet" });
  report({ step: "signing", method: "approve" });
  let gasUsed = 0n;
  const allowance = await publicClient.readContract({ address: usdc, abi: usdcAbi, functionName: "allowance", args: [signer.address, escrow] });
  if (allowance < amount) {
    const approval = await sendContractWrite(access, { address: usdc, abi: usdcAbi, functionName: "approve", args: [escrow, amount] }, "approve the escrow");
    report({ step: "approving", hash: approval.hash });
    gasUsed += approval.receipt.gasUsed;
  }
  report({ step: "submitting", method: "approve", relayed: false });
  const write = isAddressEqual(signer.address, account)
    ? ({ address: escrow, abi: agentTabEscrowAbi, functionName: "deposit", args: [amount] } as const)
    : ({ address: escrow, abi: agentTabEscrowAbi, functionName: "depositFor", args: [account, amount] } as const);
  const { hash, receipt } = await sendContractWrite(access, write, "deposit");
  report({ step: "submitted", hash });
  report({ step: "mined", hash, blockNumber: receipt.blockNumber });
  return { method: "approve", relayed: false, hash, blockNumber: receipt.blockNumber, gasUsed: gasUsed + receipt.gasUsed };
}

async function postRelayed(context: DepositContext, path: string, body: Record<string, string>): Promise<TransactionResult> {
  const { body: answer } = await postJson(context.fetch, apiUrlOf(context.apiUrl, path), body);
  const { hash, blockNumber, gasUsed } = answer as { hash: Hash; blockNumber: string; gasUsed: string };
  return { hash, blockNumber: BigInt(blockNumber), gasUsed: BigInt(gasUsed) };
}
