/**
 * The benchmark's load generator, run as its own process so that it never shares an event loop
 * with a server under test: autocannon driven over IPC by bench/proxy.ts.
 *
 * Messages in: `{ type: "headers", headers }` (a pool of PAYMENT-SIGNATURE values, one per call,
 * consumed in order across runs) and `{ type: "run", id, url, connections, seconds, amount?, paid }`:
 * `amount` requests (every one answered before the run ends), or for `seconds` without one; with
 * an amount, `seconds` is a hard time bound. `url` may be a list: the connections and the amount
 * are then split evenly across the URLs (one autocannon each, sharing the voucher pool), and the
 * figures are over all of them.
 * Message out: `{ type: "result", id, ... }` with throughput and latency percentiles computed from
 * every response's own time (sub-millisecond; autocannon's histogram rounds to whole ms).
 */
import autocannon from "autocannon";
import type { RawRequest, Result as AutocannonResult } from "autocannon";

import { percentile } from "./percentile.ts";

export type LoadRun = { type: "run"; id: number; url: string | string[]; connections: number; seconds: number; amount?: number; paid: boolean };
export type LoadResult = {
  type: "result";
  id: number;
  responses: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  elapsed_s: number;
  /** Requests sent (some may be unanswered when a run is cut off by time). */
  sent: number;
  /** A run with an amount hit its time bound (so some sent requests may be unanswered). */
  timeBounded: boolean;
  status: Record<string, number>;
  errors: number;
  timeouts: number;
  /** PAYMENT-SIGNATURE headers handed out (including ones autocannon built but never sent). */
  headersUsed: number;
  /** The first few non-2xx answers' bodies (paid runs only: reading bodies costs the load generator). */
  failures: string[];
  /** The run stopped early because the voucher pool ran low. */
  poolExhausted: boolean;
  autocannon: { p50_ms: number; p99_ms: number; rps_avg: number };
};

let pool: string[] = [];
let next = 0;

async function run(message: LoadRun): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const status: Record<string, number> = {};
  const failures: string[] = [];
  const onResponse = (statusCode: number, body: string) => {
    if ((statusCode < 200 || statusCode > 299) && failures.length < 5) failures.push(`${statusCode} ${body.slice(0, 300)}`);
  };
  let poolExhausted = false;
  const usedBefore = next;
  const reserve = message.connections * 2;

  // No more URLs than connections (a one-connection run of a split target uses the first URL).
  const urls = (Array.isArray(message.url) ? message.url : [message.url]).slice(0, Math.max(1, message.connections));
  const share = (total: number, i: number) => Math.floor(total / urls.length) + (i < total % urls.length ? 1 : 0);
  const instances: ReturnType<typeof autocannon>[] = [];
  const stopAll = () => {
    for (const instance of instances) instance.stop();
  };
  for (const [i, url] of urls.entries()) {
    const instance = autocannon({
      url,
      connections: share(message.connections, i),
      pipelining: 1,
      ...(message.amount === undefined ? { duration: message.seconds } : { amount: share(message.amount, i) }),
      timeout: 10,
      ...(message.paid
        ? {
            requests: [
              {
                method: "GET",
                onResponse,
                setupRequest: (request: RawRequest) => {
                  if (next >= pool.length - reserve && !poolExhausted) {
                    poolExhausted = true;
                    stopAll();
                  }
                  const header = pool[Math.min(next, pool.length - 1)] as string;
                  next++;
                  return { ...request, headers: { ...request.headers, "payment-signature": header } };
                },
              },
            ],
          }
        : {}),
    });
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (n === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[n++] = responseTime;
      status[statusCode] = (status[statusCode] ?? 0) + 1;
    });
    instances.push(instance);
  }
  let timeBounded = false;
  const bound =
    message.amount === undefined
      ? undefined
      : setTimeout(() => {
          timeBounded = true;
          stopAll();
        }, message.seconds * 1000);
  const started = performance.now();
  const results = await Promise.all(instances);
  clearTimeout(bound);
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, n).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    type: "result",
    id: message.id,
    responses: n,
    rps: n / elapsed,
    p50_ms: percentile(sorted, 0.5),
    p99_ms: percentile(sorted, 0.99),
    mean_ms: sum / n,
    elapsed_s: elapsed,
    sent: results.reduce((sum, r) => sum + r.requests.sent, 0),
    timeBounded,
    status,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    timeouts: results.reduce((sum, r) => sum + r.timeouts, 0),
    headersUsed: next - usedBefore,
    failures,
    poolExhausted,
    // autocannon's own figures, of the first URL's share only when the run is split.
    autocannon: { p50_ms: (results[0] as AutocannonResult).latency.p50, p99_ms: (results[0] as AutocannonResult).latency.p99, rps_avg: results.reduce((sum, r) => sum + r.requests.average, 0) },
  };
}

process.on("message", (message: { type: "headers"; headers: string[] } | LoadRun | { type: "stop" }) => {
  if (message.type === "stop") process.exit(0);
  else if (message.type === "headers") {
    pool = message.headers;
    next = 0;
    process.send?.({ type: "headers-ok", count: pool.length });
  } else if (message.type === "run") {
    run(message).then(
      (result) => process.send?.(result),
      (error: unknown) => process.send?.({ type: "error", id: message.id, message: String((error as Error)?.stack ?? error) }),
    );
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready" });
