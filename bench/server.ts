/**
 * Throughput and latency of the codec server over HTTP, against two peers measured in the same run:
 * - `echo`: a bare node:http server that reads the body, JSON.parse, JSON.stringify, answers (bench/peers/node-echo.ts):
 *   the ceiling for any Node server;
 * - `go`: the Go SDK's converter.NewPayloadCodecHTTPHandler with an AES-256-GCM codec of our wire format and the SDK's
 *   ZlibCodec (bench/peers/go), what a Go shop would deploy;
 * and, for reference, `floor`: a bare node:http server that does the codec work with this package's library and nothing
 * else (bench/peers/node-floor.ts), the least any Node codec server costs; one core only.
 *
 *   npx tsx bench/server.ts            # full run, about 7 minutes: /decode and /encode
 *   npx tsx bench/server.ts --quick    # about 2 minutes: /decode only, one round, no priming
 *   npx tsx bench/server.ts --dist     # serve with `node dist/cli.js` (after `npm run build`), the build users run,
 *                                      # instead of the sources under tsx (17% more CPU per 1 KiB decode in one A/B run)
 *
 * Targets, each its own process on 127.0.0.1, all started up front and measured in interleaved order (the order
 * rotates every cell, and each cell is measured in 2 rounds far apart in time; 1 s warm-up, then 2 s measured):
 *   ours-1 / echo-1 / go-1   one core: `serve --workers 1`, echo in one process, Go with GOMAXPROCS=1, each pinned
 *   floor-1                  with taskset to CPU 1 while the load generator is pinned to CPU 0;
 *   ours-2 / echo-2 / go-2   two cores: `--workers 2` (node:cluster), echo with 2 cluster workers, GOMAXPROCS=2,
 *                            unpinned (they share the 2 CPUs with the load generator).
 * Bodies: one JSON payload of orders, 1 KiB, 16 KiB or 256 KiB of `data`, compressed and encrypted by the library
 * (decode) or plain (encode). Load: autocannon in its own process (bench/peers/load-generator.ts), 2 and 32 keep-alive
 * connections, a short warm-up, then the measured run. Every server's answer is checked before it is measured.
 *
 * Per run: req/s, p50/p99 latency, and the server's own CPU per request (from /proc: utime + stime of the process and
 * its cluster workers), which does not depend on whether the load generator kept up. Results go to
 * bench/results/server-<time>.json and bench/results/server-latest.json (read by bench/chart.ts).
 *
 * Targets (issue 7): /decode at 1 KiB >= 50% of the echo's throughput per core, >= 1.0x the Go peer with the same
 * cores, p99 <= 5 ms at 2 connections.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { flagValue, fmt, formatSize, hasFlag, table } from './lib/report.js';
import { benchCodecs, type BenchBody, checkAnswer, decodeBody, encodeBody } from './peers/bodies.js';
import { send } from './peers/http-client.js';
import { type LoadResult, startLoadGenerator } from './peers/load.js';
import {
  buildGoPeer,
  canPin,
  goVersion,
  newKeyValue,
  RESULTS_DIR,
  type RunningTarget,
  startTarget,
  type TargetSpec,
  treeCpuSeconds,
} from './peers/targets.js';

const quick = hasFlag('quick');
const dist = hasFlag('dist');
const SIZES = [1024, 16 * 1024, 256 * 1024];
const CONNECTIONS = [2, 32];
const ROUNDS = quick ? 1 : 2;
// autocannon counts its duration in whole seconds.
const SECONDS = Number(flagValue('seconds') ?? 2);
const WARMUP_SECONDS = 1;
/** In a full run each target sees each body once, at 8 connections, before any measured run (JIT, caches, Go's heap). */
const PRIME_SECONDS = quick ? 0 : 1;
const CORS_ORIGIN = 'http://localhost:8233';
/** What the Web UI and the CLI send besides the body. */
const HEADERS = { 'x-namespace': 'default', origin: CORS_ORIGIN };

type Operation = 'decode' | 'encode';

interface Cell {
  operation: Operation;
  size: number;
  connections: number;
  targets: string[];
}

interface Run extends LoadResult {
  round: number;
  operation: Operation;
  size: number;
  connections: number;
  target: string;
  serverCpuSeconds: number;
  /** Server CPU microseconds per request. */
  serverCpuUsPerRequest: number;
  /** Load generator CPU as a share of one core during the run. */
  clientCpuShare: number;
  order: number;
}

