import type { ResourceInfo } from "@x402/core/types";

import { BAZAAR, bazaarExtension } from "./bazaar.ts";
import type { BazaarExtension, ServiceDiscovery } from "./bazaar.ts";

/**
 * How a service presents itself to x402 clients, in its 402s and its discovery listing alike: the
 * `resource` fields besides its URL, and the `bazaar` extension.
 */
export type ServiceListing = {
  resource: Omit<ResourceInfo, "url">;
  /** The whole `bazaar` extension, for discovery listings. */
  extensions: { [BAZAAR]: BazaarExtension };
  /** The extension a 402 carries: the whole one, or, when its examples are large, one without them. */
  paymentRequiredExtensions: { [BAZAAR]: BazaarExtension };
};

// The bazaar spec's service-metadata rules (serviceName and each tag: printable ASCII, at most 32
// characters; at most 5 tags): a field that breaks them is left out rather than dropped by a client.
const SERVICE_METADATA_TEXT = /^[\x20-\x7e]{1,32}$/;
const MAX_TAGS = 5;
// PAYMENT-REQUIRED is a response header, and HTTP clients cap a response's headers (undici and
// Node at 16 KiB in all): a larger extension goes into 402s without its examples, which the
// discovery listing still shows.
const MAX_PAYMENT_REQUIRED_EXTENSION_CHARS = 4_096;

/**
 * The listing of a service, from what its provider registered.
 *
 * @example
 * const listing = serviceListing({ name: "Weather", description: "Forecasts", tags: ["weather"], discovery });
 * paymentRequiredHeader({ url, ...listing, requirements });
 */
export function serviceListing({
  name,
  description,
  tags,
  discovery,
}: {
  name: string;
  description: string;
  tags: readonly string[];
  discovery: ServiceDiscovery;
}): ServiceListing {
  const listedTags = [...new Set(tags.filter((tag) => SERVICE_METADATA_TEXT.test(tag)))].slice(0, MAX_TAGS);
  const extension = bazaarExtension(discovery);
  const small = JSON.stringify(extension).length <= MAX_PAYMENT_REQUIRED_EXTENSION_CHARS;
  return {
    resource: {
      description: description === "" ? name : description,
      mimeType: "application/json",
      ...(SERVICE_METADATA_TEXT.test(name) ? { serviceName: name } : {}),
      ...(listedTags.length === 0 ? {} : { tags: listedTags }),
    },
    extensions: { [BAZAAR]: extension },
    paymentRequiredExtensions: { [BAZAAR]: small ? extension : bazaarExtension(discovery, { examples: false }) },
  };
}

/** The `services` columns a listing is built from, as postgres.js returns them (jsonb parsed). */
export type ListingColumns = {
  name: string;
  description: string;
  tags: string[];
  http_method: ServiceDiscovery["httpMethod"];
  body_type: ServiceDiscovery["bodyType"];
  example_input: unknown;
  example_output: unknown;
  input_description: string;
  output_description: string;
};

/**
 * The listing of a `services` row.
 *
 * @example
 * const [row] = await sql<ListingColumns[]>`SELECT * FROM services WHERE id = ${id}`;
 * const listing = listingOfRow(row);
 */
export function listingOfRow(row: ListingColumns): ServiceListing {
  return serviceListing({
    name: row.name,
    description: row.description,
    tags: row.tags,
    discovery: {
      httpMethod: row.http_method,
      bodyType: row.body_type,
      exampleInput: row.example_input ?? null,
      exampleOutput: row.example_output ?? null,
      inputDescription: row.input_description,
      outputDescription: row.output_description,
    },
  });
}
