/**
 * Soak: a mix of real traffic at half the server's measured capacity for N minutes, watching for leaks and stalls.
 *
 *   npx tsx bench/endurance/soak.ts [--minutes 10 | --seconds S]
 *
 * The server (`serve --workers 1`) is pinned to CPU 1 and the load generator (autocannon, its own process) to CPU 0
 * where taskset exists. First a 4 s probe at 16 connections measures capacity on the mix; then autocannon sends the
 * mix at half that rate (overallRate, so latencies are corrected for coordinated omission). The mix, cycled by every
 * connection: 1 KiB decodes (4 of 10), a 16 KiB decode, 1 KiB and 16 KiB encodes, a tampered payload (422), a body
 * that is not JSON (400), and GET /livez. Every 5 s (every 1/20 of a run shorter than 100 s): RSS
 * (/proc/<pid>/status), open descriptors (/proc/<pid>/fd) and /metrics, whose prom-client default metrics give the
 * event-loop delay p99 since the previous sample (prom-client resets the histogram at each scrape; Node's
 * monitorEventLoopDelay includes its 10 ms sampling interval, which is subtracted).
 *
 * Pass: after warm-up (the first 20% of the run, at least 5 s), RSS grows less than 10% (median of the first 30 s
 * after warm-up against the median of the last 30 s; a quarter of the samples each in a short run), the descriptor
 * count stays within +5, every sampling window's event-loop delay p99 stays under 50 ms, no reply is >= 500, no
 * request errors or times out.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBody, encodeBody } from '../peers/bodies.js';
import { send } from '../peers/http-client.js';
import { type LoadResult, startLoadGenerator } from '../peers/load.js';
import { canPin, openFds, rssBytes } from '../peers/targets.js';
import { gauge, isMain, ORIGIN, requestCounts, startOurs, stopAndCheck } from './lib.js';

export interface SoakOptions {
  seconds: number;
  /** Share of the probed capacity to send (issue 7: half). */
  loadShare?: number;
  rssGrowthLimit?: number;
  fdGrowthLimit?: number;
  eventLoopP99LimitMs?: number;
  sampleEveryMs?: number;
  log?: (text: string) => void;
}

export interface SoakSample {
  atSeconds: number;
  rssMiB: number;
  fds: number;
  eventLoopP99Ms?: number;
  heapUsedMiB?: number;
}

export interface SoakResult {
  capacityRps: number;
  rateRps: number;
  seconds: number;
  load: LoadResult;
  samples: SoakSample[];
  rss: { baselineMiB: number; finalMiB: number; growth: number };
  fds: { baseline: number; final: number; max: number };
  eventLoopP99MaxMs: number;
  serverStatus: Record<string, number>;
  violations: string[];
}

