import type { FastifySchemaValidationError } from "fastify";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BaseError, ContractFunctionRevertedError, WaitForTransactionReceiptTimeoutError, createPublicClient, getAddress, http, isAddressEqual, parseSignature, recoverTypedDataAddress } from "viem";
import type { Address, Hex } from "viem";
import { Type } from "typebox";

import { agentTabEscrowAbi, fiatTokenAbi, permitTypes, receiveWithAuthorizationTypes, usdcAbi, usdcDomain } from "@agenttab/sdk";

import { ApiError } from "../errors.ts";
import type { Relayer } from "../plugins/relayer.ts";
import { AddressString, ErrorResponse } from "../services/schemas.ts";

/** The escrow keeps balances in 128 bits. */
const MAX_DEPOSIT = 2n ** 128n - 1n;
/** A signature must stay valid at least this long, or it may expire while the transaction is mined. */
const MIN_VALIDITY_SECONDS = 30n;

const Amount = Type.String({ pattern: "^[1-9][0-9]{0,38}$", description: "USDC atomic units, decimal, above 0" });
const UnixSeconds = Type.String({ pattern: "^[0-9]{1,20}$", description: "Unix seconds, decimal" });
const Bytes32 = Type.String({ pattern: "^0x[0-9a-fA-F]{64}$" });
/** 65 bytes for a key; longer for a smart-contract wallet's ERC-1271 signature. */
const SignatureBytes = Type.String({ pattern: "^0x([0-9a-fA-F]{2}){65,2048}$" });
const EcdsaSignature = Type.String({ pattern: "^0x[0-9a-fA-F]{130}$", description: "65-byte ECDSA signature" });

/** `POST /v1/deposits/authorization`: USDC's EIP-3009 `ReceiveWithAuthorization`, with `to` = the escrow. */
const AuthorizationBody = Type.Object(
  { from: AddressString, value: Amount, validAfter: UnixSeconds, validBefore: UnixSeconds, nonce: Bytes32, signature: SignatureBytes },
  { additionalProperties: false },
);

/** `POST /v1/deposits/permit`: an EIP-2612 `Permit` for the escrow, signed with `owner`'s current USDC nonce. */
const PermitBody = Type.Object({ owner: AddressString, value: Amount, deadline: UnixSeconds, signature: EcdsaSignature }, { additionalProperties: false });

const DepositResponse = Type.Object({
  hash: Type.String(),
  blockNumber: Type.String(),
  gasUsed: Type.String(),
  account: Type.String(),
  amount: Type.String(),
});

const errorResponses = { 400: ErrorResponse, 403: ErrorResponse, 422: ErrorResponse, 503: ErrorResponse, 504: ErrorResponse };

const fieldCodes: Record<string, string> = { value: "invalid_amount", signature: "invalid_signature", from: "invalid_address", owner: "invalid_address" };

function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const [first] = errors;
  const field = first?.instancePath.split("/")[1] ?? "";
  return new ApiError({ status: 400, code: fieldCodes[field] ?? "invalid_request", message: `${dataVar}${first?.instancePath ?? ""} ${first?.message ?? "is invalid"}` });
}

// The escrow's custom errors; USDC (FiatToken) reverts with strings, which viem decodes as such.
const depositAbi = agentTabEscrowAbi;

/**
 * Gasless deposits: the agent signs, the API's relayer pays the gas. The funds always land in the
 * signer's own escrow account. Every request is checked off-chain first (signature, validity
 * window, the relayer's minimum) and then simulated, so a bad one costs nobody anything.
 *
 *   POST /v1/deposits/authorization   EIP-3009 ReceiveWithAuthorization → depositWithAuthorization
 *   POST /v1/deposits/permit          EIP-2612 Permit → depositWithPermit
 */
