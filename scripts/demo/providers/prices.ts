import { readFileSync } from "node:fs";
import path from "node:path";

import type { JsonRequest, JsonResponse } from "./jsonServer.ts";

/** One daily close of the bundled series. */
export type DailyClose = { date: string; close: number };

/**
 * The bundled ETH-USD daily series (a seeded random walk, not market data): deterministic, no
 * network needed.
 *
 * @example
 * const { days } = loadPriceSeries(); // 365 closes from 2025-01-01
 */
export function loadPriceSeries(): { symbol: string; days: DailyClose[] } {
  return JSON.parse(readFileSync(path.join(import.meta.dirname, "..", "data", "eth-usd-daily.json"), "utf8")) as { symbol: string; days: DailyClose[] };
}

/**
 * The price-series provider: `GET /series?from=YYYY-MM-DD&to=YYYY-MM-DD` (at most 366 closes).
 *
 * @example
 * await serveJson(pricesHandler(loadPriceSeries()));
 */
export function pricesHandler(series: { symbol: string; days: DailyClose[] }) {
  return ({ method, url }: JsonRequest): JsonResponse => {
    if (method !== "GET" || url.pathname !== "/series") return { status: 404, body: { error: "not_found" } };
    const from = url.searchParams.get("from") ?? "0000-00-00";
    const to = url.searchParams.get("to") ?? "9999-99-99";
    const days = series.days.filter((d) => d.date >= from && d.date <= to);
    return { body: { symbol: series.symbol, from: days[0]?.date ?? null, to: days.at(-1)?.date ?? null, days } };
  };
}
