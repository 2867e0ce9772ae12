import { ApiError } from "../errors.ts";
import { refusedLiteralHost } from "../services/upstreamUrl.ts";
import type { ProxiedTarget } from "./path.ts";

/** Where one call is sent: the registered upstream's origin, and the path-and-query for its request line. */
export type UpstreamTarget = {
  /** `scheme://host[:port]` of the registered upstream, always. */
  origin: string;
  /** The upstream's base path, the proxied path and the query, joined as strings. */
  path: string;
};

/**
 * Joins a service's registered upstream and a proxied path as strings: the origin is the
 * upstream's by construction, and the proxied path is appended to the upstream's base path, never
 * resolved as a relative reference (where `//host/…` would replace the host). A query the provider
 * registered comes first, then the caller's. The joined URL is parsed once more and a different
 * origin is refused anyway.
 *
 * With `allowPrivate` off, an upstream host that is an IP literal is checked here too: connections
 * to literals never pass through the connect-time lookup that checks names.
 *
 * @throws {ApiError} 400 `upstream_origin_mismatch`; 502 `upstream_not_allowed`.
 * @example
 * upstreamTarget("https://api.example/v1", { path: "/a%2Fb", query: "?x=1" }, { allowPrivate: false });
 * // { origin: "https://api.example", path: "/v1/a%2Fb?x=1" }
 */
export function upstreamTarget(
  upstreamUrl: string,
  { path, query }: ProxiedTarget,
  { allowPrivate, selfAddresses }: { allowPrivate: boolean; selfAddresses?: ReadonlySet<string> },
): UpstreamTarget {
  const base = new URL(upstreamUrl);
  if (!allowPrivate) assertUpstreamHostAllowed(base, selfAddresses);
  const basePath = base.pathname.replace(/\/+$/, "");
  const joinedQuery = base.search === "" ? query : query === "" ? base.search : `${base.search}&${query.slice(1)}`;
  const target = { origin: base.origin, path: `${basePath}${path}${joinedQuery}` };
  let built: URL | undefined;
  try {
    built = new URL(`${target.origin}${target.path}`);
  } catch {
    built = undefined;
  }
  if (built?.origin !== base.origin) {
    throw new ApiError({ status: 400, code: "upstream_origin_mismatch", message: "The path would take the call away from the service's registered origin" });
  }
  return target;
}

/**
 * Refuses an upstream whose host is a loopback, private, link-local or metadata IP literal, or
 * one of the proxy's own addresses (a service registered while private upstreams were allowed,
 * say). Host names are checked where they are looked up, at connect time.
 *
 * @throws {ApiError} 502 `upstream_not_allowed`.
 */
export function assertUpstreamHostAllowed(upstream: URL, selfAddresses?: ReadonlySet<string>): void {
  const refused = refusedLiteralHost(upstream.hostname, selfAddresses);
  if (refused !== undefined) {
    throw new ApiError({
      status: 502,
      code: "upstream_not_allowed",
      message: `The service's upstream is ${refused}, which the proxy does not call (loopback, private, link-local or its own address); nothing was charged`,
    });
  }
}
