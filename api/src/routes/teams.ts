import type { FastifySchemaValidationError } from "fastify";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { getAddress, isAddressEqual, recoverTypedDataAddress } from "viem";
import type { Address, Hex } from "viem";

import { teamChangeTypedData } from "@agenttab/sdk";
import type { TeamChangeKind, TeamChangeMessages } from "@agenttab/sdk";

import { SignInHeaders, SpendingQuery } from "../accounts/schemas.ts";
import signIn, { requireOwnAddress } from "../auth/plugin.ts";
import { unauthorized } from "../auth/signIn.ts";
import { addressKey } from "../config.ts";
import { ApiError } from "../errors.ts";
import { getReliability, isDegraded } from "../gates/reliability.ts";
import { ErrorResponse } from "../services/schemas.ts";
import { MAX_DEADLINE_SECONDS, MAX_PRICE } from "./services.ts";
import {
  createTeam,
  getTeam,
  isRefusal,
  removeGate,
  removeMember,
  setMemberBudget,
  teamSpending,
  upsertGate,
  upsertMember,
  withTeamNonce,
} from "../teams/repository.ts";
import type { TeamChangeRefusal } from "../teams/repository.ts";
import {
  BudgetBody,
  CreateTeamBody,
  GateBody,
  GateParams,
  GateResponse,
  MemberBody,
  MemberParams,
  MemberResponse,
  Removed,
  RemovalBody,
  TeamCreated,
  TeamParams,
  TeamSpendingResponse,
  TeamView,
} from "../teams/schemas.ts";

const DAY_MS = 86_400_000;
const PERIOD_MS = { day: DAY_MS, week: 7 * DAY_MS, month: 30 * DAY_MS } as const;

// Schema failures on these fields get their own code; everything else is `invalid_request`.
const fieldCodes: Record<string, string> = {
  address: "invalid_address",
  owner: "invalid_address",
  member: "invalid_address",
  primary: "invalid_service_id",
  backup: "invalid_service_id",
  services: "invalid_service_id",
  dailyBudget: "invalid_amount",
  callCap: "invalid_amount",
  nonce: "invalid_nonce",
  signature: "invalid_signature",
  from: "invalid_time_range",
  to: "invalid_time_range",
  period: "invalid_time_range",
};

function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const [first] = errors;
  const field = first?.instancePath.split("/")[1] || (first?.params as { missingProperty?: string } | undefined)?.missingProperty || "";
  const message = `${dataVar}${first?.instancePath ?? ""} ${first?.message ?? "is invalid"}`;
  if (dataVar === "headers") return unauthorized("invalid_authorization", message);
  return new ApiError({ status: 400, code: fieldCodes[field] ?? "invalid_request", message });
}

const errorResponses = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

/**
 * Agent teams: one owner's escrow account, the members (its on-chain delegates) that spend from it
 * within the rules the owner signed, and the quality gates on the services they call. Every change
 * is an EIP-712 message signed by the owner (sdk/src/teamTypedData.ts) with a nonce above the
 * team's last and a deadline at most a day ahead; reads take the owner's sign-in.
 *
 *   POST   /v1/teams                                   create the owner's team
 *   PUT    /v1/teams/:address/members/:member          add a member or replace its rules
 *   PUT    /v1/teams/:address/members/:member/budget   set its daily budget and per-call cap
 *   DELETE /v1/teams/:address/members/:member          remove it: unlisted, its calls refused (member_removed) until re-added
 *   PUT    /v1/teams/:address/gates/:primary           add or replace a quality gate
 *   DELETE /v1/teams/:address/gates/:primary           remove it
 *   GET    /v1/teams/:address                          the team, members' spend today, gates' reliability (signed in)
 *   GET    /v1/teams/:address/spending                 total, per member, per service for a period (signed in)
 */
