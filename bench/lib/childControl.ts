/**
 * Measurement hooks every benchmarked server process answers over IPC: its event-loop
 * utilisation over a window (`elu-start` / `elu-stop`: 1.0 means its one JavaScript thread never
 * waited) and a CPU profile of just that window (`profile-start` / `profile-stop` with a path,
 * written in Chrome's .cpuprofile format).
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import type { EventLoopUtilization } from "node:perf_hooks";

export function answerMeasurements() {
  let elu: EventLoopUtilization | undefined;
  let session: Session | undefined;
  process.on("message", (message: { type: string; path?: string }) => {
    void (async () => {
      try {
        if (message.type === "elu-start") {
          elu = performance.eventLoopUtilization();
          process.send?.({ type: "elu-started" });
        } else if (message.type === "elu-stop") {
          process.send?.({ type: "elu", utilization: performance.eventLoopUtilization(elu).utilization });
        } else if (message.type === "profile-start") {
          session = new Session();
          session.connect();
          await session.post("Profiler.setSamplingInterval", { interval: 200 });
          await session.post("Profiler.enable");
          await session.post("Profiler.start");
          process.send?.({ type: "profile-started" });
        } else if (message.type === "profile-stop" && session && message.path) {
          const { profile } = await session.post("Profiler.stop");
          session.disconnect();
          await writeFile(message.path, JSON.stringify(profile));
          process.send?.({ type: "profile", path: message.path });
        }
      } catch (error) {
        process.send?.({ type: "error", message: String((error as Error)?.stack ?? error) });
      }
    })();
  });
}
