export { charge, release } from "./charge.ts";
export type { ChargeDetails } from "./charge.ts";
export { migrate } from "./migrate.ts";
export { reserve } from "./reserve.ts";
export type { Reservation } from "./reserve.ts";
export { sweepExpired } from "./sweep.ts";
export { getTrackCharged } from "./tracks.ts";
