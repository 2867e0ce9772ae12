import { lookup as dnsLookupCallback } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import type { LookupFunction } from "node:net";
import { networkInterfaces } from "node:os";

import { ApiError } from "../errors.ts";

/** Resolves a hostname to every address it has (node:dns `lookup` with `all: true`). */
export type HostLookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

// Addresses the proxy must never be pointed at: its own machine, private networks, cloud metadata
// (169.254.169.254), and ranges that are not routable on the internet. IPv4-mapped IPv6
// (::ffff:10.0.0.1) matches the IPv4 rules too. IPv6 ranges that embed an IPv4 address and are
// translated back to it by gateways on some networks (NAT64, 6to4, Teredo, SIIT) are refused
// whole: 64:ff9b::a9fe:a9fe would reach 169.254.169.254 wherever NAT64 routes it.
const blockedRanges: [network: string, prefix: number, type: "ipv4" | "ipv6"][] = [
  ["0.0.0.0", 8, "ipv4"], // "this network"; 0.0.0.0 reaches the local host
  ["10.0.0.0", 8, "ipv4"],
  ["100.64.0.0", 10, "ipv4"], // carrier-grade NAT
  ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"], // link-local, cloud metadata
  ["172.16.0.0", 12, "ipv4"],
  ["192.0.0.0", 24, "ipv4"],
  ["192.0.2.0", 24, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["198.18.0.0", 15, "ipv4"],
  ["198.51.100.0", 24, "ipv4"],
  ["203.0.113.0", 24, "ipv4"],
  ["224.0.0.0", 4, "ipv4"], // multicast
  ["240.0.0.0", 4, "ipv4"], // reserved, broadcast
  ["::", 96, "ipv6"], // unspecified, loopback, deprecated IPv4-compatible
  ["fc00::", 7, "ipv6"], // unique local
  ["fe80::", 10, "ipv6"], // link-local
  ["ff00::", 8, "ipv6"], // multicast
  ["2001:db8::", 32, "ipv6"], // documentation
  ["192.88.99.0", 24, "ipv4"], // 6to4 relay anycast
  ["64:ff9b::", 96, "ipv6"], // NAT64, well-known prefix (RFC 6052)
  ["64:ff9b:1::", 48, "ipv6"], // NAT64, local-use prefix (RFC 8215)
  ["2002::", 16, "ipv6"], // 6to4: the next 32 bits are an IPv4 address
  ["2001::", 23, "ipv6"], // IETF protocol assignments: Teredo (2001::/32, embeds an IPv4 address), benchmarking, ORCHID
  ["::ffff:0:0:0", 96, "ipv6"], // SIIT IPv4-translated addresses (RFC 2765)
  ["100::", 64, "ipv6"], // discard-only
];
const blocked = new BlockList();
for (const [network, prefix, type] of blockedRanges) blocked.addSubnet(network, prefix, type);

/**
 * Whether a proxy may connect to `address` (an IP literal): false for loopback, private,
 * link-local, unique-local and other non-public ranges. The proxy should apply it again to the
 * address it actually connects to, since DNS can change after registration.
 *
 * @example
 * isPublicAddress("169.254.169.254"); // false
 * isPublicAddress("93.184.215.14"); // true
 */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return !blocked.check(address, family === 4 ? "ipv4" : "ipv6");
}

/**
 * The connect-time check for an upstream host that is an IP literal (`127.0.0.1`, `[::1]`): a
 * connection to a literal never passes through a `lookup`, so {@link publicOnlyLookup} cannot see
 * it. Returns the refused address, or undefined when the host is a name (its lookup checks it) or
 * a public address that is not the proxy's own.
 *
 * @example
 * refusedLiteralHost("[::ffff:127.0.0.1]"); // "::ffff:127.0.0.1"
 * refusedLiteralHost("93.184.215.14"); // undefined
 */
export function refusedLiteralHost(hostname: string, selfAddresses: ReadonlySet<string> = localAddresses()): string | undefined {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) === 0) return undefined;
  return !isPublicAddress(host) || selfAddresses.has(normalizeAddress(host)) ? host : undefined;
}

