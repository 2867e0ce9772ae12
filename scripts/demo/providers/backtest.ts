import type { DailyClose } from "./prices.ts";
import type { JsonRequest, JsonResponse } from "./jsonServer.ts";

/** Header the backtest reports its usage in: one unit per simulated day (metered pricing). */
export const BACKTEST_USAGE_HEADER = "x-usage-days";

/**
 * A moving-average crossover backtest over closes: long while the fast average is above the slow
 * one, flat otherwise; returns the strategy's and buy-and-hold's return and the max drawdown.
 *
 * @example
 * backtestCrossover(days, { fast: 10, slow: 30 }); // { trades: 9, returnPct: 12.3, … }
 */
export function backtestCrossover(days: readonly DailyClose[], { fast, slow }: { fast: number; slow: number }) {
  const closes = days.map((d) => d.close);
  const mean = (end: number, n: number) => closes.slice(end - n + 1, end + 1).reduce((a, b) => a + b, 0) / n;
  let equity = 1;
  let peak = 1;
  let maxDrawdown = 0;
  let long = false;
  let trades = 0;
  for (let i = slow; i < closes.length; i++) {
    if (long) equity *= (closes[i] as number) / (closes[i - 1] as number);
    peak = Math.max(peak, equity);
    maxDrawdown = Math.max(maxDrawdown, 1 - equity / peak);
    const wantLong = mean(i, fast) > mean(i, slow);
    if (wantLong !== long) {
      long = wantLong;
      trades += 1;
    }
  }
  const pct = (x: number) => Math.round(x * 10_000) / 100;
  const first = closes[slow - 1] ?? closes[0] ?? 1;
  return { days: Math.max(0, closes.length - slow), trades, returnPct: pct(equity - 1), buyAndHoldPct: pct((closes.at(-1) ?? first) / first - 1), maxDrawdownPct: pct(maxDrawdown) };
}

/**
 * The backtest provider: `POST /backtest { fast, slow, from?, to? }`, metered by simulated days.
 *
 * @example
 * await serveJson(backtestHandler(loadPriceSeries().days));
 */
export function backtestHandler(days: readonly DailyClose[]) {
  return ({ method, url, body }: JsonRequest): JsonResponse => {
    if (method !== "POST" || url.pathname !== "/backtest") return { status: 404, body: { error: "not_found" } };
    const { fast, slow, from = "0000-00-00", to = "9999-99-99" } = (body ?? {}) as { fast?: unknown; slow?: unknown; from?: string; to?: string };
    if (!Number.isInteger(fast) || !Number.isInteger(slow) || (fast as number) < 1 || (slow as number) <= (fast as number) || (slow as number) > 200) {
      return { status: 400, body: { error: "fast and slow must be integers with 1 ≤ fast < slow ≤ 200" } };
    }
    const window = days.filter((d) => d.date >= from && d.date <= to);
    const result = backtestCrossover(window, { fast: fast as number, slow: slow as number });
    return { body: { strategy: `sma(${fast}) × sma(${slow})`, ...result }, headers: { [BACKTEST_USAGE_HEADER]: String(result.days) } };
  };
}
