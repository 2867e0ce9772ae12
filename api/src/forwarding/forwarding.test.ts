import { describe, expect, it } from "vitest";

import { isSignInAuthorization } from "../auth/signIn.ts";
import { isPublicAddress, refusedLiteralHost } from "../services/upstreamUrl.ts";
import { proxiedTarget } from "./path.ts";
import { upstreamTarget } from "./target.ts";

const refusal = (run: () => unknown) => {
  try {
    run();
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
};

describe("proxiedTarget: the raw request-target, forwarded as sent", () => {
  it.each([
    ["/v1/proxy/svc/forecast/today", "/forecast/today", ""],
    ["/v1/proxy/svc/a%20b/c", "/a%20b/c", ""],
    ["/v1/proxy/svc/a%2541", "/a%2541", ""], // %25 stays encoded: the upstream sees %2541, not %41
    ["/v1/proxy/svc/a%3Finjected=1", "/a%3Finjected=1", ""], // an encoded ? never starts a query
    ["/v1/proxy/svc/a%23b/c", "/a%23b/c", ""], // an encoded # never cuts the path
    ["/v1/proxy/svc/a%FF", "/a%FF", ""], // not UTF-8, still a path
    ["/v1/proxy/svc/x?q=1&filter[a]=b", "/x", "?q=1&filter[a]=b"],
    ["/v1/proxy/svc/", "/", ""], // the service's base path itself
    ["/v1/proxy/svc/a/", "/a/", ""], // a trailing slash is kept
    ["/v1/proxy/svc/a:b@c!$&'()*+,;=~", "/a:b@c!$&'()*+,;=~", ""],
  ])("%s → %s %s", (raw, path, query) => {
    expect(proxiedTarget(raw, 3)).toEqual({ path, query });
  });

  it.each([
    "/v1/proxy/svc//127.0.0.1:9/x", // protocol-relative: an empty first segment
    "/v1/proxy/svc///127.0.0.1:9/x",
    "/v1/proxy/svc/a//b",
    "/v1/proxy/svc/..",
    "/v1/proxy/svc/a/../b",
    "/v1/proxy/svc/%2e%2e/etc/passwd",
    "/v1/proxy/svc/a/%2E%2E",
    "/v1/proxy/svc/.",
    "/v1/proxy/svc/a%2fb",
    "/v1/proxy/svc/%2f%2f127.0.0.1:9/x",
    "/v1/proxy/svc/a%5cb",
    "/v1/proxy/svc/a\\b",
    "/v1/proxy/svc/a%00",
    "/v1/proxy/svc/a%0d%0aHost:x",
    "/v1/proxy/svc/%zz",
    "/v1/proxy/svc/a b",
    "/v1/proxy/svc/a#frag",
    "/v1/proxy/svc/a?x=1#frag",
    "/v1/proxy/svc/a?x= 1",
    "/v1/proxy/svc/é",
    "http://127.0.0.1:9/v1/proxy/svc/x", // absolute-form
    "/v1/proxy/svc",
  ])("refuses %s", (raw) => {
    expect(refusal(() => proxiedTarget(raw, 3))).toBe("invalid_path");
  });
});

describe("upstreamTarget: always the registered origin", () => {
  const open = { allowPrivate: true };
  it("joins the base path and the proxied path as strings", () => {
    expect(upstreamTarget("http://127.0.0.1:4000", { path: "/x", query: "" }, open)).toEqual({ origin: "http://127.0.0.1:4000", path: "/x" });
    expect(upstreamTarget("http://127.0.0.1:4000/v1/", { path: "/a%2Fb", query: "?q=1" }, open)).toEqual({ origin: "http://127.0.0.1:4000", path: "/v1/a%2Fb?q=1" });
    expect(upstreamTarget("https://api.example/v1?key=k", { path: "/x", query: "?q=1" }, open)).toEqual({ origin: "https://api.example", path: "/v1/x?key=k&q=1" });
    expect(upstreamTarget("https://api.example/v1?key=k", { path: "/x", query: "" }, open)).toEqual({ origin: "https://api.example", path: "/v1/x?key=k" });
  });

  it("keeps the origin whatever the path looks like, even unchecked", () => {
    // proxiedTarget refuses these before; the join must hold on its own anyway.
    for (const path of ["//127.0.0.1:9/x", "///127.0.0.1:9/x", "//[::1]:9/", "/\\\\127.0.0.1:9/x", "//2130706433:9/"]) {
      const target = upstreamTarget("http://127.0.0.1:4000", { path, query: "" }, open);
      expect(target.origin).toBe("http://127.0.0.1:4000");
      expect(new URL(`${target.origin}${target.path}`).host).toBe("127.0.0.1:4000");
    }
  });

  it("refuses IP-literal upstreams the proxy does not call, with private upstreams off", () => {
    for (const upstream of ["http://127.0.0.1:4000", "http://[::1]:4000/", "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://169.254.169.254/", "http://[64:ff9b::a9fe:a9fe]/"]) {
      expect(refusal(() => upstreamTarget(upstream, { path: "/x", query: "" }, { allowPrivate: false, selfAddresses: new Set() }))).toBe("upstream_not_allowed");
    }
    expect(upstreamTarget("http://93.184.215.14/v1", { path: "/x", query: "" }, { allowPrivate: false, selfAddresses: new Set() }).origin).toBe("http://93.184.215.14");
    // The proxy's own public address is refused too.
    expect(refusal(() => upstreamTarget("http://93.184.215.14/", { path: "/", query: "" }, { allowPrivate: false, selfAddresses: new Set(["93.184.215.14"]) }))).toBe(
      "upstream_not_allowed",
    );
    // Names are left to the connect-time lookup.
    expect(upstreamTarget("http://localhost:4000/", { path: "/", query: "" }, { allowPrivate: false, selfAddresses: new Set() }).origin).toBe("http://localhost:4000");
  });
});

describe("addresses that embed a refused IPv4 address", () => {
  it.each([
    "64:ff9b::a9fe:a9fe", // NAT64 → 169.254.169.254
    "64:ff9b::5db8:d70e", // NAT64 of a public address: refused whole
    "64:ff9b:1::a9fe:a9fe", // local-use NAT64
    "2002:a9fe:a9fe::1", // 6to4 → 169.254.169.254
    "2002:5db8:d70e::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
    "::ffff:0:7f00:1", // SIIT → 127.0.0.1
    "::7f00:1", // IPv4-compatible
    "::ffff:7f00:1", // IPv4-mapped
    "100::1",
    "192.88.99.1",
  ])("%s is refused", (address) => {
    expect(isPublicAddress(address)).toBe(false);
    expect(refusedLiteralHost(`[${address}]`, new Set())).toBe(address);
  });
  it("public IPv6 outside those ranges is allowed", () => {
    expect(isPublicAddress("2606:2800:21f:cb07:6820:80da:af6b:8b2c")).toBe(true);
    expect(isPublicAddress("2001:4860:4860::8888")).toBe(true);
  });
});

describe("sign-in credentials are recognized whatever their casing", () => {
  it.each(["AgentTab tok", "agenttab tok", "AGENTTAB tok", "  aGeNtTaB   tok", "agenttab\ttok"])("%s", (value) => {
    expect(isSignInAuthorization(value)).toBe(true);
  });
  it.each(["Bearer tok", "AgentTabX tok", "Basic YWdlbnR0YWI="])("not %s", (value) => {
    expect(isSignInAuthorization(value)).toBe(false);
  });
});
