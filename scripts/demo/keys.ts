import { keccak256, toHex } from "viem";
import type { Hex } from "viem";

/**
 * A deterministic key for a demo role: local-chain only, never funded anywhere else.
 *
 * @example
 * privateKeyToAccount(demoKey("agent"));
 */
export const demoKey = (label: string): Hex => keccak256(toHex(`agenttab demo: ${label}`));