function log(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = loadavg();
  const { key, value: keyValue } = newKeyValue();
  const codecs = benchCodecs(key);
  const env = { TEMPORAL_ENCRYPTION_KEY_default: keyValue };

  const go = buildGoPeer();
  if ('error' in go) log(`Go peer skipped: ${go.error}`);
  if (!canPin) log('taskset is unavailable: the one-core targets run unpinned (their figures are less clean)');

  const specs: TargetSpec[] = [
    { name: 'ours-1', kind: 'ours', cores: 1, cpus: '1', args: ['--cors-origins', CORS_ORIGIN] },
    { name: 'echo-1', kind: 'echo', cores: 1, cpus: '1' },
    { name: 'floor-1', kind: 'floor', cores: 1, cpus: '1' },
    ...('error' in go ? [] : [{ name: 'go-1', kind: 'go', cores: 1, cpus: '1' } as TargetSpec]),
    { name: 'ours-2', kind: 'ours', cores: 2, args: ['--cors-origins', CORS_ORIGIN] },
    { name: 'echo-2', kind: 'echo', cores: 2 },
    ...('error' in go ? [] : [{ name: 'go-2', kind: 'go', cores: 2 } as TargetSpec]),
  ];

  // Bodies on disk for the load generator.
  const bodyDir = join(RESULTS_DIR, 'bodies');
  mkdirSync(bodyDir, { recursive: true });
  const bodies = new Map<string, BenchBody & { file: string }>();
  for (const size of SIZES) {
    for (const body of [decodeBody(codecs, size), encodeBody(size)]) {
      const file = join(bodyDir, `${body.operation}-${size}.json`);
      writeFileSync(file, body.body);
      bodies.set(`${body.operation}-${size}`, { ...body, file });
    }
  }

  const targets = new Map<string, RunningTarget>();
  const pinned = startLoadGenerator(canPin ? '0' : undefined);
  const free = startLoadGenerator();
  try {
    for (const spec of specs) targets.set(spec.name, await startTarget(spec, { env, dist }));
    log(`targets up: ${specs.map((s) => `${s.name} (pid ${targets.get(s.name)!.pid})`).join(', ')}`);

    // Every answer is checked before anything is measured: a fast wrong answer is no result.
    for (const [, body] of bodies) {
      for (const spec of specs) {
        if (spec.kind === 'echo' && body.operation === 'encode') continue;
        const target = targets.get(spec.name)!;
        const reply = await send(`${target.url}/${body.operation}`, body.body, { headers: HEADERS });
        const problem =
          spec.kind === 'echo'
            ? reply.status === 200 && reply.text === JSON.stringify(JSON.parse(body.body))
              ? undefined
              : `echo answered ${reply.status}`
            : checkAnswer(codecs, body, reply.status, reply.text);
        if (problem) throw new Error(`${spec.name} ${body.operation} ${formatSize(body.payloadSize)}: ${problem}`);
      }
    }
    log('every target answers every body correctly');

    const cells: Cell[] = [];
    const all = specs.map((s) => s.name);
    const codecTargets = specs.filter((s) => s.kind !== 'echo').map((s) => s.name);
    for (const size of SIZES) for (const connections of CONNECTIONS) cells.push({ operation: 'decode', size, connections, targets: all });
    if (!quick) {
      for (const size of SIZES) for (const connections of CONNECTIONS) cells.push({ operation: 'encode', size, connections, targets: codecTargets });
    }
    const total = ROUNDS * cells.reduce((n, cell) => n + cell.targets.length, 0);
    log(`${total} measured runs of ${SECONDS} s after ${WARMUP_SECONDS} s warm-up each; ${ROUNDS} round(s)`);

    const measure = async (target: RunningTarget, body: BenchBody & { file: string }, connections: number, seconds: number, warmup: number) => {
      const generator = target.spec.cpus && canPin ? pinned : free;
      let cpuAtStart = 0;
      const result = await generator.run(
        { url: `${target.url}/${body.operation}`, bodyFile: body.file, connections, seconds, warmupSeconds: warmup, headers: HEADERS },
        () => {
          cpuAtStart = treeCpuSeconds(target.pid);
        },
      );
      const serverCpuSeconds = treeCpuSeconds(target.pid) - cpuAtStart;
      return { result, serverCpuSeconds };
    };

    // Prime: every target, every body, once.
    for (const cell of PRIME_SECONDS > 0 ? cells.filter((c) => c.connections === CONNECTIONS[0]) : []) {
      for (const name of cell.targets) await measure(targets.get(name)!, bodies.get(`${cell.operation}-${cell.size}`)!, 8, PRIME_SECONDS, 0);
    }

    const runs: Run[] = [];
    let done = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let c = 0; c < cells.length; c++) {
        const cell = cells[c]!;
        const body = bodies.get(`${cell.operation}-${cell.size}`)!;
        const shift = (c + round * 3) % cell.targets.length;
        const order = [...cell.targets.slice(shift), ...cell.targets.slice(0, shift)];
        for (let i = 0; i < order.length; i++) {
          const name = order[i]!;
          const target = targets.get(name)!;
          const { result, serverCpuSeconds } = await measure(target, body, cell.connections, SECONDS, WARMUP_SECONDS);
          runs.push({
            ...result,
            round,
            operation: cell.operation,
            size: cell.size,
            connections: cell.connections,
            target: name,
            serverCpuSeconds,
            serverCpuUsPerRequest: result.requests > 0 ? (serverCpuSeconds / result.requests) * 1e6 : Number.NaN,
            clientCpuShare: result.cpuSeconds / result.seconds,
            order: i,
          });
          done++;
          if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
            log(`  ! ${name} ${cell.operation} ${formatSize(cell.size)} c=${cell.connections}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts ${JSON.stringify(result.statusCodes)}`);
          }
        }
        process.stdout.write(`\r  ${done}/${total} runs, ${Math.round((Date.now() - started) / 1000)} s`);
      }
    }
    process.stdout.write('\n');

    const exits: Record<string, unknown> = {};
    for (const [name, target] of targets) {
      const exit = await target.stop();
      exits[name] = { ...exit, stderr: target.stderr().slice(0, 2000) };
    }
    targets.clear();

    const summary = summarise(runs, cells, specs);
    const machine = {
      cpu: readCpuModel(),
      logicalCpus: availableParallelism(),
      node: process.version,
      go: goVersion(),
      loadBefore,
      loadAfter: loadavg(),
      pinned: canPin,
    };
    const report = {
      date: new Date().toISOString(),
      quick,
      dist,
      settings: { sizes: SIZES, connections: CONNECTIONS, rounds: ROUNDS, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS },
      machine,
      bodies: [...bodies.values()].map((b) => ({ operation: b.operation, payloadSize: b.payloadSize, bodyBytes: Buffer.byteLength(b.body) })),
      exits,
      runs,
      summary,
      elapsedSeconds: (Date.now() - started) / 1000,
    };
    mkdirSync(RESULTS_DIR, { recursive: true });
    const stamp = report.date.replace(/[:.]/g, '-');
    writeFileSync(join(RESULTS_DIR, `server-${stamp}.json`), JSON.stringify(report, null, 2));
    writeFileSync(join(RESULTS_DIR, `server${quick ? '-quick' : ''}-latest.json`), JSON.stringify(report, null, 2));

    printReport(report.machine, report.bodies, summary, specs, exits);
    log(`\nresults: bench/results/server-${stamp}.json (${Math.round(report.elapsedSeconds)} s)`);
  } finally {
    for (const target of targets.values()) await target.stop(2000);
    pinned.close();
    free.close();
  }
}

function readCpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Figure {
  operation: Operation;
  size: number;
  connections: number;
  target: string;
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  clientCpuShare: number;
  failures: number;
}

interface Ratio {
  operation: Operation;
  size: number;
  connections: number;
  name: string;
  /** Median over rounds of the per-round throughput ratio. */
  rps: number;
  /** The peer's server CPU per request over ours (> 1: ours uses less CPU per request). */
  cpu: number;
}

const RATIOS: [string, string, string][] = [
  ['ours-1/echo-1', 'ours-1', 'echo-1'],
  ['ours-2/echo-2', 'ours-2', 'echo-2'],
  ['ours-1/go-1', 'ours-1', 'go-1'],
  ['ours-2/go-2', 'ours-2', 'go-2'],
  // What the floor shows: how much of the gap to the echo and to Go any Node codec server has, and what ours adds.
  ['floor-1/echo-1', 'floor-1', 'echo-1'],
  ['floor-1/go-1', 'floor-1', 'go-1'],
  ['ours-1/floor-1', 'ours-1', 'floor-1'],
];

function summarise(runs: Run[], cells: Cell[], specs: TargetSpec[]) {
  const figures: Figure[] = [];
  const ratios: Ratio[] = [];
  const names = new Set(specs.map((s) => s.name));
  for (const cell of cells) {
    const of = (target: string) => runs.filter((r) => r.operation === cell.operation && r.size === cell.size && r.connections === cell.connections && r.target === target);
    for (const target of cell.targets) {
      const mine = of(target);
      figures.push({
        operation: cell.operation,
        size: cell.size,
        connections: cell.connections,
        target,
        rps: median(mine.map((r) => r.rps)),
        p50: median(mine.map((r) => r.latencyMs.p50)),
        p99: median(mine.map((r) => r.latencyMs.p99)),
        cpuUsPerRequest: median(mine.map((r) => r.serverCpuUsPerRequest)),
        clientCpuShare: median(mine.map((r) => r.clientCpuShare)),
        failures: mine.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0),
      });
    }
    for (const [name, a, b] of RATIOS) {
      if (!names.has(a) || !names.has(b) || !cell.targets.includes(a) || !cell.targets.includes(b)) continue;
      const ra = of(a);
      const rb = of(b);
      const perRound = ra.map((run) => {
        const peer = rb.find((r) => r.round === run.round);
        return peer ? { rps: run.rps / peer.rps, cpu: peer.serverCpuUsPerRequest / run.serverCpuUsPerRequest } : undefined;
      });
      const valid = perRound.filter((x): x is { rps: number; cpu: number } => x !== undefined);
      ratios.push({
        operation: cell.operation,
        size: cell.size,
        connections: cell.connections,
        name,
        rps: median(valid.map((v) => v.rps)),
        cpu: median(valid.map((v) => v.cpu)),
      });
    }
  }
  const figure = (target: string, connections: number) =>
    figures.find((f) => f.operation === 'decode' && f.size === 1024 && f.connections === connections && f.target === target);
  const ratio = (name: string, connections: number) =>
    ratios.find((r) => r.operation === 'decode' && r.size === 1024 && r.connections === connections && r.name === name);
  const verdicts: { target: string; figure: string; met: boolean | undefined }[] = [];
  const check = (label: string, value: number | undefined, limit: number, atLeast: boolean, unit = 'x') => {
    if (value === undefined || !Number.isFinite(value)) {
      verdicts.push({ target: label, figure: 'not measured', met: undefined });
      return;
    }
    verdicts.push({ target: label, figure: `${fmt(value)}${unit}`, met: atLeast ? value >= limit : value <= limit });
  };
  check('decode 1 KiB, 32 conns: ours-1/echo-1 throughput >= 0.50', ratio('ours-1/echo-1', 32)?.rps, 0.5, true);
  check('decode 1 KiB, 32 conns: ours-2/echo-2 throughput >= 0.50', ratio('ours-2/echo-2', 32)?.rps, 0.5, true);
  check('decode 1 KiB, 32 conns: ours-1/go-1 throughput >= 1.0', ratio('ours-1/go-1', 32)?.rps, 1, true);
  check('decode 1 KiB, 32 conns: ours-2/go-2 throughput >= 1.0', ratio('ours-2/go-2', 32)?.rps, 1, true);
  check('decode 1 KiB, 2 conns: ours-1 p99 <= 5 ms', figure('ours-1', 2)?.p99, 5, false, ' ms');
  check('decode 1 KiB, 2 conns: ours-2 p99 <= 5 ms', figure('ours-2', 2)?.p99, 5, false, ' ms');
  return { figures, ratios, verdicts };
}

