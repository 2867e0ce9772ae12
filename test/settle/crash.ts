import type { SettleHooks } from "../../scripts/settle/run.ts";

/** The points of a settlement run a test can make it die at. */
export type CrashPoint = keyof Pick<SettleHooks, "afterRecord" | "afterSend" | "afterMined" | "beforeMark">;

/** What a run made to die by {@link crashAt} throws. */
export class SimulatedCrash extends Error {
  override name = "SimulatedCrash";
  readonly point: CrashPoint;
  constructor(point: CrashPoint) {
    super(`simulated crash at ${point}`);
    this.point = point;
  }
}

/**
 * Settlement hooks that make the run die at `point`, as a crash there would, to prove that the
 * next run recovers.
 *
 * @example
 * await expect(settle({ ...options, hooks: crashAt("afterSend") })).rejects.toBeInstanceOf(SimulatedCrash);
 */
export function crashAt(point: CrashPoint): SettleHooks {
  return {
    [point]: () => {
      throw new SimulatedCrash(point);
    },
  };
}
