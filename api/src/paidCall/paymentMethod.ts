import type { PaymentRequirements } from "@x402/core/types";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Dispatcher } from "undici";
import type { Address, Hex } from "viem";

import type { PaidService } from "./services.ts";

/** One paid call, as the pipeline hands it to the payment method that takes its PAYMENT-SIGNATURE. */
export type PaidCall = {
  request: FastifyRequest;
  reply: FastifyReply;
  /** The service the call is addressed to. */
  service: PaidService;
  /** The PAYMENT-SIGNATURE header. */
  header: string;
  /** The resource URL that 402s name (absolute: the API's public origin, the proxy path, no query). */
  resourceUrl: string;
  /** The proxied path, as forwarded. */
  path: string;
  /** The caller's X-Payment-Max-Amount, if sent. */
  cap: bigint | undefined;
};

/** A payment a method has accepted (verified, and its money held or its authorization recorded). */
export type Authorization = {
  /** The service that serves the call: the addressed one, or a quality gate's backup. */
  service: PaidService;
  /** The call's id, which the ledger, the receipt and `X-ACF-Request-Id` carry. */
  requestId: string;
  /** Who pays: the receipt's payer. */
  payer: Address;
};

/** A call that is not paid for, and what its upstream did. */
export type Unpaid = {
  /** The upstream's 5xx status, or null when it gave none (a timeout, a connection error). */
  upstreamStatus: number | null;
  error: string | null;
  latencyMs: number;
  /**
   * Whether the failure is the upstream's, and joins its record (which quality gates judge it on):
   * a body over the limit, or a client that hung up or was still sending, are the caller's.
   */
  upstreamsFault: boolean;
};

/** A payment that went through: what the receipt signs (and the transaction, when money moved on-chain). */
export type Settlement = {
  amount: bigint;
  /** The payer's cumulative total the receipt carries. */
  cumulative: bigint;
  /** Receipt time, unix seconds. */
  issuedAt: bigint;
  transaction?: Hex;
};

/**
 * One way to pay for a call (a scheme of PAYMENT-SIGNATURE), behind the paid-call pipeline
 * (`pipeline.ts`), which does everything else: the 402, forwarding, classifying the upstream's
 * outcome, signing the receipt and answering. A method never forwards or answers itself.
 *
 * A 402 thrown by `authorize` or `settle` without a PAYMENT-REQUIRED header of its own gets one
 * offering every method's offers again, naming the error's code.
 */
export interface PaymentMethod<A extends Authorization = Authorization> {
  /** What a 402 for `service` offers for this method (possibly nothing). */
  offers(service: PaidService): PaymentRequirements[];
  /** Whether a PAYMENT-SIGNATURE header is meant for this method. */
  handles(header: string): boolean;
  /** What the end of a failure message says happened to the payer's money ("nothing was charged"). */
  readonly unpaid: string;
  /** The `calls` metric's outcome for a call paid this way. */
  readonly paidOutcome: string;
  /**
   * Undefined: the upstream's response streams to the client once paid for. A number: the whole
   * response (at most this many bytes) is read before `settle`, which pays for it only once it
   * arrived complete.
   */
  readonly wholeResponseBytes: number | undefined;
  /** Verifies the payment and holds the call's money (or records its authorization), before anything is forwarded. */
  authorize(call: PaidCall): Promise<A>;
  /** Lets an authorized payment go: the upstream failed, timed out or the call was cut short. */
  release(call: PaidCall, authorization: A, unpaid: Unpaid): Promise<void>;
  /**
   * Takes the payment for an upstream answer below 500, durably, before the response starts. On
   * failure it leaves nothing held (and discards the upstream's body if it still streams).
   */
  settle(call: PaidCall, authorization: A, upstream: Dispatcher.ResponseData, latencyMs: number): Promise<Settlement>;
  /** The PAYMENT-RESPONSE header for a settled call and its signed receipt. */
  paymentResponse(authorization: A, settlement: Settlement, receipt: Record<string, unknown>): string;
}
