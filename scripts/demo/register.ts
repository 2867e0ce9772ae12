import { privateKeyToAccount } from "viem/accounts";
import type { LocalAccount } from "viem";

import { ProviderClient } from "@agenttab/sdk";

import type { LocalStack } from "../lib/localStack.ts";
import { demoKey } from "./keys.ts";
import type { DemoProviders, DemoService } from "./providers/catalog.ts";

/** A registered demo service and its provider's key. */
export type RegisteredService = { service: DemoService; owner: LocalAccount };

/**
 * Each demo provider signs and registers its service through the API (the two sentiment models
 * share one provider), and gets ETH for the gas of its later withdrawal.
 *
 * @example
 * const registered = await registerDemoServices({ stack, providers });
 */
export async function registerDemoServices({ stack, providers }: { stack: LocalStack; providers: DemoProviders }): Promise<RegisteredService[]> {
  const registered: RegisteredService[] = [];
  for (const service of providers.services) {
    const owner = privateKeyToAccount(demoKey(`provider of ${service.serviceId}`));
    await stack.fundGas(owner.address);
    const provider = await ProviderClient.connect({ apiUrl: stack.apiUrl, signer: owner, rpcUrl: stack.rpcUrl });
    await provider.register(service);
    registered.push({ service, owner });
  }
  return registered;
}
