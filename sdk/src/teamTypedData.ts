import type { Address, Hex } from "viem";

import { apiDomain } from "./apiTypedData.ts";
import { typedMessage } from "./eip712/typedMessage.ts";
import type { TypedDataSigner } from "./eip712/typedMessage.ts";

/**
 * The EIP-712 types of a team owner's signed changes, under the AgentTab API domain
 * ({@link apiDomain}). Each carries the owner (the team's id), a nonce that must exceed the team's
 * last accepted one (so a change cannot be replayed) and a deadline at most a day ahead.
 *
 * @example
 * hashTypedData({ domain: apiDomain({ chainId, escrow }), types: { TeamMember: teamChangeTypes.TeamMember }, primaryType: "TeamMember", message });
 */
export const teamChangeTypes = {
  TeamCreation: [
    { name: "owner", type: "address" },
    { name: "name", type: "string" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
  TeamMember: [
    { name: "owner", type: "address" },
    { name: "member", type: "address" },
    { name: "services", type: "string[]" },
    { name: "dailyBudget", type: "uint256" },
    { name: "callCap", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
  TeamMemberBudget: [
    { name: "owner", type: "address" },
    { name: "member", type: "address" },
    { name: "dailyBudget", type: "uint256" },
    { name: "callCap", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
  TeamMemberRemoval: [
    { name: "owner", type: "address" },
    { name: "member", type: "address" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
  QualityGate: [
    { name: "owner", type: "address" },
    { name: "primary", type: "string" },
    { name: "backup", type: "string" },
    { name: "minReliabilityBps", type: "uint16" },
    { name: "maxLatencyMs", type: "uint32" },
    { name: "windowCalls", type: "uint16" },
    { name: "probeIntervalMs", type: "uint32" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
  QualityGateRemoval: [
    { name: "owner", type: "address" },
    { name: "primary", type: "string" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

type Signed = { owner: Address; nonce: bigint; deadline: bigint };

/** The messages of {@link teamChangeTypes}; amounts in USDC atomic units. */
export type TeamChangeMessages = {
  /** Creates the owner's team (one per owner). */
  TeamCreation: Signed & { name: string };
  /** Adds a member or replaces its rules. `services` lists the service ids it may call ("*" = any); `callCap` 0 = no per-call cap. */
  TeamMember: Signed & { member: Address; services: readonly string[]; dailyBudget: bigint; callCap: bigint };
  /** Changes a member's daily budget and per-call cap (0 = none), keeping its services. */
  TeamMemberBudget: Signed & { member: Address; dailyBudget: bigint; callCap: bigint };
  TeamMemberRemoval: Signed & { member: Address };
  /**
   * Adds or replaces the gate on `primary`: while fewer than `minReliabilityBps` / 10 000 of its
   * last `windowCalls` calls succeeded (status < 500 within `maxLatencyMs`), calls to it go to
   * `backup`, and one call per `probeIntervalMs` still goes to `primary` to see if it recovered.
   */
  QualityGate: Signed & { primary: string; backup: string; minReliabilityBps: number; maxLatencyMs: number; windowCalls: number; probeIntervalMs: number };
  QualityGateRemoval: Signed & { primary: string };
};

/** The kind of a team change: one of the primary types of {@link teamChangeTypes}. */
export type TeamChangeKind = keyof TeamChangeMessages;

/** A team change's typed data, as a signer receives it. */
export type TeamChangeTypedData<kind extends TeamChangeKind> = {
  domain: ReturnType<typeof apiDomain>;
  types: { [k in kind]: (typeof teamChangeTypes)[k] };
  primaryType: kind;
  message: TeamChangeMessages[kind];
};

type SignerOf<kind extends TeamChangeKind> = TypedDataSigner<TeamChangeTypedData<kind>>;

/** Anything that can sign every kind of team change: the owner's key, its wallet (see {@link TypedDataSigner}). */
export type TeamOwnerSigner = SignerOf<"TeamCreation"> &
  SignerOf<"TeamMember"> &
  SignerOf<"TeamMemberBudget"> &
  SignerOf<"TeamMemberRemoval"> &
  SignerOf<"QualityGate"> &
  SignerOf<"QualityGateRemoval">;

/** A change and the deployment it is for. */
export type TeamChangeParameters<kind extends TeamChangeKind> = {
  chainId: number;
  escrow: Address;
  kind: kind;
  message: TeamChangeMessages[kind];
};

/** A team change of one kind, with only its own struct in `types`. */
function teamChangeMessage<kind extends TeamChangeKind>(kind: kind) {
  const types = { [kind]: teamChangeTypes[kind] } as unknown as TeamChangeTypedData<kind>["types"];
  return typedMessage<TeamChangeMessages[kind]>()({ domain: apiDomain, types, primaryType: kind });
}

/**
 * The typed data of a team change, for signing, hashing or recovering its signer (the API
 * recovers it and requires the team's owner).
 *
 * @example
 * await recoverTypedDataAddress({ ...teamChangeTypedData({ chainId, escrow, kind: "TeamMemberRemoval", message }), signature });
 */
export function teamChangeTypedData<kind extends TeamChangeKind>({ chainId, escrow, kind, message }: TeamChangeParameters<kind>): TeamChangeTypedData<kind> {
  return teamChangeMessage(kind).typedData({ domain: { chainId, escrow }, message });
}

/**
 * Signs a team change as the team's owner; the `/v1/teams` routes take the message's fields and
 * this signature. The {@link Team} class does this for you.
 *
 * @example
 * import { privateKeyToAccount } from "viem/accounts";
 * const owner = privateKeyToAccount(key);
 * const signature = await signTeamChange(owner, {
 *   chainId: 8453,
 *   escrow: deployment.escrow,
 *   kind: "TeamMemberBudget",
 *   message: { owner: owner.address, member: "0x…", dailyBudget: 5_000_000n, callCap: 0n, nonce: 2n, deadline: BigInt(Math.floor(Date.now() / 1000) + 300) },
 * });
 */
export function signTeamChange<kind extends TeamChangeKind>(signer: TeamOwnerSigner, { chainId, escrow, kind, message }: TeamChangeParameters<kind>): Promise<Hex> {
  // Each kind's signer is a part of TeamOwnerSigner, which TypeScript cannot pick for a generic kind.
  return teamChangeMessage(kind).sign(signer as unknown as SignerOf<kind>, { domain: { chainId, escrow }, message });
}
