/**
 * How often, and how long at most, the client retries a request the API refused before doing
 * anything with it (429 `rate_limited`, or a 503 such as `index_stale`).
 */
export type RetryOptions = {
  /** Retries after the first try; 2 by default, 0 turns retrying off. */
  attempts?: number;
  /** The longest wait before one retry, in ms; 5 000 by default. A `Retry-After` above it is not waited for. */
  maxDelayMs?: number;
};

/**
 * The retry policy an {@link AgentTabClient} uses unless told otherwise: 2 retries, at most 5 s apart.
 *
 * @example
 * const client = await AgentTabClient.connect({ apiUrl, signer, retry: { ...defaultRetry, attempts: 5 } });
 */
export const defaultRetry = { attempts: 2, maxDelayMs: 5_000 } as const satisfies Required<RetryOptions>;

const BASE_DELAY_MS = 250;

/**
 * How long to wait before retry number `retry` (0-based): the response's `Retry-After` when it
 * sent one, else an exponential backoff (250 ms, 500 ms, …) capped at `maxDelayMs`. Undefined when
 * the server asks for a longer wait than `maxDelayMs`: retrying sooner would only be refused again.
 *
 * @example
 * retryDelayMs({ retry: 0, retryAfter: "1", maxDelayMs: 5_000 }); // 1000
 * retryDelayMs({ retry: 2, retryAfter: null, maxDelayMs: 5_000 }); // 1000
 * retryDelayMs({ retry: 0, retryAfter: "60", maxDelayMs: 5_000 }); // undefined
 */
export function retryDelayMs({ retry, retryAfter, maxDelayMs }: { retry: number; retryAfter: string | null; maxDelayMs: number }): number | undefined {
  const seconds = retryAfter === null || retryAfter.trim() === "" ? Number.NaN : Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) {
    const ms = Math.ceil(seconds * 1000);
    return ms > maxDelayMs ? undefined : ms;
  }
  return Math.min(BASE_DELAY_MS * 2 ** retry, maxDelayMs);
}

/**
 * Sends a request and sends it again while `shouldRetry` says its response is a refusal that
 * happened before anything was done (so sending it again cannot cost twice), up to the policy's
 * attempts. Returns the last response, whatever its status.
 *
 * @example
 * const response = await sendWithRetry(() => fetch(url), { retry: { attempts: 2 }, shouldRetry: async (r) => r.status === 429 });
 */
export async function sendWithRetry(
  send: () => Promise<Response>,
  { retry = {}, shouldRetry }: { retry?: RetryOptions; shouldRetry: (response: Response) => Promise<boolean> },
): Promise<Response> {
  const attempts = Math.max(0, Math.floor(retry.attempts ?? defaultRetry.attempts));
  const maxDelayMs = retry.maxDelayMs ?? defaultRetry.maxDelayMs;
  for (let made = 0; ; made += 1) {
    const response = await send();
    if (made >= attempts || !(await shouldRetry(response))) return response;
    const delay = retryDelayMs({ retry: made, retryAfter: response.headers.get("retry-after"), maxDelayMs });
    if (delay === undefined) return response;
    // The refused response's body is not needed; free its connection before waiting.
    await response.body?.cancel().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Codes of 503 answers the API gives before it forwards or charges anything. */
const retryableUnavailable = new Set(["index_stale", "reputation_unavailable"]);

/**
 * Whether a response is a refusal that came before any work: 429 `rate_limited`, or a 503 whose
 * `code` says the API did not start (`index_stale`, `reputation_unavailable`). Reads the code from
 * a clone, so the response stays readable.
 *
 * @example
 * const response = await sendWithRetry(send, { retry, shouldRetry: isRefusedBeforeWork });
 */
export async function isRefusedBeforeWork(response: Response): Promise<boolean> {
  if (response.status !== 503) return response.status === 429;
  return refusedBeforeWork(response.status, await response.clone().json().catch(() => undefined));
}

/**
 * {@link isRefusedBeforeWork} on a status and an already parsed body.
 *
 * @example
 * refusedBeforeWork(503, { code: "index_stale" }); // true
 * refusedBeforeWork(502, { code: "upstream_failed" }); // false: the call was forwarded
 */
export function refusedBeforeWork(status: number, body: unknown): boolean {
  if (status === 429) return true;
  const code = typeof body === "object" && body !== null ? (body as { code?: unknown }).code : undefined;
  return status === 503 && typeof code === "string" && retryableUnavailable.has(code);
}
