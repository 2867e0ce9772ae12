import { bytesToHex, getAddress, hexToBytes, isAddress, isHex } from "viem";
import type { Address, Hex } from "viem";

import { ClaimEncodingError, ClaimsDecodingError } from "./errors.ts";

// The packed layouts of contracts/libraries/ClaimCodec.sol; a claim travels as
//   flags(1) account(20) [signer(20) when delegated] providerIndex(2) maxCumulative(16) cumulative(16) sigLen(2) sig
// (providerIndex indexes settle's `providers`) and BatchSettled logs each one as
//   flags(1) account(20) [signer(20) when delegated] provider(20) amount(16) cumulative(16)
const FLAG_DELEGATE = 1;
const ADDRESS_BYTES = 20;
const PROVIDER_INDEX_BYTES = 2;
const PROVIDER_INDEX_LIMIT = 1 << 16;
const UINT128_BYTES = 16;
const SIG_LENGTH_BYTES = 2;
const UINT128_LIMIT = 1n << 128n;
const SIG_LENGTH_LIMIT = 1 << 16;

/** One voucher claim of a settlement batch. */
export type Claim = {
  /** The escrow account debited. */
  account: Address;
  /** Who signed the voucher: the account itself (the default) or one of its delegates. */
  signer?: Address | undefined;
  /** The provider the voucher names, paid this claim's amount less the fee. */
  provider: Address;
  /** The voucher's signed cumulative maximum. */
  maxCumulative: bigint;
  /** The track's new claimed total (charged so far on (account, signer, provider)), at most `maxCumulative`. */
  cumulative: bigint;
  /** The voucher signature (65-byte ECDSA, or any length an ERC-1271 account accepts). */
  signature: Hex;
};

/** One claim as the escrow applied it, read from a `BatchSettled` event. */
export type SettledClaim = {
  account: Address;
  /** The account itself unless `delegated`. */
  signer: Address;
  /** The provider the voucher names. */
  provider: Address;
  /** What this batch debited from the account on this claim. */
  amount: bigint;
  /** The track's (account, signer, provider) claimed total after this batch. */
  cumulative: bigint;
  delegated: boolean;
};

/**
 * The providers of a batch, as `settle` wants them: each claim's provider once, checksummed,
 * ascending by address value.
 *
 * @throws {ClaimEncodingError} when a claim's provider is not an address.
 * @example
 * const providers = settlementProviders(claims);
 * const reports = providers.map((provider) => ({ provider, callsServed: served(provider), callsFailed: failed(provider) }));
 */
