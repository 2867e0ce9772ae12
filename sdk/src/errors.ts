/**
 * Base class of the SDK's errors: a stable `name` to branch on, a one-line `shortMessage`, and a
 * `message` that adds the details.
 *
 * @example
 * try {
 *   encodeClaims(claims);
 * } catch (error) {
 *   if (error instanceof AgentTabError) console.log(error.name, error.shortMessage);
 * }
 */
export class AgentTabError extends Error {
  override name = "AgentTabError";
  readonly shortMessage: string;

  constructor(shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(options.details === undefined ? shortMessage : `${shortMessage}\n\nDetails: ${options.details}`, {
      cause: options.cause,
    });
    this.shortMessage = shortMessage;
  }
}

/**
 * A claim cannot be packed into the layout the escrow reads (see `encodeClaims`).
 *
 * @example
 * new ClaimEncodingError({ index: 0, reason: "cumulative exceeds maxCumulative" });
 */
export class ClaimEncodingError extends AgentTabError {
  override name = "ClaimEncodingError";
  readonly index: number;

  constructor({ index, reason }: { index: number; reason: string }) {
    super(`Claim ${index} cannot be encoded: ${reason}.`);
    this.index = index;
  }
}

/**
 * Packed claims (`settle`'s input or a `BatchSettled` event's log) are cut short or use a reserved flag.
 *
 * @example
 * new ClaimsDecodingError({ offset: 21, reason: "entry cut short" });
 */
export class ClaimsDecodingError extends AgentTabError {
  override name = "ClaimsDecodingError";
  readonly offset: number;

  constructor({ offset, reason }: { offset: number; reason: string }) {
    super(`Malformed packed claims at byte ${offset}: ${reason}.`);
    this.offset = offset;
  }
}

/**
 * No deployment of the escrow is recorded for a chain, or its record is invalid.
 *
 * @example
 * new DeploymentNotFoundError({ chainId: 8453, path: "deployments/8453.json" });
 */
export class DeploymentNotFoundError extends AgentTabError {
  override name = "DeploymentNotFoundError";
  readonly chainId: number;

  constructor({ chainId, path, cause }: { chainId: number; path: string; cause?: unknown }) {
    super(`No AgentTab deployment for chain ${chainId}.`, { details: `could not read ${path}`, cause });
    this.chainId = chainId;
  }
}

/**
 * A deployment record is missing a field or has one of the wrong type.
 *
 * @example
 * new InvalidDeploymentError({ field: "escrow", reason: "not an address" });
 */
export class InvalidDeploymentError extends AgentTabError {
  override name = "InvalidDeploymentError";
  readonly field: string;

  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid deployment record: \`${field}\` ${reason}.`);
    this.field = field;
  }
}
