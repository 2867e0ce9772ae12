import type { Address } from "viem";

import type { SignInSigner } from "../apiTypedData.ts";
import { apiErrorFromResponse } from "../client/errors.ts";
import { apiUrlOf, getJson, isoTime, readBody } from "../client/http.ts";
import { SignInSession } from "../client/session.ts";
import { signTeamChange } from "../teamTypedData.ts";
import type { TeamChangeKind, TeamChangeMessages, TeamOwnerSigner } from "../teamTypedData.ts";

/** The team owner's key: signs team changes and the sign-in for reports (a viem account fits). */
export type TeamOwner = TeamOwnerSigner & SignInSigner;

/** Where the team lives and who owns it. */
export type TeamOptions = {
  /** The AgentTab API, e.g. "https://api.agenttab.xyz". */
  apiUrl: string;
  owner: TeamOwner;
  chainId: number;
  escrow: Address;
  fetch?: typeof globalThis.fetch;
  /** How long each signed change stays valid, in seconds (at most a day); 5 minutes by default. */
  deadlineSeconds?: number;
};

/** A member's rules; amounts in USDC atomic units. */
export type AddMemberParameters = {
  /** The agent's signing address: an on-chain delegate of the owner. */
  member: Address;
  /** Service ids it may call; `["*"]` for any. */
  services: readonly string[];
  /** What it may spend per UTC day, charged plus in flight. */
  dailyBudget: bigint;
  /** The most one call may cost; none when omitted. */
  callCap?: bigint;
};

/** A member's new budget. */
export type SetBudgetParameters = { member: Address; dailyBudget: bigint; callCap?: bigint };

/** A quality gate: reroute `primary`'s calls to `backup` while its reliability is below `minReliability`. */
export type AddQualityGateParameters = {
  primary: string;
  backup: string;
  /** 0 to 1: the share of the last `windowCalls` calls that must succeed (answer below 500 within `maxLatencyMs`). */
  minReliability: number;
  /** 2 000 ms by default. */
  maxLatencyMs?: number;
  /** 20 by default. */
  windowCalls?: number;
  /** How often a degraded primary is probed with a real call; 5 000 ms by default. */
  probeIntervalMs?: number;
};

/** A reporting period: `period` ending now, or `from`/`to`. */
export type TeamSpendingParameters = { period?: "day" | "week" | "month"; from?: Date | string; to?: Date | string };

/** Σ amount (USDC atomic units) and count of charges. */
export type TeamSpendTotals = { total: bigint; calls: number };

/** What a team spent in a period: total, per member (the owner's own calls too) and per service. */
export type TeamSpendingReport = TeamSpendTotals & {
  owner: Address;
  from: string;
  to: string;
  byMember: (TeamSpendTotals & { member: Address })[];
  byService: (TeamSpendTotals & { serviceId: string })[];
};

/**
 * An agent team: one owner's funded escrow account and the agents (the owner's on-chain
 * delegates) that spend from it, each within the services, daily budget and per-call cap the
 * owner signs; plus quality gates that reroute calls from a failing service to a backup. Every
 * change is an EIP-712 message signed by the owner (see {@link signTeamChange}); the proxy enforces
 * the rules atomically with each call's reservation.
 *
 * Changes carry increasing nonces: make them one after another from one `Team` object.
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const owner = privateKeyToAccount(ownerKey);
 * const team = await Team.create({ apiUrl, owner, chainId: 8453, escrow: deployment.escrow, name: "research" });
 * await team.addMember({ member: scout.address, services: ["search-api"], dailyBudget: 2_000_000n, callCap: 50_000n });
 * await team.setBudget({ member: scout.address, dailyBudget: 5_000_000n });
 * await team.addQualityGate({ primary: "llm-a", backup: "llm-b", minReliability: 0.9 });
 * const report = await team.getSpendingReport({ period: "week" });
 */
export class Team {
  readonly apiUrl: string;
  readonly owner: TeamOwner;
  readonly chainId: number;
  readonly escrow: Address;
  readonly #fetch: typeof globalThis.fetch;
  readonly #deadlineSeconds: number;
  readonly #session: SignInSession;
  #lastNonce = 0n;

  constructor({ apiUrl, owner, chainId, escrow, fetch, deadlineSeconds = 300 }: TeamOptions) {
    this.apiUrl = apiUrl;
    this.owner = owner;
    this.chainId = chainId;
    this.escrow = escrow;
    this.#fetch = fetch ?? globalThis.fetch.bind(globalThis);
    this.#deadlineSeconds = deadlineSeconds;
    this.#session = new SignInSession({ signer: owner, chainId, escrow });
  }

  /**
   * Creates the owner's team (one per owner) and returns it.
   *
   * @throws {ApiRequestError} 409 `team_exists` when the owner already has one (use `new Team(…)`).
   * @example
   * const team = await Team.create({ apiUrl, owner, chainId, escrow, name: "research" });
   */
  static async create(options: TeamOptions & { name: string }): Promise<Team> {
    const { name, ...rest } = options;
    const team = new Team(rest);
    await team.#change("POST", "/v1/teams", "TeamCreation", { name }, (m) => ({ owner: m.owner, name: m.name }));
    return team;
  }

