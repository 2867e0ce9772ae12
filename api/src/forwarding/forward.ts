import { Transform } from "node:stream";
import type { Readable } from "node:stream";

import type { FastifyInstance, FastifyRequest } from "fastify";
import { Agent, getGlobalDispatcher } from "undici";
import type { Dispatcher } from "undici";

import { isSignInAuthorization } from "../auth/signIn.ts";
import { ApiError } from "../errors.ts";
import { localAddresses, publicOnlyLookup } from "../services/upstreamUrl.ts";
import type { ProxiedTarget } from "./path.ts";
import { upstreamTarget } from "./target.ts";

// Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy itself consumes (payments, the price
// cap) never cross the proxy.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];
const STRIPPED_REQUEST_HEADERS = new Set([...HOP_BY_HOP, "host", "content-length", "expect", "payment-signature", "x-payment", "x-payment-max-amount"]);
const STRIPPED_RESPONSE_HEADERS = new Set([...HOP_BY_HOP, "payment-required", "payment-response"]);

/** Sends one call to a service's upstream: `forward(request, service, target)`. */
export type Forwarder = (request: FastifyRequest, service: { upstreamUrl: string }, target: ProxiedTarget) => Promise<Dispatcher.ResponseData>;

/**
 * The proxy's forwarding for one app. A call goes to its service's registered origin and nowhere
 * else (see {@link upstreamTarget}); with `allowPrivateUpstreams` off, every new connection
 * re-checks where a host name resolves now (registration checked it once; DNS can change since),
 * and IP-literal hosts are checked before any connection is attempted. Bodies stream both ways,
 * the request's bounded by `maxBodyBytes`; one deadline (`upstreamTimeoutMs`) covers the exchange
 * until the upstream's body has closed.
 *
 * @example
 * const forward = upstreamForwarder(app);
 * const upstream = await forward(request, service, proxiedTarget(request.raw.url, 3));
 */
export function upstreamForwarder(app: FastifyInstance): Forwarder {
  const allowPrivate = app.config.allowPrivateUpstreams;
  const selfAddresses = allowPrivate ? undefined : localAddresses();
  let dispatcher: Dispatcher = getGlobalDispatcher();
  if (!allowPrivate) {
    const pool = new Agent({ connect: { lookup: publicOnlyLookup(selfAddresses) } });
    dispatcher = pool;
    app.addHook("onClose", async () => pool.close());
  }
  const ms = app.config.upstreamTimeoutMs;

  return async (request, service, proxied) => {
    const { origin, path } = upstreamTarget(service.upstreamUrl, proxied, { allowPrivate, ...(selfAddresses ? { selfAddresses } : {}) });
    const hasBody = request.body !== undefined && request.body !== null;
    // One deadline for the whole exchange, cleared once the upstream's body has closed. Not
    // `AbortSignal.timeout`: its timer stays armed for the full timeout after every call, so the
    // timer and its signal outlive young-generation GCs and are promoted to the old space, there to
    // wait for a major GC (about 1 KB a call; docs/RELIABILITY.md, "Load and soak").
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException(`The upstream did not answer within ${ms} ms`, "TimeoutError")), ms);
    try {
      // origin and path apart: the request line carries `path` verbatim, to `origin` only.
      const response = await dispatcher.request({
        origin,
        path,
        method: request.method as Dispatcher.HttpMethod,
        headers: forwardedHeaders(request),
        body: hasBody ? limitBody(request.body as Readable, app.config.maxBodyBytes) : null,
        headersTimeout: ms,
        bodyTimeout: ms,
        signal: deadline.signal,
      });
      response.body.once("close", () => clearTimeout(timer));
      return response;
    } catch (error) {
      clearTimeout(timer);
      throw error;
    }
  };
}

/** The caller's headers an upstream may see: no hop-by-hop, payment or billing header, and no AgentTab sign-in token. */
export function forwardedHeaders(request: FastifyRequest): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || STRIPPED_REQUEST_HEADERS.has(name) || name.startsWith("x-acf-")) continue;
    // Whatever its casing: the sign-in verifier accepts any, and the token reads the agent's data.
    if (name === "authorization" && (Array.isArray(value) ? value : [value]).some(isSignInAuthorization)) continue;
    headers[name] = value;
  }
  headers["x-forwarded-for"] = request.ip;
  return headers;
}

/** The upstream's response headers that may cross the proxy (no hop-by-hop, payment or billing header). */
export function relayableHeaders(headers: Record<string, string | string[] | undefined>): [string, string | string[]][] {
  const relayed: [string, string | string[]][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !STRIPPED_RESPONSE_HEADERS.has(name) && !name.startsWith("x-acf-")) relayed.push([name, value]);
  }
  return relayed;
}

/**
 * Passes a body stream through, failing it once it exceeds `limit` bytes, and at once when the
 * client hangs up before its body has all arrived: also when it hung up before this was called
 * (while the call waited for its reservation), when the stream is already destroyed and would
 * never end; the upstream request would otherwise hold the reservation until the upstream timeout.
 */
function limitBody(body: Readable, limit: number): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new ApiError({ status: 413, code: "body_too_large", message: `Bodies are limited to ${limit} bytes` }));
      else callback(null, chunk);
    },
  });
  const hungUp = () =>
    counter.destroy(new ApiError({ status: 400, code: "request_aborted", message: "The client closed the connection before its body arrived; nothing was charged" }));
  if (body.destroyed && !body.readableEnded) {
    hungUp();
    return counter;
  }
  body.on("error", hungUp);
  body.on("close", () => {
    if (!body.readableEnded) hungUp();
  });
  return body.pipe(counter);
}

/** Whether the client's request had fully arrived: no body, or all of it received. */
export function requestReceived(request: FastifyRequest): boolean {
  const body = request.body as Readable | undefined | null;
  return body === undefined || body === null || body.readableEnded || request.raw.complete;
}
