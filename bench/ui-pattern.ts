/**
 * The Temporal Web UI's pattern: it decodes a workflow history one request per payload group (an event's input,
 * result, headers, memo, failure details), one request after another, over one keep-alive connection. This script
 * replays 2,000 such groups (bench/peers/bodies.ts `uiHistory`: 1-3 payloads each, mostly small JSON, a quarter
 * large enough to have been compressed, a few big results, some never encoded) strictly serially and reports the
 * total time, for our server and for the Go SDK peer, each on one core.
 *
 *   npx tsx bench/ui-pattern.ts [--quick] [--groups 2000] [--passes 5] [--dist]
 *
 * --dist serves with `node dist/cli.js` (after `npm run build`), the build users run, instead of the sources under
 * tsx (17% more CPU per 1 KiB decode in one A/B run).
 *
 * Both servers run pinned to CPU 1 (taskset) and this process, the client (node:http Agent, keepAlive, maxSockets 1),
 * to CPU 0. Each server first gets one untimed pass in which every answer is checked against the plain payloads;
 * then the timed passes alternate between the servers. The figure is the median pass. Target (issue 7): <= 1.5 s
 * for 2,000 groups on our server.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { flagValue, fmt, hasFlag, machineSummary, table } from './lib/report.js';
import { benchCodecs, checkAnswer, uiHistory } from './peers/bodies.js';
import { percentile, send } from './peers/http-client.js';
import { buildGoPeer, canPin, newKeyValue, RESULTS_DIR, type RunningTarget, startTarget, type TargetSpec } from './peers/targets.js';

const quick = hasFlag('quick');
const dist = hasFlag('dist');
const GROUPS = Number(flagValue('groups') ?? 2000);
const PASSES = Number(flagValue('passes') ?? (quick ? 3 : 5));
const TARGET_SECONDS = 1.5;
const ORIGIN = 'http://localhost:8233';
/** What the Web UI sends with every decode request (it also appends ?preserveStorageRefs=true). */
const HEADERS = { 'x-namespace': 'default', origin: ORIGIN };
const PATH = '/decode?preserveStorageRefs=true';

interface Pass {
  target: string;
  seconds: number;
  latenciesMs: number[];
}

async function replay(target: RunningTarget, bodies: string[], agent: Agent, check?: (index: number, status: number, text: string) => void): Promise<Pass> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  for (let i = 0; i < bodies.length; i++) {
    const t0 = performance.now();
    const reply = await send(target.url + PATH, bodies[i], { agent, headers: HEADERS });
    latenciesMs.push(performance.now() - t0);
    if (check) check(i, reply.status, reply.text);
    else if (reply.status !== 200) throw new Error(`${target.spec.name}: group ${i} answered ${reply.status}`);
  }
  return { target: target.spec.name, seconds: (performance.now() - started) / 1000, latenciesMs };
}

async function main(): Promise<void> {
  // Read before pinning: availableParallelism() follows this process's CPU affinity.
  const machine = machineSummary();
  if (canPin) spawnSync('taskset', ['-p', '-c', '0', String(process.pid)]);
  const { key, value } = newKeyValue();
  const codecs = benchCodecs(key);
  const history = uiHistory(codecs, GROUPS);
  const bodies = history.map((group) => group.body);
  const payloadCount = history.reduce((n, g) => n + g.plain.length, 0);
  const bytes = bodies.reduce((n, b) => n + b.length, 0);
  const kinds: Record<string, number> = {};
  for (const group of history) for (const kind of group.kinds) kinds[kind] = (kinds[kind] ?? 0) + 1;

  const go = buildGoPeer();
  const specs: TargetSpec[] = [
    { name: 'ours-1', kind: 'ours', cores: 1, cpus: '1', args: ['--cors-origins', ORIGIN] },
    ...('error' in go ? [] : [{ name: 'go-1', kind: 'go', cores: 1, cpus: '1' } as TargetSpec]),
  ];
  if ('error' in go) console.log(`Go peer skipped: ${go.error}`);
  const targets: RunningTarget[] = [];
  const passes: Pass[] = [];
  try {
    for (const spec of specs) targets.push(await startTarget(spec, { env: { TEMPORAL_ENCRYPTION_KEY_default: value }, dist }));
    const agents = new Map(targets.map((t) => [t.spec.name, new Agent({ keepAlive: true, maxSockets: 1 })]));
    for (const target of targets) {
      await replay(target, bodies, agents.get(target.spec.name)!, (i, status, text) => {
        const problem = checkAnswer(codecs, { payloadSize: 0, operation: 'decode', body: bodies[i]!, plain: history[i]!.plain }, status, text);
        if (problem) throw new Error(`${target.spec.name}: group ${i}: ${problem}`);
      });
    }
    console.log(`every answer of both servers checked (${GROUPS} groups, ${payloadCount} payloads)`);
    for (let pass = 0; pass < PASSES; pass++) {
      const order = pass % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) passes.push(await replay(target, bodies, agents.get(target.spec.name)!));
    }
    for (const agent of agents.values()) agent.destroy();
  } finally {
    for (const target of targets) await target.stop();
  }

  const summary = specs.map((spec) => {
    const mine = passes.filter((p) => p.target === spec.name);
    const totals = mine.map((p) => p.seconds);
    const all = mine.flatMap((p) => p.latenciesMs);
    return {
      target: spec.name,
      medianSeconds: percentile([...totals], 50),
      passes: totals,
      p50Ms: percentile(all, 50),
      p99Ms: percentile(all, 99),
      maxMs: Math.max(...all),
    };
  });
  const ours = summary.find((s) => s.target === 'ours-1')!;
  const goFigure = summary.find((s) => s.target === 'go-1');
  console.log(`\n${machine}`);
  console.log(`history: ${GROUPS} groups, ${payloadCount} payloads (${JSON.stringify(kinds)}), ${fmt(bytes / 1024)} KiB of request bodies`);
  console.log(
    table(
      ['target', `total for ${GROUPS} (median of ${PASSES})`, 'passes (s)', 'per request p50 ms', 'p99 ms', 'max ms'],
      summary.map((s) => [s.target, `${s.medianSeconds.toFixed(3)} s`, s.passes.map((x) => x.toFixed(2)).join(' '), s.p50Ms.toFixed(3), s.p99Ms.toFixed(3), s.maxMs.toFixed(1)]),
    ),
  );
  const scaled = ours.medianSeconds * (2000 / GROUPS);
  console.log(`\ntarget: 2,000 serial decodes <= ${TARGET_SECONDS} s on ours: ${scaled.toFixed(3)} s -> ${scaled <= TARGET_SECONDS ? 'met' : 'NOT met'}`);
  if (goFigure) console.log(`ours/go time ratio: ${(ours.medianSeconds / goFigure.medianSeconds).toFixed(2)}x (below 1: ours is faster)`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const report = { date: new Date().toISOString(), dist, machine, groups: GROUPS, payloads: payloadCount, kinds, requestBytes: bytes, summary };
  writeFileSync(join(RESULTS_DIR, 'ui-pattern-latest.json'), JSON.stringify(report, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