  /**
   * Adds a member or replaces its rules.
   *
   * @example
   * await team.addMember({ member: "0x…", services: ["weather-api"], dailyBudget: 1_000_000n });
   */
  async addMember({ member, services, dailyBudget, callCap = 0n }: AddMemberParameters): Promise<void> {
    await this.#change("PUT", `/v1/teams/${this.owner.address}/members/${member}`, "TeamMember", { member, services, dailyBudget, callCap }, (m) => ({
      services: m.services,
      dailyBudget: m.dailyBudget.toString(),
      callCap: m.callCap.toString(),
    }));
  }

  /**
   * Sets a member's daily budget and per-call cap (none when `callCap` is omitted).
   *
   * @example
   * await team.setBudget({ member: "0x…", dailyBudget: 3_000_000n, callCap: 100_000n });
   */
  async setBudget({ member, dailyBudget, callCap = 0n }: SetBudgetParameters): Promise<void> {
    await this.#change("PUT", `/v1/teams/${this.owner.address}/members/${member}/budget`, "TeamMemberBudget", { member, dailyBudget, callCap }, (m) => ({
      dailyBudget: m.dailyBudget.toString(),
      callCap: m.callCap.toString(),
    }));
  }

  /**
   * Removes a member from the team: it is no longer listed, and its calls on the owner's account
   * are refused (403 `member_removed`) for as long as it remains the owner's on-chain delegate
   * (revoking that is the owner's on-chain step). {@link addMember} with it revives it.
   *
   * @example
   * await team.removeMember({ member: "0x…" });
   */
  async removeMember({ member }: { member: Address }): Promise<void> {
    await this.#change("DELETE", `/v1/teams/${this.owner.address}/members/${member}`, "TeamMemberRemoval", { member }, () => ({}));
  }

  /**
   * Adds (or replaces) a quality gate on `primary`, for every call drawing on the owner's account.
   *
   * @example
   * await team.addQualityGate({ primary: "llm-a", backup: "llm-b", minReliability: 0.9, windowCalls: 20 });
   */
  async addQualityGate({ primary, backup, minReliability, maxLatencyMs = 2_000, windowCalls = 20, probeIntervalMs = 5_000 }: AddQualityGateParameters): Promise<void> {
    const minReliabilityBps = Math.round(minReliability * 10_000);
    await this.#change(
      "PUT",
      `/v1/teams/${this.owner.address}/gates/${primary}`,
      "QualityGate",
      { primary, backup, minReliabilityBps, maxLatencyMs, windowCalls, probeIntervalMs },
      (m) => ({ backup: m.backup, minReliabilityBps: m.minReliabilityBps, maxLatencyMs: m.maxLatencyMs, windowCalls: m.windowCalls, probeIntervalMs: m.probeIntervalMs }),
    );
  }

  /**
   * Removes the quality gate on `primary`.
   *
   * @example
   * await team.removeQualityGate({ primary: "llm-a" });
   */
  async removeQualityGate({ primary }: { primary: string }): Promise<void> {
    await this.#change("DELETE", `/v1/teams/${this.owner.address}/gates/${primary}`, "QualityGateRemoval", { primary }, () => ({}));
  }

  /**
   * What the team spent in a period (a month ending now by default): total, per member and per
   * service. Signs in as the owner.
   *
   * @example
   * const { total, byMember, byService } = await team.getSpendingReport({ period: "day" });
   */
  async getSpendingReport({ period, from, to }: TeamSpendingParameters = {}): Promise<TeamSpendingReport> {
    const url = apiUrlOf(this.apiUrl, `/v1/teams/${this.owner.address}/spending`, { period, from: isoTime(from), to: isoTime(to) });
    const body = (await getJson(this.#fetch, url, { authorization: await this.#session.authorization() })) as {
      owner: Address;
      from: string;
      to: string;
      total: string;
      calls: number;
      byMember: { member: Address; total: string; calls: number }[];
      byService: { serviceId: string; total: string; calls: number }[];
    };
    return {
      ...body,
      total: BigInt(body.total),
      byMember: body.byMember.map((m) => ({ ...m, total: BigInt(m.total) })),
      byService: body.byService.map((s) => ({ ...s, total: BigInt(s.total) })),
    };
  }

  /** Signs `fields` as a `kind` change with a fresh nonce and sends the request body `toBody` builds. */
  async #change<kind extends TeamChangeKind>(
    method: "POST" | "PUT" | "DELETE",
    path: string,
    kind: kind,
    fields: Omit<TeamChangeMessages[kind], "owner" | "nonce" | "deadline">,
    toBody: (message: TeamChangeMessages[kind]) => Record<string, unknown>,
  ): Promise<unknown> {
    // Milliseconds, scaled, then bumped: increasing across restarts and within one millisecond.
    const candidate = BigInt(Date.now()) * 1_000n;
    this.#lastNonce = candidate > this.#lastNonce ? candidate : this.#lastNonce + 1n;
    const message = {
      ...fields,
      owner: this.owner.address,
      nonce: this.#lastNonce,
      deadline: BigInt(Math.floor(Date.now() / 1000) + this.#deadlineSeconds),
    } as TeamChangeMessages[kind];
    const signature = await signTeamChange(this.owner, { chainId: this.chainId, escrow: this.escrow, kind, message });
    const response = await this.#fetch(apiUrlOf(this.apiUrl, path), {
      method,
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ ...toBody(message), nonce: message.nonce.toString(), deadline: message.deadline.toString(), signature }),
    });
    const body = await readBody(response);
    if (!response.ok) throw apiErrorFromResponse({ status: response.status, body, retryAfter: response.headers.get("retry-after") });
    return body;
  }
}