const deposits: FastifyPluginAsyncTypebox = async (app) => {
  const { chainId, escrow, usdc } = app.config.deployment;
  const domain = usdcDomain({ chainId, usdc });
  const publicClient = createPublicClient({ transport: http(app.config.rpcUrl, { timeout: 10_000 }) });

  app.post(
    "/v1/deposits/authorization",
    {
      schema: { summary: "Relay a gasless deposit signed as a USDC ReceiveWithAuthorization", tags: ["deposits"], body: AuthorizationBody, response: { 201: DepositResponse, ...errorResponses } },
      schemaErrorFormatter,
    },
    async (request, reply) => {
      const relayer = requireRelayer(app.relayer);
      const body = request.body;
      const from = getAddress(body.from);
      const value = depositAmount(body.value, app.config.minRelayedDeposit);
      const validAfter = BigInt(body.validAfter);
      const validBefore = BigInt(body.validBefore);
      const now = nowSeconds();
      if (validAfter >= now) throw refuse("authorization_not_yet_valid", `The authorization is valid only after ${validAfter}.`);
      if (validBefore < now + MIN_VALIDITY_SECONDS) throw refuse("authorization_expired", `The authorization must stay valid for at least ${MIN_VALIDITY_SECONDS} s more.`);
      const message = { from, to: escrow, value, validAfter, validBefore, nonce: body.nonce as Hex };
      const signature = body.signature as Hex;
      await checkSignature(from, signature, () => recoverTypedDataAddress({ domain, types: receiveWithAuthorizationTypes, primaryType: "ReceiveWithAuthorization", message, signature }));
      await checkNotBlacklisted(from);
      const write = {
        address: escrow,
        abi: depositAbi,
        functionName: "depositWithAuthorization",
        args: [from, value, validAfter, validBefore, message.nonce, signature],
      } as const;
      const result = await relay(relayer, write, "authorization_rejected");
      return reply.status(201).send({ ...result, account: from, amount: value.toString() });
    },
  );

  app.post(
    "/v1/deposits/permit",
    {
      schema: { summary: "Relay a gasless deposit signed as a USDC permit", tags: ["deposits"], body: PermitBody, response: { 201: DepositResponse, ...errorResponses } },
      schemaErrorFormatter,
    },
    async (request, reply) => {
      const relayer = requireRelayer(app.relayer);
      const body = request.body;
      const owner = getAddress(body.owner);
      const value = depositAmount(body.value, app.config.minRelayedDeposit);
      const deadline = BigInt(body.deadline);
      if (deadline < nowSeconds() + MIN_VALIDITY_SECONDS) throw refuse("permit_expired", `The permit must stay valid for at least ${MIN_VALIDITY_SECONDS} s more.`);
      const signature = body.signature as Hex;
      // Before the permit checks: a blacklisted owner's permit fails on-chain too, and the escrow
      // would report only PermitFailed.
      await checkNotBlacklisted(owner);
      const nonce = await chainRead(() => publicClient.readContract({ address: usdc, abi: usdcAbi, functionName: "nonces", args: [owner] }));
      const message = { owner, spender: escrow, value, nonce, deadline };
      const { r, s, v, yParity } = parseSignature(signature);
      const permitArgs = [owner, escrow, value, deadline, Number(v ?? 27n + BigInt(yParity)), r, s] as const;
      // The escrow itself now refuses a relayed deposit whose permit fails (PermitFailed: only the
      // owner's own call may fall back to its allowance); this check refuses it before any gas is
      // spent. A contract wallet's signature cannot be recovered, so its permit must succeed in an
      // eth_call.
      await checkSignature(
        owner,
        signature,
        () => recoverTypedDataAddress({ domain, types: permitTypes, primaryType: "Permit", message, signature }),
        async () => {
          try {
            await publicClient.simulateContract({ address: usdc, abi: usdcAbi, functionName: "permit", args: permitArgs });
            return true;
          } catch (error) {
            if (decodeRevert(error) === undefined) throw chainUnavailable();
            return false;
          }
        },
      );
      const write = {
        address: escrow,
        abi: depositAbi,
        functionName: "depositWithPermit",
        args: [owner, value, deadline, permitArgs[4], r, s],
      } as const;
      const result = await relay(relayer, write, "permit_rejected");
      return reply.status(201).send({ ...result, account: owner, amount: value.toString() });
    },
  );

  /**
   * USDC (FiatToken) refuses every transfer from or to a blacklisted address: say so plainly,
   * rather than relay a deposit the token will revert.
   */
  async function checkNotBlacklisted(account: Address) {
    const [accountListed, escrowListed] = await chainRead(() =>
      Promise.all([account, escrow].map((address) => publicClient.readContract({ address: usdc, abi: fiatTokenAbi, functionName: "isBlacklisted", args: [address] }))),
    );
    if (accountListed) throw accountBlacklisted(account);
    if (escrowListed) {
      throw new ApiError({ status: 503, code: "escrow_blacklisted", message: `USDC's issuer has blacklisted the escrow ${escrow}: no deposit can reach it until that is lifted. Nothing was sent.` });
    }
  }

  /**
   * The signature must recover to the signer. A smart-contract wallet's (ERC-1271) cannot be
   * recovered, so for an address with code `verifyOnChain` is the check when given (the simulation
   * of the deposit otherwise).
   */
  async function checkSignature(signer: Address, signature: Hex, recover: () => Promise<Address>, verifyOnChain?: () => Promise<boolean>) {
    const recovered = await recover().catch(() => undefined);
    if (recovered !== undefined && isAddressEqual(recovered, signer)) return;
    const code = await chainRead(() => publicClient.getCode({ address: signer }));
    if (code !== undefined && code !== "0x" && (verifyOnChain === undefined || (await verifyOnChain()))) return;
    throw new ApiError({
      status: 400,
      code: "invalid_signature",
      message: `The signature does not recover to ${signer}: sign exactly these fields under USDC's EIP-712 domain on chain ${chainId} (${usdc}), for the escrow ${escrow}.`,
    });
  }
};

export default deposits;

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

const refuse = (code: string, message: string, details?: Record<string, unknown>) =>
  new ApiError({ status: 400, code, message, ...(details ? { details } : {}) });

const accountBlacklisted = (account: Address) =>
  new ApiError({
    status: 403,
    code: "account_blacklisted",
    message: `USDC's issuer has blacklisted ${account}: the token refuses its transfers, so it cannot deposit. Nothing was sent.`,
    details: { account },
  });

