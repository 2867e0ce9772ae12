import { encodeAbiParameters, hashStruct, keccak256, recoverTypedDataAddress, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";

import {
  apiDomain,
  serviceDelistingTypedData,
  serviceDelistingTypes,
  serviceRegistrationTypedData,
  serviceRegistrationTypes,
  signServiceDelisting,
  signServiceRegistration,
} from "./apiTypedData.ts";
import type { ServiceDelistingSigner, ServiceRegistration, ServiceRegistrationSigner } from "./apiTypedData.ts";

const escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" as const;
const provider = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");

const registration: ServiceRegistration = {
  serviceId: "weather-api",
  name: "Weather",
  description: "Current weather by city",
  category: "data",
  tags: ["weather", "geo"],
  capabilities: ["forecast"],
  upstreamUrl: "https://weather.example.com/v1",
  pricing: "metered",
  price: 10n,
  maxPrice: 5_000n,
  usageHeader: "x-units",
  exampleInput: '{"city":"Lisbon"}',
  exampleOutput: "",
  nonce: 1n,
  deadline: 1_735_689_600n,
};

describe("API typed data (services)", () => {
  it("builds the API domain on the escrow", () => {
    expect(apiDomain({ chainId: 8453, escrow })).toEqual({ name: "AgentTab API", version: "1", chainId: 8453, verifyingContract: escrow });
  });

  it("hashes the documented ServiceRegistration and ServiceDelisting type strings", () => {
    const str = (s: string) => keccak256(toHex(s));
    const list = (xs: readonly string[]) => keccak256(`0x${xs.map((x) => str(x).slice(2)).join("")}`);
    const registrationType =
      "ServiceRegistration(string serviceId,string name,string description,string category,string[] tags,string[] capabilities,string upstreamUrl,string pricing,uint256 price,uint256 maxPrice,string usageHeader,string exampleInput,string exampleOutput,uint256 nonce,uint64 deadline)";
    const r = registration;
    const expected = keccak256(
      encodeAbiParameters(
        ["bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "bytes32", "uint256", "uint256", "bytes32", "bytes32", "bytes32", "uint256", "uint64"].map((type) => ({ type })),
        [str(registrationType), str(r.serviceId), str(r.name), str(r.description), str(r.category), list(r.tags), list(r.capabilities), str(r.upstreamUrl), str(r.pricing), r.price, r.maxPrice, str(r.usageHeader), str(r.exampleInput), str(r.exampleOutput), r.nonce, r.deadline],
      ),
    );
    expect(hashStruct({ data: registration, primaryType: "ServiceRegistration", types: serviceRegistrationTypes })).toBe(expected);

    const delisting = { serviceId: "weather-api", nonce: 2n, deadline: 1_735_689_600n };
    const delistingExpected = keccak256(
      encodeAbiParameters(
        [{ type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }, { type: "uint64" }],
        [str("ServiceDelisting(string serviceId,uint256 nonce,uint64 deadline)"), str(delisting.serviceId), delisting.nonce, delisting.deadline],
      ),
    );
    expect(hashStruct({ data: delisting, primaryType: "ServiceDelisting", types: serviceDelistingTypes })).toBe(delistingExpected);
  });

  it("signs a registration that recovers to the provider, and binds every field and the domain", async () => {
    const parameters = { chainId: 31337, escrow, registration };
    const signature = await signServiceRegistration(provider, parameters);
    expect(await recoverTypedDataAddress({ ...serviceRegistrationTypedData(parameters), signature })).toBe(provider.address);

    const changed = { ...parameters, registration: { ...registration, upstreamUrl: "https://evil.example.com" } };
    expect(await recoverTypedDataAddress({ ...serviceRegistrationTypedData(changed), signature })).not.toBe(provider.address);
    const otherChain = { ...parameters, chainId: 8453 };
    expect(await recoverTypedDataAddress({ ...serviceRegistrationTypedData(otherChain), signature })).not.toBe(provider.address);
  });

  it("signs a delisting that recovers to the provider and differs from any registration", async () => {
    const parameters = { chainId: 31337, escrow, delisting: { serviceId: "weather-api", nonce: 2n, deadline: 1_735_689_600n } };
    const signature = await signServiceDelisting(provider, parameters);
    expect(await recoverTypedDataAddress({ ...serviceDelistingTypedData(parameters), signature })).toBe(provider.address);
    expect(serviceDelistingTypedData(parameters).primaryType).toBe("ServiceDelisting");
  });

  it("accepts any signer with an address and signTypedData", async () => {
    const seen: string[] = [];
    const remote: ServiceRegistrationSigner & ServiceDelistingSigner = {
      address: provider.address,
      signTypedData: async (typedData) => {
        seen.push(typedData.primaryType);
        return provider.signTypedData(typedData as never);
      },
    };
    await signServiceRegistration(remote, { chainId: 31337, escrow, registration });
    await signServiceDelisting(remote, { chainId: 31337, escrow, delisting: { serviceId: "weather-api", nonce: 3n, deadline: 1n } });
    expect(seen).toEqual(["ServiceRegistration", "ServiceDelisting"]);
  });
});
