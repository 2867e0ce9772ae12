export { ApiError } from "@agenttab/ledger";

/** The JSON body of every error response. */
export type ErrorBody = { code: string; message: string; reason?: string; details?: Record<string, unknown> };