const teams: FastifyPluginAsyncTypebox = async (app) => {
  const { chainId, escrow } = app.config.deployment;
  await app.register(signIn);
  const signedIn = [app.requireSignIn, requireOwnAddress];

  /** The signature must recover to the team's owner. */
  async function checkOwner<kind extends TeamChangeKind>(owner: Address, kind: kind, message: TeamChangeMessages[kind], signature: Hex) {
    const recovered = await recoverTypedDataAddress({ ...teamChangeTypedData({ chainId, escrow, kind, message }), signature } as never).catch(() => undefined);
    if (recovered === undefined || !isAddressEqual(recovered, owner)) {
      throw new ApiError({
        status: 401,
        code: "invalid_signature",
        message: `The signature does not recover to the team owner ${owner}: sign this ${kind} under the AgentTab API domain of chain ${chainId}, escrow ${escrow}.`,
      });
    }
  }

  app.post(
    "/v1/teams",
    { schema: { summary: "Create the owner's team (signed by the owner)", tags: ["teams"], body: CreateTeamBody, response: { 201: TeamCreated, ...errorResponses } }, schemaErrorFormatter },
    async (request, reply) => {
      const { name, signature } = request.body;
      const owner = getAddress(request.body.owner);
      const signed = signedFields(request.body);
      await checkOwner(owner, "TeamCreation", { owner, name, ...signed }, signature as Hex);
      const refusal = await createTeam(app.sql, { owner: addressKey(owner), name, nonce: signed.nonce });
      if (refusal) throw refusalError(refusal);
      return reply.status(201).send({ owner: addressKey(owner), name, nonce: signed.nonce.toString() });
    },
  );

  app.put(
    "/v1/teams/:address/members/:member",
    {
      schema: { summary: "Add a member or replace its rules (signed by the owner)", tags: ["teams"], params: MemberParams, body: MemberBody, response: { 200: MemberResponse, 201: MemberResponse, ...errorResponses } },
      schemaErrorFormatter,
    },
    async (request, reply) => {
      const owner = getAddress(request.params.address);
      const member = getAddress(request.params.member);
      if (isAddressEqual(owner, member)) throw new ApiError({ status: 400, code: "invalid_member", message: "The owner spends from its own account without team rules; a member is another key" });
      const { services, signature } = request.body;
      const dailyBudget = amount(request.body.dailyBudget, "dailyBudget");
      const callCap = amount(request.body.callCap, "callCap");
      const signed = signedFields(request.body);
      await checkOwner(owner, "TeamMember", { owner, member, services, dailyBudget, callCap, ...signed }, signature as Hex);
      const result = await withTeamNonce(app.sql, { owner: addressKey(owner), nonce: signed.nonce }, (tx) =>
        upsertMember(tx, { owner: addressKey(owner), member: addressKey(member), services, dailyBudget, callCap: callCap === 0n ? null : callCap }),
      );
      if (isRefusal(result)) throw refusalError(result);
      return reply.status(result.inserted ? 201 : 200).send({
        owner: addressKey(owner),
        member: addressKey(member),
        services,
        dailyBudget: dailyBudget.toString(),
        callCap: callCap === 0n ? null : callCap.toString(),
      });
    },
  );

  app.put(
    "/v1/teams/:address/members/:member/budget",
    {
      schema: { summary: "Set a member's daily budget and per-call cap (signed by the owner)", tags: ["teams"], params: MemberParams, body: BudgetBody, response: { 200: MemberResponse, ...errorResponses } },
      schemaErrorFormatter,
    },
    async (request) => {
      const owner = getAddress(request.params.address);
      const member = getAddress(request.params.member);
      const dailyBudget = amount(request.body.dailyBudget, "dailyBudget");
      const callCap = amount(request.body.callCap, "callCap");
      const signed = signedFields(request.body);
      await checkOwner(owner, "TeamMemberBudget", { owner, member, dailyBudget, callCap, ...signed }, request.body.signature as Hex);
      const result = await withTeamNonce(app.sql, { owner: addressKey(owner), nonce: signed.nonce }, (tx) =>
        setMemberBudget(tx, { owner: addressKey(owner), member: addressKey(member), dailyBudget, callCap: callCap === 0n ? null : callCap }),
      );
      if (isRefusal(result)) throw refusalError(result);
      return { owner: addressKey(owner), member: result.member, services: result.services, dailyBudget: result.dailyBudget.toString(), callCap: result.callCap?.toString() ?? null };
    },
  );

  app.delete(
    "/v1/teams/:address/members/:member",
    { schema: { summary: "Remove a member (signed by the owner)", tags: ["teams"], params: MemberParams, body: RemovalBody, response: { 200: Removed, ...errorResponses } }, schemaErrorFormatter },
    async (request) => {
      const owner = getAddress(request.params.address);
      const member = getAddress(request.params.member);
      const signed = signedFields(request.body);
      await checkOwner(owner, "TeamMemberRemoval", { owner, member, ...signed }, request.body.signature as Hex);
      const result = await withTeamNonce(app.sql, { owner: addressKey(owner), nonce: signed.nonce }, (tx) => removeMember(tx, { owner: addressKey(owner), member: addressKey(member) }));
      if (isRefusal(result)) throw refusalError(result);
      return { owner: addressKey(owner), removed: addressKey(member) };
    },
  );

  app.put(
    "/v1/teams/:address/gates/:primary",
    {
      schema: { summary: "Add or replace a quality gate (signed by the owner)", tags: ["teams"], params: GateParams, body: GateBody, response: { 200: GateResponse, 201: GateResponse, ...errorResponses } },
      schemaErrorFormatter,
    },
    async (request, reply) => {
      const owner = getAddress(request.params.address);
      const { primary } = request.params;
      const { backup, minReliabilityBps, maxLatencyMs, windowCalls, probeIntervalMs, signature } = request.body;
      if (backup === primary) throw new ApiError({ status: 400, code: "invalid_gate", message: "A gate's backup must be another service" });
      const signed = signedFields(request.body);
      const gate = { primary, backup, minReliabilityBps, maxLatencyMs, windowCalls, probeIntervalMs };
      await checkOwner(owner, "QualityGate", { owner, ...gate, ...signed }, signature as Hex);
      const known = await app.sql<{ id: string }[]>`SELECT id FROM services WHERE id IN (${primary}, ${backup}) AND status = 'active'`;
      for (const id of [primary, backup]) {
        if (!known.some((row) => row.id === id)) throw new ApiError({ status: 404, code: "service_not_found", message: `No listed service "${id}"` });
      }
      const result = await withTeamNonce(app.sql, { owner: addressKey(owner), nonce: signed.nonce }, (tx) => upsertGate(tx, { owner: addressKey(owner), ...gate }));
      if (isRefusal(result)) throw refusalError(result);
      return reply.status(result.inserted ? 201 : 200).send({ owner: addressKey(owner), ...gate });
    },
  );

  app.delete(
    "/v1/teams/:address/gates/:primary",
    { schema: { summary: "Remove a quality gate (signed by the owner)", tags: ["teams"], params: GateParams, body: RemovalBody, response: { 200: Removed, ...errorResponses } }, schemaErrorFormatter },
    async (request) => {
      const owner = getAddress(request.params.address);
      const { primary } = request.params;
      const signed = signedFields(request.body);
      await checkOwner(owner, "QualityGateRemoval", { owner, primary, ...signed }, request.body.signature as Hex);
      const result = await withTeamNonce(app.sql, { owner: addressKey(owner), nonce: signed.nonce }, (tx) => removeGate(tx, { owner: addressKey(owner), primary }));
      if (isRefusal(result)) throw refusalError(result);
      return { owner: addressKey(owner), removed: primary };
    },
  );

  app.get(
    "/v1/teams/:address",
    {
      schema: { summary: "The team, its members' spend today and its gates' reliability (owner signed in)", tags: ["teams"], params: TeamParams, headers: SignInHeaders, response: { 200: TeamView, ...errorResponses } },
      schemaErrorFormatter,
      preHandler: signedIn,
    },
    async (request) => {
      const owner = addressKey(request.params.address);
      const team = await getTeam(app.sql, { owner });
      if (!team) throw refusalError({ refused: "team_not_found" });
      const gates = await Promise.all(
        team.gates.map(async (gate) => {
          const reliability = await getReliability(app.sql, { serviceId: gate.primary, windowCalls: gate.windowCalls, maxLatencyMs: gate.maxLatencyMs });
          const { owner: _owner, ...fields } = gate;
          const { calls, successes, scoreBps, medianLatencyMs } = reliability;
          return { ...fields, reliability: { calls, successes, scoreBps, medianLatencyMs, degraded: isDegraded(reliability, gate) } };
        }),
      );
      return {
        owner,
        name: team.name,
        nonce: team.nonce,
        createdAt: team.createdAt.toISOString(),
        members: team.members.map((m) => ({
          member: m.member,
          services: m.services,
          dailyBudget: m.dailyBudget.toString(),
          callCap: m.callCap?.toString() ?? null,
          spentToday: m.spentToday.toString(),
        })),
        gates,
      };
    },
  );

  app.get(
    "/v1/teams/:address/spending",
    {
      schema: { summary: "What the team spent: total, per member, per service (owner signed in)", tags: ["teams"], params: TeamParams, headers: SignInHeaders, querystring: SpendingQuery, response: { 200: TeamSpendingResponse, ...errorResponses } },
      schemaErrorFormatter,
      preHandler: signedIn,
    },
    async (request, reply) => {
      reply.header("cache-control", "private, no-store");
      const { period, ...range } = request.query;
      const invalid = (message: string) => new ApiError({ status: 400, code: "invalid_time_range", message });
      if (period !== undefined && (range.from !== undefined || range.to !== undefined)) throw invalid("Pass either period or from/to, not both");
      const to = range.to === undefined ? new Date() : new Date(range.to);
      const from = range.from === undefined ? new Date(to.getTime() - PERIOD_MS[period ?? "month"]) : new Date(range.from);
      if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from.getTime() < 0) throw invalid("from and to must be times from 1970 on");
      if (from.getTime() >= to.getTime()) throw invalid("from must be before to");
      const owner = addressKey(request.params.address);
      const report = await teamSpending(app.sql, { owner, from, to });
      const totals = (t: { total: bigint; calls: number }) => ({ total: t.total.toString(), calls: t.calls });
      return {
        owner,
        from: from.toISOString(),
        to: to.toISOString(),
        ...totals(report),
        byMember: report.byMember.map((m) => ({ member: m.member, ...totals(m) })),
        byService: report.byService.map((s) => ({ serviceId: s.serviceId, ...totals(s) })),
      };
    },
  );
};

