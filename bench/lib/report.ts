/** Plain-text tables and run metadata for the benchmark scripts. */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/** Renders rows as an aligned Markdown table (readable in a terminal and pasteable into BENCHMARKS.md). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const isNumber = (cell: string) => /^[-+]?[\d.,]+[%x]?$|^-$/.test(cell);
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => isNumber(row[i] ?? '')));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join(' | ')} |`;
  const dashes = widths.map((width, i) => (numeric[i] ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2)));
  const rule = `|${dashes.join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/** A number with a precision that suits its magnitude (3 significant figures, thousands grouped). */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A size in bytes as `64 B`, `16 KiB`, `2 MiB` (exact multiples) or `1.5 KiB`. */
export function formatSize(bytes: number): string {
  if (bytes >= 1 << 20) return `${trim(bytes / (1 << 20))} MiB`;
  if (bytes >= 1 << 10) return `${trim(bytes / (1 << 10))} KiB`;
  return `${bytes} B`;
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** CPU model, logical CPUs, Node version and load, for the header of every run. */
export function machineSummary(): string {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) model = match[1].trim();
  } catch {
    // Not Linux: os.cpus() already gave the model.
  }
  let load = '';
  try {
    load = `, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`;
  } catch {
    // No /proc/loadavg outside Linux.
  }
  return `${model}, ${availableParallelism()} logical CPUs, Node ${process.version} (${process.arch})${load}`;
}

/** Whether a `--name` flag is on the command line. */
export function hasFlag(name: string): boolean {
  return process.argv.slice(2).includes(`--${name}`);
}

/** The value of `--name=value` (or `--name value`), if given. */
export function flagValue(name: string): string | undefined {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
    if (arg === `--${name}`) return args[i + 1];
  }
  return undefined;
}