/** This machine's own interface addresses: an upstream there would be the proxy calling itself. */
export function localAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) addresses.add(normalizeAddress(entry.address));
  }
  return addresses;
}

function normalizeAddress(address: string): string {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  return bare.startsWith("::ffff:") && isIP(bare.slice(7)) === 4 ? bare.slice(7) : bare;
}

const defaultLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export type CheckUpstreamUrlParameters = {
  /** Skip the address checks (tests and local development: `allowPrivateUpstreams`). */
  allowPrivate: boolean;
  /** Addresses of the proxy itself (default: this machine's interfaces). */
  selfAddresses?: ReadonlySet<string>;
  lookup?: HostLookup;
};

/**
 * Parses a provider's upstream base URL: http or https, no credentials, no fragment. Throws an
 * `ApiError` with code `invalid_upstream_url`.
 *
 * @example
 * parseUpstreamUrl("https://weather.example.com/v1").hostname; // "weather.example.com"
 */
export function parseUpstreamUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidUrl("it is not an absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidUrl("only http and https are supported");
  if (url.username !== "" || url.password !== "") throw invalidUrl("it must not carry credentials");
  if (url.hash !== "") throw invalidUrl("it must not have a fragment");
  if (url.hostname === "") throw invalidUrl("it has no host");
  return url;
}

/**
 * Checks that the proxy may forward to `raw`: a valid URL (see {@link parseUpstreamUrl}) whose host
 * resolves only to public addresses, none of them the proxy's own. Throws an `ApiError`:
 * `invalid_upstream_url`, `upstream_not_allowed`, or `upstream_unresolvable`.
 *
 * @example
 * await checkUpstreamUrl("http://localhost:8080", { allowPrivate: false }); // throws upstream_not_allowed
 * await checkUpstreamUrl("http://localhost:8080", { allowPrivate: true }); // URL { … }
 */
export async function checkUpstreamUrl(
  raw: string,
  { allowPrivate, selfAddresses = localAddresses(), lookup = defaultLookup }: CheckUpstreamUrlParameters,
): Promise<URL> {
  const url = parseUpstreamUrl(raw);
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else if (host === "localhost" || host.endsWith(".localhost")) {
    // RFC 6761: always loopback, whatever a resolver says.
    addresses = ["127.0.0.1"];
  } else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch {
      throw new ApiError({ status: 400, code: "upstream_unresolvable", message: `The upstream host "${host}" does not resolve.` });
    }
    if (addresses.length === 0) {
      throw new ApiError({ status: 400, code: "upstream_unresolvable", message: `The upstream host "${host}" does not resolve.` });
    }
  }
  for (const address of addresses) {
    if (!isPublicAddress(address) || selfAddresses.has(normalizeAddress(address))) {
      throw new ApiError({
        status: 400,
        code: "upstream_not_allowed",
        message: `The upstream host "${host}" resolves to ${address}, which the proxy does not call (loopback, private, link-local or its own address).`,
      });
    }
  }
  return url;
}

function invalidUrl(why: string): ApiError {
  return new ApiError({ status: 400, code: "invalid_upstream_url", message: `Invalid upstream URL: ${why}.` });
}

/**
 * A `lookup` for the proxy's own connections to upstreams (node:net's signature) that fails for
 * every address {@link checkUpstreamUrl} refuses: a host name that was public when the service
 * was registered cannot be re-pointed later (DNS rebinding) at loopback, private, link-local or
 * metadata addresses, or at the proxy itself.
 *
 * @example
 * const dispatcher = new Agent({ connect: { lookup: publicOnlyLookup() } }); // undici
 */
export function publicOnlyLookup(selfAddresses: ReadonlySet<string> = localAddresses()): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookupCallback(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "");
      const refused = addresses.find((a) => !isPublicAddress(a.address) || selfAddresses.has(normalizeAddress(a.address)));
      if (refused) {
        const notAllowed = Object.assign(new Error(`The upstream host "${hostname}" now resolves to ${refused.address}, which the proxy does not call`), { code: "EUPSTREAMNOTALLOWED" });
        return callback(notAllowed, "");
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`The upstream host "${hostname}" does not resolve`), { code: "ENOTFOUND" }), "");
      callback(null, first.address, first.family);
    });
  };
}
