/**
 * Slowloris: many sockets that send a request line and then trickle header bytes, one every `trickleMs`, never
 * finishing the headers. The server must close every one of them within 15 s of its opening (its headers timeout,
 * 5 s by default, checked every second), while ordinary decode requests sent meanwhile keep a p99 under 200 ms.
 *
 *   npx tsx bench/endurance/slowloris.ts [--sockets 200] [--seconds 20]
 *
 * The server runs with its defaults (`serve --workers 1`); the ordinary requests come from one keep-alive client
 * sending 1 KiB decodes one after another for the whole run.
 */
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { percentile, send } from '../peers/http-client.js';
import { isMain, startOurs, stopAndCheck } from './lib.js';

export interface SlowlorisOptions {
  sockets: number;
  /** How long the run lasts (and the trickling goes on, for sockets still open). */
  seconds: number;
  /** Milliseconds between trickled bytes. */
  trickleMs?: number;
  /** Close limit per socket, ms (issue 7: 15 s). */
  closeLimitMs?: number;
  /** p99 limit for the ordinary requests, ms (issue 7: 200 ms). */
  p99LimitMs?: number;
}

export interface SlowlorisResult {
  sockets: number;
  closedByServer: number;
  stillOpen: number;
  closeMs: { min: number; p50: number; max: number };
  closedLate: number;
  /** What the server sent before closing (a 408 JSON body is expected), by first line. */
  farewell: Record<string, number>;
  normal: { requests: number; failures: number; p50Ms: number; p99Ms: number; maxMs: number };
  exitMs: number;
  violations: string[];
}

export async function runSlowloris(options: SlowlorisOptions): Promise<SlowlorisResult> {
  const trickleMs = options.trickleMs ?? 1000;
  const closeLimitMs = options.closeLimitMs ?? 15_000;
  const p99LimitMs = options.p99LimitMs ?? 200;
  const ours = await startOurs();
  const runEnds = performance.now() + options.seconds * 1000;

  const closeTimes: number[] = [];
  const farewell: Record<string, number> = {};
  let stillOpen = 0;
  const slow = Array.from(
    { length: options.sockets },
    () =>
      new Promise<void>((resolve) => {
        const opened = performance.now();
        const socket = connect(ours.port, '127.0.0.1');
        let received = '';
        let timer: NodeJS.Timeout | undefined;
        let done = false;
        const finish = (closedByServer: boolean): void => {
          if (done) return;
          done = true;
          if (timer) clearInterval(timer);
          if (closedByServer) {
            closeTimes.push(performance.now() - opened);
            const first = received.split('\r\n')[0] || '(nothing)';
            farewell[first] = (farewell[first] ?? 0) + 1;
          } else stillOpen++;
          socket.destroy();
          resolve();
        };
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
        });
        socket.on('close', () => finish(true));
        socket.on('error', () => finish(true));
        socket.on('connect', () => {
          socket.write('POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: ');
          let i = 0;
          timer = setInterval(() => {
            if (performance.now() > runEnds) return finish(false);
            socket.write(String.fromCharCode(97 + (i++ % 26)));
          }, trickleMs);
        });
      }),
  );

  // Ordinary traffic meanwhile, one request after another on one keep-alive connection.
  const latencies: number[] = [];
  let failures = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const normal = (async () => {
    while (performance.now() < runEnds) {
      const t0 = performance.now();
      const reply = await send(`${ours.url}/decode`, ours.decode1k.body, { agent, headers: { 'x-namespace': 'default' }, timeoutMs: 10_000 }).catch(() => undefined);
      latencies.push(performance.now() - t0);
      if (reply?.status !== 200) failures++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await Promise.all([...slow, normal]);
  agent.destroy();

  const stopped = await stopAndCheck(ours);
  const sorted = [...closeTimes].sort((a, b) => a - b);
  const result: SlowlorisResult = {
    sockets: options.sockets,
    closedByServer: closeTimes.length,
    stillOpen,
    closeMs: { min: sorted[0] ?? Number.NaN, p50: percentile(sorted, 50), max: sorted[sorted.length - 1] ?? Number.NaN },
    closedLate: closeTimes.filter((t) => t > closeLimitMs).length,
    farewell,
    normal: {
      requests: latencies.length,
      failures,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
    },
    exitMs: stopped.exitMs,
    violations: [...stopped.problems],
  };
  const v = result.violations;
  if (result.stillOpen > 0) v.push(`${result.stillOpen} slow sockets were still open at the end of the run (${options.seconds} s)`);
  if (result.closedLate > 0) v.push(`${result.closedLate} slow sockets were closed later than ${closeLimitMs} ms`);
  if (result.normal.failures > 0) v.push(`${result.normal.failures} ordinary requests failed`);
  if (!(result.normal.p99Ms < p99LimitMs)) v.push(`ordinary requests' p99 was ${result.normal.p99Ms.toFixed(1)} ms (limit ${p99LimitMs} ms)`);
  if (result.normal.requests < 10) v.push(`only ${result.normal.requests} ordinary requests were sent`);
  return result;
}

if (isMain(import.meta.url)) {
  const { flagValue } = await import('../lib/report.js');
  const sockets = Number(flagValue('sockets') ?? 200);
  const seconds = Number(flagValue('seconds') ?? 20);
  console.log(`slowloris: ${sockets} sockets trickling header bytes for up to ${seconds} s, with ordinary decodes meanwhile`);
  const result = await runSlowloris({ sockets, seconds });
  console.log(JSON.stringify(result, null, 2));
  console.log(result.violations.length === 0 ? 'PASS' : `FAIL: ${result.violations.join('; ')}`);
  process.exitCode = result.violations.length === 0 ? 0 : 1;
}