export default teams;

function signedFields({ nonce, deadline }: { nonce: string; deadline: string }): { nonce: bigint; deadline: bigint } {
  const value = BigInt(deadline);
  const now = BigInt(Math.floor(Date.now() / 1000));
  if (value < now) throw new ApiError({ status: 400, code: "deadline_expired", message: `The request's deadline ${value} has passed.` });
  if (value > now + MAX_DEADLINE_SECONDS) throw new ApiError({ status: 400, code: "deadline_too_far", message: `The deadline may be at most ${MAX_DEADLINE_SECONDS} seconds ahead.` });
  const parsed = BigInt(nonce);
  if (parsed >= 2n ** 256n) throw new ApiError({ status: 400, code: "invalid_nonce", message: "nonce must fit in a uint256." });
  return { nonce: parsed, deadline: value };
}

function amount(value: string, field: string): bigint {
  const parsed = BigInt(value);
  if (parsed > MAX_PRICE) throw new ApiError({ status: 400, code: "invalid_amount", message: `${field} must be USDC atomic units from 0 to 2^128 - 1.` });
  return parsed;
}

function refusalError(refusal: TeamChangeRefusal): ApiError {
  switch (refusal.refused) {
    case "team_not_found":
      return new ApiError({ status: 404, code: "team_not_found", message: "This owner has no team; create it first (POST /v1/teams)" });
    case "team_exists":
      return new ApiError({ status: 409, code: "team_exists", message: "This owner already has a team" });
    case "stale_nonce":
      return new ApiError({ status: 409, code: "stale_nonce", message: `The nonce must be greater than ${refusal.storedNonce}, the team's last accepted one.` });
    case "member_not_found":
      return new ApiError({ status: 404, code: "member_not_found", message: "No such member in this team" });
    case "gate_not_found":
      return new ApiError({ status: 404, code: "gate_not_found", message: "No quality gate on this service in this team" });
  }
}
