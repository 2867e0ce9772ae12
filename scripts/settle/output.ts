import type { SettleReport } from "./run.ts";
import type { SettleLog, SettleProgress } from "./types.ts";

/** JSON with bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
}

const usdc = (atomic: bigint) => {
  const whole = atomic / 1_000_000n;
  const frac = (atomic % 1_000_000n).toString().padStart(6, "0");
  return `${whole}.${frac}`;
};

/** A logger: one JSON line per event (with a timestamp) when not on a terminal, a short line otherwise. */
export function createLogger({ json, write = (line: string) => process.stdout.write(`${line}\n`) }: { json: boolean; write?: (line: string) => void }): SettleLog {
  return (event, fields = {}) => {
    if (json) write(toJson({ time: new Date().toISOString(), event, ...fields }));
    else {
      const brief = Object.entries(fields)
        .filter(([, v]) => v !== undefined && typeof v !== "object")
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(" ");
      write(`${event.padEnd(16)} ${brief}`);
    }
  };
}

/** The summary a person reads: batches, providers, amounts, fee, gas, transactions, what was left out. */
export function summaryLines(report: SettleReport): string[] {
  const lines: string[] = [];
  const source = report.status === "dry-run" ? report.plans.map((p) => ({
    batchId: p.batchId,
    txHash: undefined,
    gasUsed: undefined,
    agents: new Set(p.entries.map((e) => e.account)).size,
    claims: p.entries.length,
    debited: p.entries.reduce((s, e) => s + e.delta, 0n),
    fee: p.fee,
    payouts: p.payouts,
  })) : report.batches;
  lines.push(`settlement: ${report.status}${report.status === "dry-run" ? " (nothing sent)" : ""}`);
  for (const b of source) {
    lines.push("");
    lines.push(`batch ${b.batchId}`);
    lines.push(`  agents ${b.agents}, claims ${b.claims}, debited ${usdc(b.debited)} USDC, fee ${usdc(b.fee)} USDC`);
    lines.push(`  tx ${b.txHash ?? "-"}   gas used ${b.gasUsed?.toString() ?? "-"}`);
    lines.push(`  ${"provider".padEnd(42)}  ${"claimed USDC".padStart(14)}  ${"fee USDC".padStart(12)}  ${"credited USDC".padStart(14)}  ${"served".padStart(7)}  ${"failed".padStart(7)}`);
    for (const p of b.payouts) {
      lines.push(
        `  ${p.provider.padEnd(42)}  ${usdc(p.gross).padStart(14)}  ${usdc(p.fee).padStart(12)}  ${usdc(p.amount).padStart(14)}  ${String(p.callsServed).padStart(7)}  ${String(p.callsFailed).padStart(7)}`,
      );
    }
  }
  if (report.excluded.length > 0) {
    lines.push("");
    lines.push(`left out (${report.excluded.length}), to settle once fixed:`);
    for (const e of report.excluded) {
      lines.push(`  ${e.account} signer ${e.signer}${e.provider ? ` provider ${e.provider}` : ""}: ${e.reason}${e.detail ? ` (${e.detail})` : ""}`);
    }
  }
  if (source.length === 0 && report.excluded.length === 0) lines.push("nothing to settle");
  return lines;
}

/** The exit code a scheduler acts on: 0 settled or nothing to do, 2 some entries left out. (1 is any failure.) */
export function exitCodeOf(report: SettleReport): number {
  return report.excluded.length > 0 ? 2 : 0;
}

export type ProgressBar = {
  update: SettleProgress;
  /** Erases the bar (before a log line, or when the run ends). */
  clear(): void;
  /** Draws the last state again (after a log line). */
  redraw(): void;
  /** Erases the bar for good (the run ended). */
  end(): void;
};

const STEPS: Record<Parameters<SettleProgress>[0], string> = {
  recover: "recovering open batches",
  plan: "planning tracks",
  verify: "verifying vouchers",
  simulate: "simulating the batch",
  send: "sending batches",
};

/**
 * A one-line progress bar for a terminal (`\r`-redrawn on `stream`); the CLI only creates one on a
 * TTY, where the logger clears and redraws it around each line.
 */
export function createProgressBar(stream: { write(chunk: string): unknown; columns?: number }, width = 24): ProgressBar {
  let last = "";
  const draw = (line: string) => stream.write(`\r${line}\x1b[K`);
  return {
    update(step, done, total) {
      const ratio = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(ratio * width);
      const counts = total > 1 ? ` ${done}/${total}` : "";
      last = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}% ${STEPS[step]}${counts}`;
      draw(last);
    },
    clear() {
      if (last !== "") stream.write("\r\x1b[K");
    },
    redraw() {
      if (last !== "") draw(last);
    },
    end() {
      if (last !== "") stream.write("\r\x1b[K");
      last = "";
    },
  };
}