function printReport(
  machine: Record<string, unknown>,
  bodies: { operation: string; payloadSize: number; bodyBytes: number }[],
  summary: ReturnType<typeof summarise>,
  specs: TargetSpec[],
  exits: Record<string, unknown>,
): void {
  log(`\nmachine: ${machine.cpu}, ${machine.logicalCpus} CPUs, Node ${machine.node}, Go ${machine.go}; load ${JSON.stringify(machine.loadBefore)} -> ${JSON.stringify(machine.loadAfter)}`);
  log(`bodies: ${bodies.map((b) => `${b.operation} ${formatSize(b.payloadSize)} = ${fmt(b.bodyBytes)} B`).join(', ')}`);
  for (const operation of ['decode', 'encode'] as const) {
    const rows = summary.figures
      .filter((f) => f.operation === operation)
      .map((f) => [
        formatSize(f.size),
        String(f.connections),
        f.target,
        fmt(f.rps),
        f.p50.toFixed(2),
        f.p99.toFixed(2),
        fmt(f.cpuUsPerRequest),
        `${Math.round(f.clientCpuShare * 100)}%`,
        String(f.failures),
      ]);
    if (rows.length === 0) continue;
    log(`\n/${operation}`);
    log(table(['payload', 'conns', 'target', 'req/s', 'p50 ms', 'p99 ms', 'server CPU us/req', 'loadgen CPU', 'failures'], rows));
  }
  log('\nratios (median of per-round ratios; "CPU" = peer CPU per request / ours, > 1 means ours is cheaper)');
  log(
    table(
      ['op', 'payload', 'conns', 'ratio', 'throughput', 'CPU'],
      summary.ratios.map((r) => [r.operation, formatSize(r.size), String(r.connections), r.name, `${r.rps.toFixed(2)}x`, `${r.cpu.toFixed(2)}x`]),
    ),
  );
  log('\nverdicts');
  log(table(['target', 'figure', 'met'], summary.verdicts.map((v) => [v.target, v.figure, v.met === undefined ? '-' : v.met ? 'yes' : 'NO'])));
  const bad = Object.entries(exits).filter(([, e]) => {
    const exit = e as { code: number | null; signal: string | null; killed: boolean };
    return exit.killed || (exit.code !== 0 && exit.code !== null && exit.signal === null && exit.code !== 143);
  });
  if (bad.length > 0) log(`\nservers that did not stop cleanly: ${JSON.stringify(bad)}`);
  void specs;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
