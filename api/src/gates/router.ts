import type { FastifyInstance } from "fastify";

import { TtlCache } from "../lib/ttlCache.ts";
import { getReliability, isDegraded } from "./reliability.ts";

/** A quality gate as stored (migrations/006). */
export type QualityGate = {
  owner: string;
  primary: string;
  backup: string;
  minReliabilityBps: number;
  maxLatencyMs: number;
  windowCalls: number;
  probeIntervalMs: number;
};

/** What routing needs to know about a service. */
type RoutableService = { id: string; provider: string; maxPrice: bigint };

/** Where a call goes, and why. */
export type Route<service> = {
  service: service;
  /** `primary`: no gate or the primary is healthy; `probe`: the degraded primary, probed; `backup`: rerouted. */
  via: "primary" | "probe" | "backup";
};

// Gate rows change rarely: cached per instance for a second, like the service rows.
const GATE_CACHE_MS = 1_000;
// Reliability is re-read at most this often per instance and gate, so that a burst of calls does
// not turn into a burst of window queries; a switch takes effect within this time.
const RELIABILITY_CACHE_MS = 200;
// Entries per instance and cache, at most.
const CACHE_SIZE = 10_000;

/**
 * The quality-gate router of one API instance. Everything it decides on lives in Postgres (the
 * gates, the call outcomes, the last probe time), so any number of instances route alike; the
 * per-instance caches only delay a switch by up to a second.
 *
 * `route` sends a call addressed to a gated primary to its backup while the primary's last
 * `windowCalls` calls fall below `minReliabilityBps`, unless this call wins the probe slot (one
 * per `probeIntervalMs` across all instances), in which case it goes to the primary, whose window
 * then records the outcome: once enough probes succeed, the primary is restored. The backup only
 * serves when its maximum price is within both the primary's and the caller's `X-Payment-Max-Amount`,
 * so the caller's limit, made for the primary, still covers it. A voucher pays one provider: the
 * probe slot is only taken by a call whose voucher pays the primary's provider (`payee`), since
 * any other would be refused before reaching the primary and waste the slot; the others go to the
 * backup (and are refused there unless their voucher pays the backup's provider).
 *
 * @example
 * const gates = gateRouter(app);
 * const { service, via } = await gates.route({ account, service: primary, cap, load: (id) => services.get(id) });
 */
export function gateRouter(app: FastifyInstance) {
  const gateCache = new TtlCache<string, QualityGate | undefined>({ ttlMs: GATE_CACHE_MS, maxSize: CACHE_SIZE });
  const reliabilityCache = new TtlCache<string, boolean>({ ttlMs: RELIABILITY_CACHE_MS, maxSize: CACHE_SIZE });

  function gateOf(account: string, serviceId: string): Promise<QualityGate | undefined> {
    const key = `${account}:${serviceId}`;
    return (
      gateCache.get(key) ??
      gateCache.set(
        key,
        app.sql<QualityGate[]>`
          SELECT owner, primary_service AS primary, backup_service AS backup, min_reliability_bps AS "minReliabilityBps",
                 max_latency_ms AS "maxLatencyMs", window_calls AS "windowCalls", probe_interval_ms AS "probeIntervalMs"
          FROM quality_gates WHERE owner = ${account} AND primary_service = ${serviceId}`.then(([row]) => (row ? { ...row } : undefined)),
      )
    );
  }

  function degraded(gate: QualityGate): Promise<boolean> {
    const key = `${gate.primary}:${gate.windowCalls}:${gate.maxLatencyMs}:${gate.minReliabilityBps}`;
    return (
      reliabilityCache.get(key) ??
      reliabilityCache.set(
        key,
        getReliability(app.sql, { serviceId: gate.primary, windowCalls: gate.windowCalls, maxLatencyMs: gate.maxLatencyMs }).then((r) => isDegraded(r, gate)),
      )
    );
  }

  /** Claims the gate's probe slot; true for exactly one call per interval across all instances. */
  async function claimProbe(gate: QualityGate): Promise<boolean> {
    const rows = await app.sql`
      UPDATE quality_gates SET last_probe_at = clock_timestamp()
      WHERE owner = ${gate.owner} AND primary_service = ${gate.primary}
        AND (last_probe_at IS NULL OR last_probe_at <= clock_timestamp() - make_interval(secs => ${gate.probeIntervalMs} / 1000.0))
      RETURNING 1`;
    return rows.length > 0;
  }

  return {
    async route<service extends RoutableService>({
      account,
      service,
      cap,
      payee,
      load,
    }: {
      /** The escrow account the call draws on (lowercase or checksummed). */
      account: string;
      service: service;
      /** The caller's X-Payment-Max-Amount, if sent. */
      cap: bigint | undefined;
      /** The provider the caller's voucher pays, when known. */
      payee?: string | undefined;
      load: (serviceId: string) => Promise<service>;
    }): Promise<Route<service>> {
      const gate = await gateOf(account.toLowerCase(), service.id);
      if (!gate) return { service, via: "primary" };
      const canPayPrimary = payee === undefined || payee.toLowerCase() === service.provider.toLowerCase();
      const limit = cap !== undefined && cap < service.maxPrice ? cap : service.maxPrice;
      if (!(await degraded(gate))) {
        if (canPayPrimary) return { service, via: "primary" };
        // A voucher re-signed for the backup's provider after a reroute, arriving just as the
        // primary was restored: the backup serves it (the caller paid for it), instead of a second
        // `wrong_provider` the client would not follow.
        const backup = await load(gate.backup).catch(() => undefined);
        if (backup && backup.provider.toLowerCase() === payee.toLowerCase() && backup.maxPrice <= limit) return { service: backup, via: "backup" };
        return { service, via: "primary" };
      }
      if (canPayPrimary && (await claimProbe(gate))) return { service, via: "probe" };
      const backup = await load(gate.backup).catch(() => undefined);
      if (!backup || backup.maxPrice > limit) return { service, via: "primary" };
      return { service: backup, via: "backup" };
    },
  };
}
