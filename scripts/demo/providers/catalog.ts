import type { ProviderService } from "@agenttab/sdk";

import { backtestHandler, BACKTEST_USAGE_HEADER } from "./backtest.ts";
import { serveJson } from "./jsonServer.ts";
import type { ProviderServer } from "./jsonServer.ts";
import { loadPriceSeries, pricesHandler } from "./prices.ts";
import { sentimentHandler } from "./sentiment.ts";

/** A demo service: what its provider registers (its upstream running in this process). */
export type DemoService = Required<Omit<ProviderService, "discovery">> & Pick<ProviderService, "discovery"> & { tags: string[]; capabilities: string[] };

/** The demo's providers: their services, the switch that breaks the primary sentiment model, and a way to stop them all. */
export type DemoProviders = {
  services: DemoService[];
  /** Set `failing` to make `sentiment-pro` answer 503 (the quality gate's primary). */
  sentimentPro: { failing: boolean; engine?: string };
  close: () => Promise<void>;
};

/**
 * Starts the demo's small real provider APIs on 127.0.0.1 (deterministic, no network): two
 * sentiment models (a primary and its cheaper backup), a price series from a bundled file, and a
 * metered strategy backtest; returns what each provider registers.
 *
 * @example
 * const providers = await startDemoProviders();
 * // register providers.services[i] with a ProviderClient …
 * await providers.close();
 */
export async function startDemoProviders(): Promise<DemoProviders> {
  const series = loadPriceSeries();
  const sentimentPro = { failing: false, engine: "lexicon-pro" };
  const servers: ProviderServer[] = [];
  const serve = async (handler: Parameters<typeof serveJson>[0]) => {
    const server = await serveJson(handler);
    servers.push(server);
    return server.url;
  };
  const sentiment = (text: string) => JSON.stringify({ text });
  const services: DemoService[] = [
    {
      serviceId: "sentiment-pro",
      name: "Sentiment Pro",
      description: "Scores the sentiment of English text from -1 to 1.",
      category: "nlp",
      tags: ["sentiment", "text", "finance"],
      capabilities: ["sentiment"],
      pricing: "fixed",
      price: 20_000n,
      maxPrice: 20_000n,
      usageHeader: "",
      exampleInput: sentiment("ETH looks strong"),
      exampleOutput: JSON.stringify({ score: 0.5, label: "positive" }),
      upstreamUrl: await serve(sentimentHandler(sentimentPro)),
      discovery: { inputDescription: "The English text to score.", outputDescription: "score from -1 (negative) to 1 (positive), and its label." },
    },
    {
      serviceId: "sentiment-lite",
      name: "Sentiment Lite",
      description: "A cheaper sentiment scorer: the backup of Sentiment Pro.",
      category: "nlp",
      tags: ["sentiment", "text"],
      capabilities: ["sentiment"],
      pricing: "fixed",
      price: 10_000n,
      maxPrice: 10_000n,
      usageHeader: "",
      exampleInput: sentiment("ETH looks strong"),
      exampleOutput: JSON.stringify({ score: 0.5, label: "positive" }),
      upstreamUrl: await serve(sentimentHandler({ failing: false, engine: "lexicon-lite" })),
      discovery: { inputDescription: "The English text to score.", outputDescription: "score from -1 (negative) to 1 (positive), and its label." },
    },
    {
      serviceId: "eth-prices",
      name: "ETH daily prices",
      description: "Daily ETH-USD closes for 2025 (a bundled synthetic series).",
      category: "data",
      tags: ["prices", "crypto", "finance"],
      capabilities: ["timeseries"],
      pricing: "fixed",
      price: 50_000n,
      maxPrice: 50_000n,
      usageHeader: "",
      exampleInput: "",
      exampleOutput: JSON.stringify({ symbol: "ETH-USD", days: [{ date: "2025-01-01", close: 3056.92 }] }),
      upstreamUrl: await serve(pricesHandler(series)),
      discovery: { httpMethod: "GET", outputDescription: "The daily closes, oldest first." },
    },
    {
      serviceId: "sma-backtest",
      name: "SMA crossover backtest",
      description: "Backtests a moving-average crossover on ETH; metered per simulated day.",
      category: "finance",
      tags: ["backtest", "strategy", "finance"],
      capabilities: ["backtest"],
      pricing: "metered",
      price: 1_000n,
      maxPrice: 400_000n,
      usageHeader: BACKTEST_USAGE_HEADER,
      exampleInput: JSON.stringify({ fast: 10, slow: 30 }),
      exampleOutput: JSON.stringify({ trades: 9, returnPct: 12.3 }),
      upstreamUrl: await serve(backtestHandler(series.days)),
      discovery: { inputDescription: "fast and slow: the moving averages' windows, in days.", outputDescription: "The trades made and the return, in percent." },
    },
  ];
  return { services, sentimentPro, close: async () => void (await Promise.all(servers.map((s) => s.close()))) };
}
