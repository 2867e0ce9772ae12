import type { Address, Hex } from "viem";

import { addressKey, toBigInt } from "./reader.ts";
import type { ChainStateReader } from "./reader.ts";
import { reputationScore } from "./reputation.ts";
import type { ReputationInputs } from "./reputation.ts";

/** A service's reputation: the on-chain evidence and the 0–1 score (null: unrated). */
export type ServiceReputation = ReputationInputs & { score: number | null };

/**
 * Reputations of many services at once, keyed `${provider}:${serviceId}` (lowercase provider,
 * bytes32 service id as `serviceIdToBytes32` makes it). Call counts are per provider (settlements
 * report them per provider); feedback is per service.
 *
 * @example
 * const reputations = await getServiceReputations(reader, [{ provider, serviceId: serviceIdToBytes32("weather-api") }]);
 */
export async function getServiceReputations(
  { sql, viewsSchema }: ChainStateReader,
  services: readonly { provider: Address; serviceId: Hex }[],
): Promise<Map<string, ServiceReputation>> {
  const result = new Map<string, ServiceReputation>();
  if (services.length === 0) return result;
  const providers = [...new Set(services.map((s) => addressKey(s.provider)))];
  const calls = await sql<{ address: string; calls_served: string; calls_failed: string }[]>`
    SELECT address, calls_served, calls_failed FROM ${sql(viewsSchema)}.provider_account WHERE address IN ${sql(providers)}`;
  const feedbackRows = await sql<{ provider: string; service_id: string; feedback_count: string; score_sum: string }[]>`
    SELECT provider, service_id, feedback_count, score_sum FROM ${sql(viewsSchema)}.service_feedback WHERE provider IN ${sql(providers)}`;
  const callsByProvider = new Map(calls.map((row) => [row.address, row]));
  const feedbackByService = new Map(feedbackRows.map((row) => [`${row.provider}:${row.service_id.toLowerCase()}`, row]));
  for (const { provider, serviceId } of services) {
    const key = `${addressKey(provider)}:${serviceId.toLowerCase()}`;
    const callRow = callsByProvider.get(addressKey(provider));
    const feedbackRow = feedbackByService.get(key);
    const inputs: ReputationInputs = {
      callsServed: callRow ? toBigInt(callRow.calls_served) : 0n,
      callsFailed: callRow ? toBigInt(callRow.calls_failed) : 0n,
      feedbackCount: feedbackRow ? toBigInt(feedbackRow.feedback_count) : 0n,
      feedbackScoreSum: feedbackRow ? toBigInt(feedbackRow.score_sum) : 0n,
    };
    result.set(key, { ...inputs, score: reputationScore(inputs) });
  }
  return result;
}