const chainUnavailable = () =>
  new ApiError({ status: 503, code: "chain_unavailable", message: "The chain cannot be reached right now; nothing was sent. Try again shortly.", headers: { "retry-after": "2" } });

/** A chain read before anything is sent: an RPC failure is a 503 the client may retry, not a 500. */
async function chainRead<result>(read: () => Promise<result>): Promise<result> {
  try {
    return await read();
  } catch {
    throw chainUnavailable();
  }
}

function requireRelayer(relayer: Relayer | undefined): Relayer {
  if (relayer === undefined) {
    throw new ApiError({ status: 503, code: "relayer_unavailable", message: "This API relays no deposits; deposit from your own wallet (approve + deposit)." });
  }
  return relayer;
}

function depositAmount(text: string, minimum: bigint): bigint {
  const value = BigInt(text);
  if (value > MAX_DEPOSIT) throw refuse("invalid_amount", "value must be below 2^128.");
  if (value < minimum) {
    throw refuse("amount_below_minimum", `The relayer submits deposits of at least ${minimum}; deposit smaller amounts from your own wallet.`, { minimum: minimum.toString() });
  }
  return value;
}

/** Simulates (a revert answers 422 with the contract's decoded error and costs no gas), then sends. */
async function relay(
  relayer: Relayer,
  write: Parameters<Relayer["send"]>[0] & { functionName: "depositWithAuthorization" | "depositWithPermit" },
  rejectedCode: string,
): Promise<{ hash: string; blockNumber: string; gasUsed: string }> {
  const rejected = (error: unknown) => {
    const decoded = decodeRevert(error);
    if (decoded === undefined) throw error;
    // Blacklisted after the check above (FiatToken reverts with a string).
    if (/blacklisted/i.test(decoded.error)) return accountBlacklisted(write.args[0] as Address);
    return new ApiError({ status: 422, code: rejectedCode, message: `The chain refuses this deposit: ${decoded.error}`, details: decoded });
  };
  try {
    await relayer.simulate(write);
  } catch (error) {
    if (decodeRevert(error) === undefined) throw chainUnavailable();
    throw rejected(error);
  }
  let sent: Awaited<ReturnType<Relayer["send"]>>;
  try {
    // `send` simulates again inside the relayer's queue: a deposit that an earlier one in the queue
    // made invalid (the same authorization twice) is refused there, still without gas.
    sent = await relayer.send(write);
  } catch (error) {
    if (decodeRevert(error) !== undefined) throw rejected(error);
    throw unconfirmed(error);
  }
  const { hash, receipt } = sent;
  if (receipt.status !== "success") {
    throw new ApiError({ status: 422, code: rejectedCode, message: `The deposit transaction ${hash} reverted on-chain.`, details: { hash } });
  }
  return { hash, blockNumber: receipt.blockNumber.toString(), gasUsed: receipt.gasUsed.toString() };
}

/**
 * A send that failed other than by a revert (a receipt that never came, a replaced transaction, the
 * RPC failing mid-way): the deposit may or may not be on-chain. With the transaction's hash, 504
 * `deposit_unconfirmed` with `details.hash` (an error status, so no client takes it for a deposit); without one, 503 `deposit_status_unknown`. Never a 500.
 * Retrying the same signed deposit is safe either way: its permit nonce or authorization nonce can
 * be used once, so a second one is refused if the first landed.
 */
function unconfirmed(error: unknown): ApiError {
  const hash = transactionHashOf(error);
  if (hash !== undefined) {
    return new ApiError({
      status: 504,
      code: "deposit_unconfirmed",
      message: `The deposit transaction ${hash} was sent but its outcome is not confirmed yet; check its receipt or the escrow balance before signing another.`,
      details: { hash },
    });
  }
  return new ApiError({
    status: 503,
    code: "deposit_status_unknown",
    message: "The deposit could not be confirmed sent; check the escrow balance before retrying (the same signature cannot be used twice).",
    headers: { "retry-after": "2" },
  });
}

/** The hash of the transaction an error is about, when it names one (viem's receipt timeout, a replacement). */
function transactionHashOf(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const hash = (e as { hash?: unknown }).hash;
    if (typeof hash === "string" && /^0x[0-9a-fA-F]{64}$/.test(hash)) return hash;
  }
  // viem's receipt timeout names the hash only in its message.
  const timeout = error instanceof BaseError ? error.walk((e) => e instanceof WaitForTransactionReceiptTimeoutError) : undefined;
  return timeout instanceof Error ? /"(0x[0-9a-fA-F]{64})"/.exec(timeout.message)?.[1] : undefined;
}

/** The contract's custom error (name and arguments as text) or revert string, when the error is a revert. */
function decodeRevert(error: unknown): { error: string; args: string[] } | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined;
  // A revert string (FiatToken's) decodes as `Error(string)`: its text says more than "Error".
  const named = reverted.data?.errorName !== undefined && reverted.data.errorName !== "Error";
  return {
    error: named ? (reverted.data?.errorName ?? "reverted") : (reverted.reason ?? "reverted"),
    args: named ? (reverted.data?.args ?? []).map((arg) => String(arg)) : [],
  };
}