const MIB = 1024 * 1024;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const share = options.loadShare ?? 0.5;
  // Every 5 s, or often enough for 20 samples in a short run.
  const sampleEveryMs = options.sampleEveryMs ?? Math.min(5000, (options.seconds * 1000) / 20);
  const ours = await startOurs({ ...(canPin ? { cpus: '1' } : {}) });
  const pid = ours.target.pid;
  const dir = mkdtempSync(join(tmpdir(), 'codec-soak-'));
  const generator = startLoadGenerator(canPin ? '0' : undefined);
  try {
    const decode1k = ours.decode1k.body;
    const decode16k = decodeBody(ours.codecs, 16 * 1024).body;
    const tampered = decode1k.replace(/"data":"(.)/, (_m, c: string) => `"data":"${c === 'A' ? 'B' : 'A'}`);
    const headers = { 'content-type': 'application/json', 'x-namespace': 'default', origin: ORIGIN };
    const post = (path: string, body: string) => ({ method: 'POST', path, headers, body });
    const mix = [
      post('/decode', decode1k),
      post('/decode', decode16k),
      post('/decode', decode1k),
      post('/encode', encodeBody(1024).body),
      post('/decode', decode1k),
      post('/decode', tampered),
      post('/encode', encodeBody(16 * 1024).body),
      post('/decode', decode1k),
      post('/decode', '{"payloads": [oops'),
      { method: 'GET', path: '/livez', headers: {} },
    ];
    const requestsFile = join(dir, 'mix.json');
    writeFileSync(requestsFile, JSON.stringify(mix));
    const base = { url: ours.url, bodyFile: requestsFile, requestsFile };

    const probe = await generator.run({ ...base, connections: 16, seconds: 4, warmupSeconds: 1 }, () => undefined);
    const capacityRps = probe.rps;
    const rateRps = Math.max(10, Math.round(capacityRps * share));
    log(`capacity on the mix: ${Math.round(capacityRps)} req/s; soaking at ${rateRps} req/s for ${options.seconds} s`);

    const samples: SoakSample[] = [];
    const started = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await new Promise((r) => setTimeout(r, sampleEveryMs));
        if (!sampling) break;
        const metrics = await send(`${ours.url}/metrics`, undefined, { method: 'GET', timeoutMs: 5000 }).catch(() => undefined);
        const p99 = metrics ? gauge(metrics.text, 'nodejs_eventloop_lag_p99_seconds') : undefined;
        const heap = metrics ? gauge(metrics.text, 'nodejs_heap_size_used_bytes') : undefined;
        const sample: SoakSample = {
          atSeconds: (performance.now() - started) / 1000,
          rssMiB: rssBytes(pid) / MIB,
          fds: openFds(pid),
          // monitorEventLoopDelay records whole intervals; prom-client samples every 10 ms.
          ...(p99 !== undefined ? { eventLoopP99Ms: Math.max(0, p99 * 1000 - 10) } : {}),
          ...(heap !== undefined ? { heapUsedMiB: heap / MIB } : {}),
        };
        samples.push(sample);
        if (samples.length % 12 === 0) log(`  ${Math.round(sample.atSeconds)} s: RSS ${sample.rssMiB.toFixed(1)} MiB, ${sample.fds} fds, event-loop p99 ${sample.eventLoopP99Ms?.toFixed(1)} ms`);
      }
    })();
    const load = await generator.run({ ...base, connections: 16, seconds: options.seconds, warmupSeconds: 0, overallRate: rateRps }, () => undefined);
    sampling = false;
    await sampler;
    const serverStatus = (await requestCounts(ours.url).catch(() => ({ byStatus: {} as Record<string, number> }))).byStatus;
    const stopped = await stopAndCheck(ours);

    const warmup = Math.max(5, options.seconds * 0.2);
    const after = samples.filter((s) => s.atSeconds >= warmup);
    // Compare the first and the last stretch after warm-up: 30 s each, or a quarter of what is left in a short run.
    const stretch = Math.max(1, Math.min(Math.round(30_000 / sampleEveryMs), Math.floor(after.length / 4)));
    const first = after.slice(0, stretch);
    const last = after.slice(-stretch);
    const rssBaseline = median(first.map((s) => s.rssMiB));
    const rssFinal = median(last.map((s) => s.rssMiB));
    const fdBaseline = median(first.map((s) => s.fds));
    const fdFinal = median(last.map((s) => s.fds));
    const lags = after.map((s) => s.eventLoopP99Ms).filter((x): x is number => x !== undefined);
    const result: SoakResult = {
      capacityRps,
      rateRps,
      seconds: options.seconds,
      load,
      samples,
      rss: { baselineMiB: rssBaseline, finalMiB: rssFinal, growth: rssFinal / rssBaseline - 1 },
      fds: { baseline: fdBaseline, final: fdFinal, max: Math.max(...after.map((s) => s.fds)) },
      eventLoopP99MaxMs: lags.length ? Math.max(...lags) : Number.NaN,
      serverStatus,
      violations: [...stopped.problems],
    };
    const v = result.violations;
    const rssLimit = options.rssGrowthLimit ?? 0.1;
    const fdLimit = options.fdGrowthLimit ?? 5;
    const lagLimit = options.eventLoopP99LimitMs ?? 50;
    if (first.length === 0 || last.length === 0) v.push('too few samples to judge (run longer)');
    if (!(result.rss.growth < rssLimit)) v.push(`RSS grew ${(result.rss.growth * 100).toFixed(1)}% after warm-up (limit ${rssLimit * 100}%)`);
    if (!(fdFinal - fdBaseline <= fdLimit)) v.push(`open descriptors went from ${fdBaseline} to ${fdFinal}`);
    if (!(result.eventLoopP99MaxMs < lagLimit)) v.push(`event-loop delay p99 reached ${result.eventLoopP99MaxMs.toFixed(1)} ms (limit ${lagLimit} ms)`);
    const fiveXx = Object.entries(load.statusCodes).filter(([code]) => code.startsWith('5')).reduce((n, [, c]) => n + c, 0);
    if (fiveXx > 0) v.push(`${fiveXx} replies >= 500`);
    if (load.errors > 0 || load.timeouts > 0) v.push(`${load.errors} request errors, ${load.timeouts} timeouts`);
    if (load.requests < rateRps * options.seconds * 0.8) v.push(`only ${load.requests} requests answered of about ${rateRps * options.seconds} sent`);
    return result;
  } finally {
    generator.close();
    if (ours.alive()) await ours.target.stop(2000);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) {
  const { flagValue } = await import('../lib/report.js');
  const seconds = Number(flagValue('seconds') ?? Number(flagValue('minutes') ?? 10) * 60);
  console.log(`soak: ${seconds} s at half the measured capacity`);
  const result = await runSoak({ seconds, log: (t) => console.log(t) });
  const { mkdirSync: mkdir, writeFileSync: write } = await import('node:fs');
  const { RESULTS_DIR } = await import('../peers/targets.js');
  mkdir(join(RESULTS_DIR, 'endurance'), { recursive: true });
  write(join(RESULTS_DIR, 'endurance', 'soak-latest.json'), JSON.stringify(result, null, 2));
  const { samples, load, ...rest } = result;
  const lags = samples.map((s) => s.eventLoopP99Ms ?? 0).sort((a, b) => a - b);
  console.log(`event-loop p99 per sampling window: median ${lags[lags.length >> 1]?.toFixed(1)} ms, max ${lags[lags.length - 1]?.toFixed(1)} ms, ${lags.filter((x) => x >= 50).length} of ${lags.length} windows >= 50 ms`);
  console.log(
    JSON.stringify(
      { ...rest, load: { requests: load.requests, rps: load.rps, latencyMs: load.latencyMs, statusCodes: load.statusCodes, errors: load.errors, timeouts: load.timeouts }, samples: samples.filter((_, i) => i % 6 === 0) },
      null,
      2,
    ),
  );
  console.log(result.violations.length === 0 ? 'PASS' : `FAIL: ${result.violations.join('; ')}`);
  process.exitCode = result.violations.length === 0 ? 0 : 1;
}
