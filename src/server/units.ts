/**
 * Parsers for the sizes and durations that flags and environment variables hold. Each returns undefined when the
 * text is not understood, so that the config module can report every problem at once.
 */

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i;
const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `4194304`, `4mb`, `4MiB`, `512k`: bytes, with binary multiples whatever the spelling (as the `bytes` package). */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? 'b').toLowerCase().charAt(0);
  const value = Math.floor(Number(match[1]) * SIZE_UNITS[unit]!);
  return Number.isSafeInteger(value) ? value : undefined;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** `5s`, `500ms`, `1m`, or a bare number of milliseconds (Node's own unit for server timeouts). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const value = Math.round(Number(match[1]) * DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()]!);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** A whole number written in decimal digits only. */
export function parseInteger(text: string): number | undefined {
  if (!/^\d+$/.test(text.trim())) return undefined;
  const value = Number(text.trim());
  return Number.isSafeInteger(value) ? value : undefined;
}

/** `true/false`, `1/0`, `yes/no`, `on/off`. */
export function parseBoolean(text: string): boolean | undefined {
  if (/^(true|1|yes|on)$/i.test(text.trim())) return true;
  if (/^(false|0|no|off)$/i.test(text.trim())) return false;
  return undefined;
}

/** 4194304 -> "4 MiB", 1000 -> "1000 B": for help text and messages. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} B`;
}
