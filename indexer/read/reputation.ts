/**
 * Reputation from on-chain inputs only, so anyone can recompute it from the events:
 *
 * - calls served and failed, per provider, reported in every settlement (`ProviderCredited`);
 * - feedback scores (0–100) that paying agents left on the reputation contract, each tied to a
 *   receipt the proxy signed for a paid call, at most once per call (`FeedbackGiven`).
 *
 * The score is a Bayesian average that starts every service at a neutral prior and moves toward
 * its observed quality as evidence (settled calls) accumulates:
 *
 *   successRate = served / (served + failed)
 *   observed    = successRate                                   when there is no feedback
 *               = 0.6 · successRate + 0.4 · meanFeedback / 100  otherwise
 *   score       = (n · observed + K · PRIOR) / (n + K),  n = served + failed (+ feedback count when
 *                 there are no settled calls yet), K = 20, PRIOR = 0.5
 *
 * So a new service with three flawless calls scores (3 + 10) / 23 ≈ 0.57 and cannot outrank an
 * established one with thousands of calls at 95% (≈ 0.95). With no calls and no feedback the
 * service is unrated (null), which discovery shows as such.
 */
export const REPUTATION_PRIOR = 0.5;
export const REPUTATION_PRIOR_WEIGHT = 20;
export const SUCCESS_WEIGHT = 0.6;

/** The evidence behind a service's reputation. */
export type ReputationInputs = {
  callsServed: bigint;
  callsFailed: bigint;
  feedbackCount: bigint;
  /** Σ of feedback scores, each 0–100. */
  feedbackScoreSum: bigint;
};

/**
 * The 0–1 reputation score, or null when there is no evidence at all.
 *
 * @example
 * reputationScore({ callsServed: 3n, callsFailed: 0n, feedbackCount: 0n, feedbackScoreSum: 0n }); // ≈ 0.565
 */
export function reputationScore({ callsServed, callsFailed, feedbackCount, feedbackScoreSum }: ReputationInputs): number | null {
  const calls = Number(callsServed + callsFailed);
  const ratings = Number(feedbackCount);
  if (calls === 0 && ratings === 0) return null;
  const meanFeedback = ratings === 0 ? undefined : Number(feedbackScoreSum) / ratings / 100;
  let observed: number;
  let evidence: number;
  if (calls === 0) {
    observed = meanFeedback as number;
    evidence = ratings;
  } else {
    const successRate = Number(callsServed) / calls;
    observed = meanFeedback === undefined ? successRate : SUCCESS_WEIGHT * successRate + (1 - SUCCESS_WEIGHT) * meanFeedback;
    evidence = calls;
  }
  return (evidence * observed + REPUTATION_PRIOR_WEIGHT * REPUTATION_PRIOR) / (evidence + REPUTATION_PRIOR_WEIGHT);
}
