import { lookup } from "node:dns/promises";

import { describe, expect, it } from "vitest";

import { ApiError } from "../../api/src/errors.ts";
import { checkUpstreamUrl, isPublicAddress, localAddresses } from "../../api/src/services/upstreamUrl.ts";
import type { HostLookup } from "../../api/src/services/upstreamUrl.ts";

/** A resolver with fixed answers, for names that must not depend on this machine's DNS. */
const fakeDns: HostLookup = async (hostname) => {
  const table: Record<string, string[]> = {
    "internal.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.215.14", "192.168.1.10"],
    "v6-ula.example": ["fd12:3456::1"],
    "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "self.example": ["203.0.113.77"],
  };
  const addresses = table[hostname];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
  return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
};

async function codeOf(url: string, options: Partial<Parameters<typeof checkUpstreamUrl>[1]> = {}): Promise<string> {
  try {
    await checkUpstreamUrl(url, { allowPrivate: false, lookup: fakeDns, ...options });
    return "ok";
  } catch (error) {
    if (error instanceof ApiError) return error.code;
    throw error;
  }
}

describe("upstream URL check (allowPrivateUpstreams off)", () => {
  it.each([
    ["http://127.0.0.1:8080/api", "upstream_not_allowed"],
    ["http://127.1/", "upstream_not_allowed"], // WHATWG URL normalizes it to 127.0.0.1
    ["http://2130706433/", "upstream_not_allowed"], // 127.0.0.1 as one number
    ["http://0.0.0.0/", "upstream_not_allowed"],
    ["http://[::1]/", "upstream_not_allowed"],
    ["http://[::ffff:127.0.0.1]/", "upstream_not_allowed"],
    ["http://[::ffff:10.1.2.3]/", "upstream_not_allowed"],
    ["http://10.1.2.3/", "upstream_not_allowed"],
    ["http://172.16.0.1/", "upstream_not_allowed"],
    ["http://172.31.255.254/", "upstream_not_allowed"],
    ["http://192.168.1.1/", "upstream_not_allowed"],
    ["http://169.254.169.254/latest/meta-data/", "upstream_not_allowed"],
    ["http://[fe80::1]/", "upstream_not_allowed"],
    ["http://[fd00::1]/", "upstream_not_allowed"],
    ["http://[fc00::1]/", "upstream_not_allowed"],
    ["http://internal.example/", "upstream_not_allowed"],
    ["http://metadata.example/", "upstream_not_allowed"],
    ["http://mixed.example/", "upstream_not_allowed"], // one private answer is enough to refuse
    ["http://v6-ula.example/", "upstream_not_allowed"],
    ["http://[64:ff9b::a9fe:a9fe]/", "upstream_not_allowed"], // NAT64 → 169.254.169.254
    ["http://[64:ff9b:1::7f00:1]/", "upstream_not_allowed"], // local-use NAT64 → 127.0.0.1
    ["http://[2002:a9fe:a9fe::1]/", "upstream_not_allowed"], // 6to4 → 169.254.169.254
    ["http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "upstream_not_allowed"], // Teredo
    ["http://[::ffff:0:a9fe:a9fe]/", "upstream_not_allowed"], // SIIT → 169.254.169.254
    ["http://[::a9fe:a9fe]/", "upstream_not_allowed"], // IPv4-compatible
    ["http://nowhere.example/", "upstream_unresolvable"],
    ["https://public.example/v1?key=abc", "ok"],
    ["http://93.184.215.14:8080/", "ok"],
    ["http://172.32.0.1/", "ok"], // just outside 172.16/12
    ["https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", "ok"],
    ["ftp://public.example/", "invalid_upstream_url"],
    ["file:///etc/passwd", "invalid_upstream_url"],
    ["https://user:secret@public.example/", "invalid_upstream_url"],
    ["https://public.example/#frag", "invalid_upstream_url"],
    ["not a url", "invalid_upstream_url"],
  ])("%s → %s", async (url, expected) => {
    expect(await codeOf(url)).toBe(expected);
  });

  it("resolves hostnames with node:dns: names for 127.0.0.1 are loopback", async () => {
    // The real resolver (the hosts file): a name that node:dns answers with localhost's addresses.
    const hostsFile: HostLookup = (hostname) => lookup(hostname === "alias-of-localhost.test" ? "localhost" : hostname, { all: true, verbatim: true });
    expect((await hostsFile("alias-of-localhost.test")).map((a) => a.address)).toContain("127.0.0.1");
    await expect(checkUpstreamUrl("http://alias-of-localhost.test:8787/", { allowPrivate: false, lookup: hostsFile })).rejects.toMatchObject({
      code: "upstream_not_allowed",
    });
    // And with the default resolver: localhost, any case, trailing dot, and *.localhost (RFC 6761).
    for (const url of ["http://localhost:8787/", "http://LOCALHOST./x", "http://api.localhost/"]) {
      await expect(checkUpstreamUrl(url, { allowPrivate: false })).rejects.toMatchObject({ code: "upstream_not_allowed" });
    }
  });

  it("refuses the proxy's own addresses, even public ones", async () => {
    expect(await codeOf("http://self.example/", { selfAddresses: new Set(["203.0.113.77"]) })).toBe("upstream_not_allowed");
    expect(await codeOf("http://public.example/", { selfAddresses: new Set(["203.0.113.77"]) })).toBe("ok");
    expect(localAddresses().has("127.0.0.1")).toBe(true);
  });

  it("allows private upstreams only when configured to, and still checks the URL itself", async () => {
    expect(await codeOf("http://localhost:8080/", { allowPrivate: true })).toBe("ok");
    expect(await codeOf("http://internal.example/", { allowPrivate: true })).toBe("ok");
    expect(await codeOf("http://user:pw@localhost/", { allowPrivate: true })).toBe("invalid_upstream_url");
  });

  it("classifies addresses", () => {
    expect(isPublicAddress("8.8.8.8")).toBe(true);
    expect(isPublicAddress("100.64.0.1")).toBe(false); // carrier-grade NAT
    expect(isPublicAddress("::")).toBe(false);
    expect(isPublicAddress("not-an-ip")).toBe(false);
  });
});
