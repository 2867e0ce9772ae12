/**
 * The L1 data fee an OP Stack chain (Base) charges a transaction since Fjord: the FastLZ-compressed
 * size of the signed transaction, put through a fixed linear regression, priced at the L1 base fee
 * and blob base fee with the chain's two scalars. Spec: specs.optimism.io, protocol/fjord/exec-engine
 * ("Fjord L1-Cost fee changes (FastLZ estimator)").
 */

/** Fjord's constants (the GasPriceOracle's `costIntercept`, `costFastlzCoef`, `minTransactionSize`); sizes scaled by 1e6. */
export const fjordCostConstants = {
  intercept: -42_585_600n,
  fastlzCoef: 836_500n,
  minTransactionSize: 100n,
} as const;

const SCALE = 1_000_000n;

/** FastLZ level 1 keeps one position per hash of 8,192 and reaches back at most 8,191 bytes. */
const HASH_BITS = 13;
const MAX_DISTANCE = 8_191;
/** A literal run is at most 32 bytes behind a one-byte header. */
const MAX_LITERALS = 32;
/** A match token codes at most 262 bytes of length; its short form (2 bytes) up to 6. */
const MAX_MATCH_LENGTH = 262;

/**
 * The length of `input` once compressed by FastLZ level 1 (`fastlz_compress`), counted without
 * writing the output: Fjord's `fastlzSize` when `input` is a signed, serialized transaction.
 *
 * @example
 * fastLzLength(new Uint8Array(100)); // 12: two literals, one long match, five literals
 */
export function fastLzLength(input: Uint8Array): number {
  const length = input.length;
  // The last position at which a match may be looked up: FastLZ stops 13 bytes before the end
  // (inputs shorter than that are all literals).
  const bound = length < 13 ? 0 : length - 13;
  const lastSeen = new Uint32Array(1 << HASH_BITS);
  const triple = (at: number) => input[at]! | (input[at + 1]! << 8) | (input[at + 2]! << 16);
  // Knuth's multiplicative hash of the three bytes, in 32-bit arithmetic as FastLZ does it.
  const bucket = (sequence: number) => (Math.imul(sequence, 2_654_435_769) >>> (32 - HASH_BITS)) & ((1 << HASH_BITS) - 1);
  const remember = (at: number) => {
    lastSeen[bucket(triple(at))] = at;
  };

  let size = 0;
  const literals = (count: number) => {
    size += Math.floor(count / MAX_LITERALS) * (MAX_LITERALS + 1);
    const rest = count % MAX_LITERALS;
    if (rest > 0) size += rest + 1;
  };
  const match = (codedLength: number) => {
    const tokenLength = codedLength - 1;
    size += 3 * Math.floor(tokenLength / MAX_MATCH_LENGTH) + (tokenLength % MAX_MATCH_LENGTH >= 6 ? 3 : 2);
  };

  let anchor = 0; // the first byte not yet coded
  let position = 2;
  // A match is taken at positions up to bound - 2: FastLZ advances past a candidate before it
  // tests the bound, so one found at bound - 1 ends the loop unused.
  search: while (position < bound - 1) {
    let reference: number;
    for (;;) {
      const sequence = triple(position);
      const slot = bucket(sequence);
      reference = lastSeen[slot]!;
      lastSeen[slot] = position;
      if (position - reference <= MAX_DISTANCE && sequence === triple(reference)) break;
      position += 1;
      if (position >= bound - 1) break search;
    }
    if (position > anchor) literals(position - anchor);
    // Bytes equal beyond the three hashed ones, compared up to 4 bytes before the end; FastLZ's
    // compare loop steps past the first difference, so a match that stops early codes one more.
    const room = bound + 9 - (position + 3);
    let equal = 0;
    while (equal < room && input[reference + 3 + equal] === input[position + 3 + equal]) equal += 1;
    const codedLength = equal < room ? equal + 1 : room;
    match(codedLength);
    position += codedLength;
    remember(position);
    remember(position + 1);
    position += 2;
    anchor = position;
  }
  literals(length - anchor);
  return size;
}

/** What the L1 fee is priced at: the chain's current L1 attributes (all in wei, scalars scaled by 1e6). */
export type FjordFeeParameters = {
  /** L1 base fee per gas of the L2 block's L1 origin. */
  l1BaseFee: bigint;
  /** L1 blob base fee per blob gas of the same origin. */
  blobBaseFee: bigint;
  /** The chain's `baseFeeScalar` (SystemConfig), scaled by 1e6. */
  baseFeeScalar: bigint;
  /** The chain's `blobBaseFeeScalar` (SystemConfig), scaled by 1e6. */
  blobBaseFeeScalar: bigint;
};

export type FjordL1FeeParameters = FjordFeeParameters & {
  /** FastLZ length of the signed serialized transaction ({@link fastLzLength}). */
  fastlzSize: number | bigint;
};

export type FjordL1FeeReturnType = {
  /** max(minTransactionSize·1e6, intercept + fastlzCoef·fastlzSize): the estimated size in bytes, scaled by 1e6. */
  estimatedSizeScaled: bigint;
  /** The L1 data fee in wei (rounded down, as the chain does). */
  l1Fee: bigint;
};

/**
 * Fjord's L1 data fee of a transaction whose signed bytes compress to `fastlzSize` bytes:
 * `l1Fee = estimatedSizeScaled · (baseFeeScalar·l1BaseFee·16 + blobBaseFeeScalar·blobBaseFee) / 1e12`.
 *
 * @example
 * fjordL1Fee({ fastlzSize: 100, l1BaseFee: 10n ** 9n, blobBaseFee: 1n, baseFeeScalar: 1_000_000n, blobBaseFeeScalar: 0n });
 * // { estimatedSizeScaled: 100_000_000n, l1Fee: 1_600_000_000_000n } — the 100-byte floor at 16 gas a byte
 */
export function fjordL1Fee({ fastlzSize, l1BaseFee, blobBaseFee, baseFeeScalar, blobBaseFeeScalar }: FjordL1FeeParameters): FjordL1FeeReturnType {
  const { intercept, fastlzCoef, minTransactionSize } = fjordCostConstants;
  const regression = intercept + fastlzCoef * BigInt(fastlzSize);
  const floor = minTransactionSize * SCALE;
  const estimatedSizeScaled = regression > floor ? regression : floor;
  const l1FeeScaled = baseFeeScalar * l1BaseFee * 16n + blobBaseFeeScalar * blobBaseFee;
  return { estimatedSizeScaled, l1Fee: (estimatedSizeScaled * l1FeeScaled) / (SCALE * SCALE) };
}
