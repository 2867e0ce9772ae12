import { apiErrorFromResponse } from "./errors.ts";
import { sendWithRetry } from "./retry.ts";
import type { RetryOptions } from "./retry.ts";

/**
 * A URL under `apiUrl` with the defined query parameters set.
 *
 * @example
 * apiUrlOf("http://127.0.0.1:8787", "/v1/services", { limit: 10, sort: undefined }); // ".../v1/services?limit=10"
 */
export function apiUrlOf(apiUrl: string, path: string, query: Record<string, string | number | undefined> = {}): string {
  const url = new URL(`${apiUrl.replace(/\/+$/, "")}${path}`);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  return url.toString();
}

/**
 * A response's body: parsed JSON when the content type says JSON (text if it does not parse), text otherwise.
 *
 * @example
 * const data = await readBody(await fetch(url));
 */
export async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!/\bjson\b/i.test(response.headers.get("content-type") ?? "")) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * GETs JSON from the API, throwing the SDK error that matches an error response's `code`; with
 * `retry`, a 429 or 503 is retried (honouring `Retry-After`).
 *
 * @example
 * const page = await getJson(fetch, apiUrlOf(apiUrl, "/v1/services"), {});
 */
export async function getJson(
  fetchImpl: typeof globalThis.fetch,
  url: string,
  headers: Record<string, string>,
  { retry }: { retry?: RetryOptions } = {},
): Promise<unknown> {
  // A read changes nothing, so any 429 or 503 may be retried.
  const response = await sendWithRetry(() => fetchImpl(url, { headers: { accept: "application/json", ...headers } }), {
    retry: retry ?? { attempts: 0 },
    shouldRetry: async (r) => r.status === 429 || r.status === 503,
  });
  const body = await readBody(response);
  if (!response.ok) throw apiErrorFromResponse({ status: response.status, body, retryAfter: response.headers.get("retry-after") });
  return body;
}

/**
 * A time as the API takes it (ISO 8601).
 *
 * @example
 * isoTime(new Date(0)); // "1970-01-01T00:00:00.000Z"
 */
export function isoTime(time: Date | string | undefined): string | undefined {
  return time instanceof Date ? time.toISOString() : time;
}

/**
 * POSTs JSON to the API (never retried: a write may have happened), returning the status and the
 * parsed body, or throwing the SDK error that matches an error response's `code`.
 *
 * @example
 * const { status, body } = await postJson(fetch, apiUrlOf(apiUrl, "/v1/deposits/authorization"), { from, value: "1000000", ... });
 */
export async function postJson(
  fetchImpl: typeof globalThis.fetch,
  url: string,
  json: unknown,
  { method = "POST", headers = {} }: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown }> {
  const response = await fetchImpl(url, {
    method,
    headers: { accept: "application/json", "content-type": "application/json", ...headers },
    body: JSON.stringify(json),
  });
  const body = await readBody(response);
  if (!response.ok) throw apiErrorFromResponse({ status: response.status, body, retryAfter: response.headers.get("retry-after") });
  return { status: response.status, body };
}
