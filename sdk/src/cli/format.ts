import { CliUsageError } from "./exitCodes.ts";

/** USDC has 6 decimals: 1 USDC = 1_000_000 atomic units. */
const USDC_DECIMALS = 6;
const UNIT = 10n ** BigInt(USDC_DECIMALS);

/**
 * Parses a USDC amount typed by a person ("1.5", "0.000001", "20") into atomic units. More than six
 * decimals, a sign, an exponent or anything else is a usage error, never a silent rounding.
 *
 * @example
 * parseUsdc("1.5"); // 1_500_000n
 * parseUsdc("0.000001"); // 1n
 */
export function parseUsdc(text: string, { name = "amount" }: { name?: string } = {}): bigint {
  const match = /^([0-9]+)?(?:\.([0-9]*))?$/.exec(text.trim());
  if (!match || (match[1] === undefined && !match[2])) throw new CliUsageError(`${name} must be a USDC amount such as 1.5, got "${text}"`);
  const fraction = match[2] ?? "";
  if (fraction.length > USDC_DECIMALS) throw new CliUsageError(`${name} has more than ${USDC_DECIMALS} decimals (USDC's smallest unit is 0.000001): "${text}"`);
  return BigInt(match[1] ?? "0") * UNIT + BigInt(fraction.padEnd(USDC_DECIMALS, "0"));
}

/**
 * Formats atomic units as USDC with all six decimals, for people.
 *
 * @example
 * formatUsdc(1_500_000n); // "1.500000"
 * formatUsdc(-25_000n); // "-0.025000"
 */
export function formatUsdc(amount: bigint): string {
  const sign = amount < 0n ? "-" : "";
  const abs = amount < 0n ? -amount : amount;
  return `${sign}${abs / UNIT}.${(abs % UNIT).toString().padStart(USDC_DECIMALS, "0")}`;
}

/**
 * JSON for scripts: bigints (USDC atomic units, block numbers, gas) become decimal strings.
 *
 * @example
 * toJson({ amount: 25_000n }); // '{"amount":"25000"}'
 */
export function toJson(value: unknown, { pretty = false }: { pretty?: boolean } = {}): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v), pretty ? 2 : undefined);
}

/** How human output is laid out: aligned columns for a terminal, tab-separated for pipes, or JSON. */
export type OutputFormat = "table" | "tsv" | "json";

/**
 * Renders rows under a header: aligned columns (numbers right-aligned) for `table`, tab-separated
 * lines for `tsv`.
 *
 * @example
 * renderTable([["service", "total"], ["echo", "0.025000"]], { format: "table", numeric: [1] });
 */
export function renderTable(rows: readonly (readonly string[])[], { format, numeric = [] }: { format: "table" | "tsv"; numeric?: readonly number[] }): string {
  if (format === "tsv") return rows.map((row) => row.join("\t")).join("\n");
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (numeric.includes(i) ? cell.padStart(widths[i] ?? 0) : i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const [header, ...body] = rows;
  if (header === undefined) return "";
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...body.map(line)].join("\n");
}

/**
 * Renders label/value pairs (one record) as two aligned columns, or `label<TAB>value` lines.
 *
 * @example
 * renderFields([["available", "0.975000 USDC"]], { format: "table" });
 */
export function renderFields(fields: readonly (readonly [string, string])[], { format }: { format: "table" | "tsv" }): string {
  if (format === "tsv") return fields.map(([k, v]) => `${k}\t${v}`).join("\n");
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}
