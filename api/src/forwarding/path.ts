import { ApiError } from "../errors.ts";

/** The part of a proxied call's request-target that is forwarded: its path and its query, as sent. */
export type ProxiedTarget = {
  /** Starts with `/`; every segment exactly as the client encoded it. */
  path: string;
  /** Empty, or `?` and the query exactly as sent. */
  query: string;
};

// RFC 3986 pchar: unreserved, sub-delims, ':' and '@', or a percent-encoded octet.
const SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*$/;
// A query may hold any visible ASCII but '#': clients leave '[', ']', '|', '{' … unencoded there.
const QUERY = /^[\x21-\x22\x24-\x7e]*$/;

/**
 * The path and query to forward, taken from the raw request-target (`request.raw.url`), never from
 * the router's decoded parameters: encoded characters reach the upstream encoded, so `%2F`, `%3F`
 * or `%23` can neither add segments, nor start a query, nor cut the path short. `prefixSegments`
 * is how many leading segments are the proxy's own (`/v1/proxy/<service>` is 3).
 *
 * Checked segment by segment so that nothing can climb out of the provider's base path: no `.`
 * or `..` (also percent-encoded), no encoded slash or backslash, no control characters, nothing
 * outside RFC 3986's path characters. An empty segment is allowed only as the last one (a
 * trailing slash, forwarded as sent); anywhere else (`a//b`, or a path that starts with `//`) it
 * is refused, since upstreams disagree on what it means.
 *
 * @throws {ApiError} 400 `invalid_path`.
 * @example
 * proxiedTarget("/v1/proxy/weather/forecast/a%2Fb?day=1", 3); // { path: "/forecast/a%2Fb", query: "?day=1" }
 */
export function proxiedTarget(rawUrl: string, prefixSegments: number): ProxiedTarget {
  if (rawUrl.includes("#")) throw bad("A request-target cannot carry a fragment (`#`)");
  const queryAt = rawUrl.indexOf("?");
  const rawPath = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = queryAt === -1 ? "" : rawUrl.slice(queryAt);
  if (!rawPath.startsWith("/")) throw bad("The request-target must be a path (origin-form)");
  const segments = rawPath.slice(1).split("/");
  if (segments.length <= prefixSegments) throw bad("The path names no resource of the service");
  const forwarded = segments.slice(prefixSegments);
  forwarded.forEach((segment, index) => {
    if (segment === "" && index < forwarded.length - 1) throw bad("Empty path segments (`//`) are not allowed, except a trailing slash");
    if (!SEGMENT.test(segment)) throw bad(`Segment "${segment.slice(0, 64)}" has characters that must be percent-encoded`);
    // Octet by octet (not decodeURIComponent): `%FF` is a valid path, if not valid UTF-8.
    const decoded = segment.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    if (decoded === "." || decoded === "..") throw bad("Path segments `.` and `..` are not allowed");
    if (/[\\/\u0000-\u001f\u007f]/.test(decoded)) throw bad("Encoded slashes, backslashes and control characters are not allowed in the path");
  });
  if (!QUERY.test(query.slice(1))) throw bad("The query has characters that must be percent-encoded");
  return { path: `/${forwarded.join("/")}`, query };
}

function bad(message: string) {
  return new ApiError({ status: 400, code: "invalid_path", message });
}
