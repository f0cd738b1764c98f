/**
 * SIGTERM under load: clients keep the server busy (1 KiB and 256 KiB decodes, 16 KiB encodes, each client one
 * keep-alive connection sending request after request), the server gets SIGTERM, and every request is accounted for.
 *
 *   npx tsx bench/endurance/sigterm.ts [--workers 1] [--clients 32] [--rounds 3]
 *
 * Pass: every request whose bytes were all written before the signal gets a complete 200 (none is dropped, reset or
 * cut short); a request written after it gets either a complete answer (the connection was still draining) or a
 * refused connection (the listener is closed); the process exits with code 0 within 10 s, with nothing on stderr.
 * Requests written after the signal on a keep-alive connection the server was closing just then (a reset or "socket
 * hang up" before any byte of an answer) are counted separately: HTTP/1.1 lets a server close an idle persistent
 * connection at any time (RFC 9112 section 9.3), and a client retries such a request on a new connection.
 */
import { Agent, request } from 'node:http';
import { decodeBody, encodeBody } from '../peers/bodies.js';
import { isMain, type Ours, startOurs, stopAndCheck } from './lib.js';

export interface SigtermOptions {
  workers?: number;
  clients?: number;
  /** Milliseconds of load before the signal. */
  loadMs?: number;
  exitLimitMs?: number;
}

type Outcome = 'ok' | 'refused' | 'reset-before-answer' | 'cut-short' | 'bad-status' | 'timeout';

export interface SigtermResult {
  workers: number;
  beforeSignal: Record<string, number>;
  afterSignal: Record<string, number>;
  inFlightAtSignal: number;
  exitMs: number;
  exitCode: number | null;
  violations: string[];
}

interface Sent {
  writtenAt?: number;
  outcome?: Outcome;
}

function post(ours: Ours, agent: Agent, path: string, body: string, record: Sent): Promise<Outcome> {
  return new Promise((resolve) => {
    let answered = false;
    const done = (outcome: Outcome): void => {
      if (record.outcome) return;
      record.outcome = outcome;
      resolve(outcome);
    };
    const req = request(
      `${ours.url}${path}`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-namespace': 'default' }, timeout: 20_000 },
      (res) => {
        answered = true;
        const expected = Number(res.headers['content-length']);
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          length += chunk.length;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) done('bad-status');
          else done(length === expected ? 'ok' : 'cut-short');
        });
        res.on('error', () => done('cut-short'));
        res.on('aborted', () => done('cut-short'));
      },
    );
    req.on('finish', () => {
      record.writtenAt = performance.now();
    });
    req.on('timeout', () => {
      req.destroy();
      done('timeout');
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done('refused');
      else done(answered ? 'cut-short' : 'reset-before-answer');
    });
    req.end(body);
  });
}

export async function runSigterm(options: SigtermOptions = {}): Promise<SigtermResult> {
  const workers = options.workers ?? 1;
  const clients = options.clients ?? 32;
  const exitLimitMs = options.exitLimitMs ?? 10_000;
  const ours = await startOurs({ workers });
  const mix: [string, string][] = [
    ['/decode', ours.decode1k.body],
    ['/decode', decodeBody(ours.codecs, 256 * 1024).body],
    ['/encode', encodeBody(16 * 1024).body],
  ];
  const records: Sent[] = [];
  let signalAt = Number.POSITIVE_INFINITY;
  const loops = Array.from({ length: clients }, async (_, c) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = c; ; i++) {
      const record: Sent = {};
      records.push(record);
      const [path, body] = mix[i % mix.length]!;
      const outcome = await post(ours, agent, path, body, record);
      // Once the listener is closed there is nothing left to send to; stop a little after the signal in any case.
      if (outcome === 'refused' || performance.now() > signalAt + exitLimitMs + 2000) break;
    }
    agent.destroy();
  });
  await new Promise((r) => setTimeout(r, options.loadMs ?? 2000));
  const inFlightAtSignal = records.filter((r) => r.writtenAt !== undefined && r.outcome === undefined).length;
  signalAt = performance.now();
  ours.target.child.kill('SIGTERM');
  const exit = await Promise.race([ours.target.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), exitLimitMs + 5000))]);
  const exitMs = performance.now() - signalAt;
  await Promise.all(loops);
  const stopped = await stopAndCheck(ours);

  const beforeSignal: Record<string, number> = {};
  const afterSignal: Record<string, number> = {};
  for (const r of records) {
    if (!r.outcome) continue;
    const bucket = r.writtenAt !== undefined && r.writtenAt < signalAt ? beforeSignal : afterSignal;
    bucket[r.outcome] = (bucket[r.outcome] ?? 0) + 1;
  }
  const result: SigtermResult = { workers, beforeSignal, afterSignal, inFlightAtSignal, exitMs, exitCode: exit?.code ?? null, violations: [] };
  const v = result.violations;
  // stopAndCheck would report "exited before the end": expected here.
  v.push(...stopped.problems.filter((p) => !p.startsWith('the server exited before the end')));
  const dropped = Object.entries(beforeSignal).filter(([k]) => k !== 'ok');
  if (dropped.length > 0) v.push(`requests written before the signal without a complete answer: ${JSON.stringify(Object.fromEntries(dropped))}`);
  const badAfter = Object.entries(afterSignal).filter(([k]) => !['ok', 'refused', 'reset-before-answer'].includes(k));
  if (badAfter.length > 0) v.push(`requests written after the signal that failed otherwise than by refusal: ${JSON.stringify(Object.fromEntries(badAfter))}`);
  if (!exit) v.push(`the server had not exited ${exitLimitMs + 5000} ms after SIGTERM`);
  else {
    if (exitMs > exitLimitMs) v.push(`the server took ${Math.round(exitMs)} ms to exit (limit ${exitLimitMs} ms)`);
    if (exit.code !== 0) v.push(`the server exited with code ${exit.code} signal ${exit.signal}`);
  }
  if (inFlightAtSignal === 0) v.push('no request was in flight at the signal: the run proves nothing');
  return result;
}

if (isMain(import.meta.url)) {
  const { flagValue } = await import('../lib/report.js');
  const rounds = Number(flagValue('rounds') ?? 3);
  const workerCounts = flagValue('workers') ? [Number(flagValue('workers'))] : [1, 2];
  let failed = false;
  for (const workers of workerCounts) {
    for (let round = 0; round < rounds; round++) {
      const result = await runSigterm({ workers, clients: Number(flagValue('clients') ?? 32) });
      console.log(JSON.stringify(result));
      if (result.violations.length > 0) failed = true;
    }
  }
  console.log(failed ? 'FAIL' : 'PASS');
  process.exitCode = failed ? 1 : 0;
}