export function settlementProviders(claims: readonly Pick<Claim, "provider">[]): Address[] {
  const unique = new Map<string, Address>();
  for (const [index, { provider }] of claims.entries()) {
    if (!isAddress(provider, { strict: false })) {
      throw new ClaimEncodingError({ index, reason: `provider ${String(provider)} is not an address` });
    }
    unique.set(provider.toLowerCase(), getAddress(provider));
  }
  return [...unique.values()].sort((a, b) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/**
 * Packs claims into the `claims` bytes of `settle`, in the layout ClaimCodec.sol reads. A claim whose
 * `signer` is omitted or equals `account` is the account's own; any other signer is a delegate.
 * Each claim's provider is written as its index in `providers` (the list `settle` receives, e.g.
 * {@link settlementProviders}); the match is case-insensitive.
 *
 * @throws {ClaimEncodingError} when a claim's provider is not in `providers`, an amount does not
 * fit 128 bits, a signature is 65,536 bytes or longer, or an address or hex string is malformed.
 * @example
 * const claims = [
 *   { account: agent.address, provider: weather, maxCumulative: 5_000_000n, cumulative: 4_200_000n, signature },
 *   { account: team, signer: member.address, provider: search, maxCumulative: 900_000n, cumulative: 900_000n, signature: memberSig },
 * ];
 * const providers = settlementProviders(claims);
 * const reports = providers.map((provider) => ({ provider, callsServed: 0, callsFailed: 0 }));
 * await wallet.writeContract({ address: escrow, abi: agentTabEscrowAbi, functionName: "settle", args: [batchId, encodeClaims(claims, providers), reports] });
 */
export function encodeClaims(claims: readonly Claim[], providers: readonly Address[]): Hex {
  const indexOf = new Map<string, number>();
  for (const [i, provider] of providers.entries()) {
    if (typeof provider === "string" && !indexOf.has(provider.toLowerCase())) indexOf.set(provider.toLowerCase(), i);
  }
  const encoded = claims.map((claim, index) => encodeClaim(claim, index, indexOf));
  const out = new Uint8Array(encoded.reduce((total, bytes) => total + bytes.length, 0));
  let offset = 0;
  for (const bytes of encoded) {
    out.set(bytes, offset);
    offset += bytes.length;
  }
  return bytesToHex(out);
}

function encodeClaim(claim: Claim, index: number, providerIndexOf: ReadonlyMap<string, number>): Uint8Array {
  const fail = (reason: string) => new ClaimEncodingError({ index, reason });
  if (!isAddress(claim.account, { strict: false })) throw fail(`account ${String(claim.account)} is not an address`);
  if (claim.signer !== undefined && !isAddress(claim.signer, { strict: false })) {
    throw fail(`signer ${String(claim.signer)} is not an address`);
  }
  if (!isAddress(claim.provider, { strict: false })) throw fail(`provider ${String(claim.provider)} is not an address`);
  const providerIndex = providerIndexOf.get(claim.provider.toLowerCase());
  if (providerIndex === undefined) throw fail(`provider ${claim.provider} is not in the batch's providers`);
  if (providerIndex >= PROVIDER_INDEX_LIMIT) {
    throw fail(`provider ${claim.provider} is at index ${providerIndex}, the limit is ${PROVIDER_INDEX_LIMIT - 1}`);
  }
  checkUint128(claim.maxCumulative, "maxCumulative", fail);
  checkUint128(claim.cumulative, "cumulative", fail);
  if (!isHex(claim.signature, { strict: true }) || claim.signature.length % 2 !== 0) {
    throw fail("signature is not a hex byte string");
  }
  const signature = hexToBytes(claim.signature);
  if (signature.length >= SIG_LENGTH_LIMIT) {
    throw fail(`signature is ${signature.length} bytes, the limit is ${SIG_LENGTH_LIMIT - 1}`);
  }

  const delegated = claim.signer !== undefined && claim.signer.toLowerCase() !== claim.account.toLowerCase();
  const out = new Uint8Array(
    1 + ADDRESS_BYTES * (delegated ? 2 : 1) + PROVIDER_INDEX_BYTES + UINT128_BYTES * 2 + SIG_LENGTH_BYTES + signature.length,
  );
  let p = 0;
  out[p++] = delegated ? FLAG_DELEGATE : 0;
  out.set(hexToBytes(claim.account), p);
  p += ADDRESS_BYTES;
  if (delegated) {
    out.set(hexToBytes(claim.signer as Address), p);
    p += ADDRESS_BYTES;
  }
  out[p++] = providerIndex >> 8;
  out[p++] = providerIndex & 0xff;
  writeUint128(out, p, claim.maxCumulative);
  p += UINT128_BYTES;
  writeUint128(out, p, claim.cumulative);
  p += UINT128_BYTES;
  out[p++] = signature.length >> 8;
  out[p++] = signature.length & 0xff;
  out.set(signature, p);
  return out;
}

function checkUint128(value: unknown, field: string, fail: (reason: string) => Error): asserts value is bigint {
  if (typeof value !== "bigint") throw fail(`${field} must be a bigint`);
  if (value < 0n || value >= UINT128_LIMIT) throw fail(`${field} ${value} is outside [0, 2^128)`);
}

function writeUint128(out: Uint8Array, offset: number, value: bigint): void {
  let v = value;
  for (let i = UINT128_BYTES - 1; i >= 0; i--) {
    out[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function readUint128(bytes: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = 0; i < UINT128_BYTES; i++) v = (v << 8n) | BigInt(bytes[offset + i] as number);
  return v;
}

function readAddress(bytes: Uint8Array, offset: number): Address {
  return getAddress(bytesToHex(bytes.subarray(offset, offset + ADDRESS_BYTES)));
}

/**
 * Unpacks `settle`'s `claims` bytes, given the `providers` of the same call: the inverse of
 * {@link encodeClaims}, with `signer` always set and `provider` checksummed.
 *
 * @throws {ClaimsDecodingError} when the bytes are cut short, use a reserved flag, or name a
 * provider index outside `providers`.
 * @example
 * const providers = [weather];
 * const [first] = decodeClaims(encodeClaims([{ account, provider: weather, maxCumulative: 10n, cumulative: 7n, signature }], providers), providers);
 * first.signer === first.account; // true
 */
export function decodeClaims(data: Hex, providers: readonly Address[]): Required<Claim>[] {
  const bytes = hexToBytes(data);
  const claims: Required<Claim>[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const start = offset;
    const head = readHead(bytes, offset, PROVIDER_INDEX_BYTES + UINT128_BYTES * 2 + SIG_LENGTH_BYTES);
    offset = head.next;
    const providerIndex = ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
    const provider = providers[providerIndex];
    if (provider === undefined) {
      throw new ClaimsDecodingError({ offset: start, reason: `provider index ${providerIndex} is outside the ${providers.length} providers` });
    }
    offset += PROVIDER_INDEX_BYTES;
    const maxCumulative = readUint128(bytes, offset);
    const cumulative = readUint128(bytes, offset + UINT128_BYTES);
    offset += UINT128_BYTES * 2;
    const sigLength = ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
    offset += SIG_LENGTH_BYTES;
    if (offset + sigLength > bytes.length) throw new ClaimsDecodingError({ offset: start, reason: "signature cut short" });
    const signature = bytesToHex(bytes.subarray(offset, offset + sigLength));
    offset += sigLength;
    claims.push({ account: head.account, signer: head.signer, provider: getAddress(provider), maxCumulative, cumulative, signature });
  }
  return claims;
}

/**
 * Reads the `claims` bytes of a `BatchSettled` event: the provider each claim paid, what it debited
 * and the track's new claimed total.
 *
 * @throws {ClaimsDecodingError} when the bytes are cut short or use a reserved flag.
 * @example
 * const [log] = parseEventLogs({ abi: agentTabEscrowAbi, eventName: "BatchSettled", logs: receipt.logs });
 * for (const claim of decodeClaimsLog(log.args.claims)) {
 *   console.log(claim.account, claim.provider, claim.amount, claim.cumulative);
 * }
 */
export function decodeClaimsLog(data: Hex): SettledClaim[] {
  const bytes = hexToBytes(data);
  const entries: SettledClaim[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const head = readHead(bytes, offset, ADDRESS_BYTES + UINT128_BYTES * 2);
    offset = head.next;
    const provider = readAddress(bytes, offset);
    offset += ADDRESS_BYTES;
    entries.push({
      account: head.account,
      signer: head.signer,
      provider,
      amount: readUint128(bytes, offset),
      cumulative: readUint128(bytes, offset + UINT128_BYTES),
      delegated: head.delegated,
    });
    offset += UINT128_BYTES * 2;
  }
  return entries;
}

/** Reads `flags account [signer]` at `offset` and checks that `rest` more bytes follow. */
function readHead(bytes: Uint8Array, offset: number, rest: number) {
  const flags = bytes[offset] as number;
  if (flags > FLAG_DELEGATE) throw new ClaimsDecodingError({ offset, reason: `reserved flags 0x${flags.toString(16)}` });
  const delegated = flags === FLAG_DELEGATE;
  const headLength = 1 + ADDRESS_BYTES * (delegated ? 2 : 1);
  if (offset + headLength + rest > bytes.length) throw new ClaimsDecodingError({ offset, reason: "entry cut short" });
  const account = readAddress(bytes, offset + 1);
  const signer = delegated ? readAddress(bytes, offset + 1 + ADDRESS_BYTES) : account;
  return { account, signer, delegated, next: offset + headLength };
}
