import type { JsonRequest, JsonResponse } from "./jsonServer.ts";

// A tiny lexicon: enough for a deterministic demo, not a model.
const WEIGHTS: Record<string, number> = {
  good: 1, great: 2, excellent: 3, love: 2, strong: 1, up: 1, gain: 1, gains: 1, rally: 2, bullish: 2, beat: 1, win: 1, happy: 2, growth: 1,
  bad: -1, terrible: -3, awful: -3, hate: -2, weak: -1, down: -1, loss: -1, losses: -1, crash: -3, bearish: -2, miss: -1, fail: -2, sad: -2, risk: -1,
};
const NEGATORS = new Set(["not", "no", "never", "hardly"]);

/**
 * Scores text from −1 (negative) to 1 (positive) with a fixed lexicon; "not good" flips "good".
 *
 * @example
 * scoreSentiment("ETH looks strong, a great rally"); // { score: 0.71…, label: "positive", … }
 */
export function scoreSentiment(text: string) {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  let total = 0;
  const matched: string[] = [];
  words.forEach((word, i) => {
    const weight = WEIGHTS[word];
    if (weight === undefined) return;
    // "not good", "not a crash": a negator one or two words before flips the weight.
    const negated = NEGATORS.has(words[i - 1] ?? "") || NEGATORS.has(words[i - 2] ?? "");
    total += negated ? -weight : weight;
    matched.push(negated ? `not ${word}` : word);
  });
  const score = matched.length === 0 ? 0 : Math.max(-1, Math.min(1, total / (matched.length * 2)));
  const label = score > 0.15 ? "positive" : score < -0.15 ? "negative" : "neutral";
  return { score: Math.round(score * 1000) / 1000, label, matched, words: words.length };
}

/**
 * The sentiment provider: `POST /sentiment { text }`. `state.failing` makes it answer 503, so the
 * demo can show a quality gate rerouting to the backup and switching back.
 *
 * @example
 * const state = { failing: false };
 * await serveJson(sentimentHandler(state));
 */
export function sentimentHandler(state: { failing: boolean; engine?: string }) {
  return ({ method, url, body }: JsonRequest): JsonResponse => {
    if (state.failing) return { status: 503, body: { error: "model_unavailable" } };
    if (method !== "POST" || url.pathname !== "/sentiment") return { status: 404, body: { error: "not_found" } };
    const text = (body as { text?: unknown } | undefined)?.text;
    if (typeof text !== "string" || text.length === 0 || text.length > 10_000) return { status: 400, body: { error: "text must be a non-empty string of at most 10000 characters" } };
    return { body: { ...scoreSentiment(text), engine: state.engine ?? "lexicon-v1" } };
  };
}
