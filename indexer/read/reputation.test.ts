import { describe, expect, it } from "vitest";

import { reputationScore } from "./reputation.ts";

const inputs = (served: number, failed: number, ratings = 0, sum = 0) => ({
  callsServed: BigInt(served),
  callsFailed: BigInt(failed),
  feedbackCount: BigInt(ratings),
  feedbackScoreSum: BigInt(sum),
});

describe("reputationScore", () => {
  it("is null without any evidence", () => {
    expect(reputationScore(inputs(0, 0))).toBeNull();
  });

  it("keeps a new service with three perfect calls below an established 95% one", () => {
    const newcomer = reputationScore(inputs(3, 0, 3, 300)) as number;
    const established = reputationScore(inputs(4_750, 250, 400, 36_000)) as number;
    expect(newcomer).toBeCloseTo((3 * 1 + 20 * 0.5) / 23, 10);
    expect(established).toBeGreaterThan(0.9);
    expect(newcomer).toBeLessThan(established);
  });

  it("moves toward the observed quality as calls accumulate", () => {
    const scores = [10, 100, 1_000, 10_000].map((n) => reputationScore(inputs(n, 0)) as number);
    for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeGreaterThan(scores[i - 1] as number);
    expect(scores[3]).toBeGreaterThan(0.99);
    const failing = reputationScore(inputs(100, 900)) as number;
    expect(failing).toBeLessThan(0.2);
  });

  it("blends feedback with the success rate", () => {
    const loved = reputationScore(inputs(500, 0, 50, 5_000)) as number;
    const disliked = reputationScore(inputs(500, 0, 50, 1_000)) as number;
    expect(loved).toBeGreaterThan(disliked);
    // 0.6 · 1 + 0.4 · 0.2 = 0.68 observed, shrunk by 20 prior calls at 0.5.
    expect(disliked).toBeCloseTo((500 * 0.68 + 10) / 520, 10);
  });

  it("rates from feedback alone before any settlement", () => {
    expect(reputationScore(inputs(0, 0, 2, 200))).toBeCloseTo((2 + 10) / 22, 10);
  });
});
