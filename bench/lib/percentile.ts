/**
 * The nearest-rank percentile of an ascending array: the smallest sample with at least `p` (0–1)
 * of the samples at or below it. NaN for no samples.
 *
 * @example
 * percentile(Float64Array.from([1, 2, 3, 4]), 0.5) // 2
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}
