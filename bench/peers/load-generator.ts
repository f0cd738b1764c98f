/**
 * The load generator of bench/server.ts, in a process of its own so that it never shares an event loop (or, pinned
 * with taskset, a CPU) with the server it measures. It stays up for the whole benchmark and runs autocannon once per
 * command it reads on stdin (one JSON line each):
 *
 *   -> {"id": 1, "url": "...", "bodyFile": "...", "connections": 2, "warmupSeconds": 1, "seconds": 5}
 *   <- {"id": 1, "phase": "warm"}                 warm-up done; waits for the go-ahead so that the caller can read
 *   -> {"id": 1, "go": true}                      the server's CPU counters at the start of the measured run
 *   <- {"id": 1, "phase": "done", "result": {...}}
 *
 * Latency percentiles come from every response's own time (autocannon's `response` event, fractional ms), since
 * autocannon's histogram keeps whole milliseconds.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

/** One run, as the driver (./load.ts) asks for it. */
export interface LoadRun {
  url: string;
  bodyFile: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  headers?: Record<string, string>;
  /** Requests per second over all connections (autocannon corrects latencies for coordinated omission). */
  overallRate?: number;
  /** A JSON array of {method, path, headers, body} that each connection cycles through, instead of one body. */
  requestsFile?: string;
}

interface Command extends LoadRun {
  id: number;
  go?: boolean;
}

/** The part of autocannon's result this script reads. */
interface AutocannonResult {
  requests: { total: number; average: number };
  throughput: { average: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  resets?: number;
  statusCodeStats?: Record<string, { count: number }>;
}
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (options: Record<string, unknown>) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  /** CPU seconds this process used during the measured run (user + system). */
  cpuSeconds: number;
  bytesPerSecond: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const bodies = new Map<string, Buffer>();
function body(file: string): Buffer {
  let value = bodies.get(file);
  if (!value) {
    value = readFileSync(file);
    bodies.set(file, value);
  }
  return value;
}

function options(command: Command, seconds: number): Record<string, unknown> {
  return {
    url: command.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...command.headers },
    ...(command.requestsFile ? { requests: JSON.parse(body(command.requestsFile).toString('utf8')) as unknown[] } : { body: body(command.bodyFile) }),
    connections: command.connections,
    duration: seconds,
    ...(command.overallRate ? { overallRate: command.overallRate } : {}),
    // The default 10 s timeout would hide a stall as a low figure; keep it, and count timeouts.
    timeout: 10,
  };
}

const send = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
const waiting = new Map<number, () => void>();

async function run(command: Command): Promise<void> {
  if (command.warmupSeconds > 0) await autocannon(options(command, command.warmupSeconds));
  send({ id: command.id, phase: 'warm' });
  await new Promise<void>((resolve) => waiting.set(command.id, resolve));
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const instance = autocannon(options(command, command.seconds));
  instance.on('response', (_client, _status, _bytes, ms) => void latencies.push(ms));
  const result = await instance;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = count;
  const load: LoadResult = {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    latencyMs: {
      mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    },
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    bytesPerSecond: result.throughput.average,
  };
  send({ id: command.id, phase: 'done', result: load });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  if (command.go) {
    waiting.get(command.id)?.();
    waiting.delete(command.id);
    return;
  }
  run(command).catch((error: Error) => send({ id: command.id, phase: 'error', message: error.message }));
});
