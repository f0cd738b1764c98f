/**
 * How fast `scan` reads a namespace: N small workflow executions on a local dev server, then the scan timed.
 *
 *   npx tsx bench/scan.ts                       # 1,000 executions, about a minute all told
 *   npx tsx bench/scan.ts --workflows=5000      # more
 *   npx tsx bench/scan.ts --json=bench/results/scan.json
 *   options: --concurrency=1,8,32 (scan concurrencies to time)  --rounds=3  --start-concurrency=32
 *
 * Setup: `temporal server start-dev` (scripts/ensure-temporal.sh), headless, in memory. The executions are made
 * fast, without a worker: each is started through a client with the package's data converter (so its input and memo
 * are binary/encrypted; half under key id A, half under B), and nine in ten are then terminated; the tenth stays
 * open. A history is thus 3 events and 2 encrypted payloads (closed) or 2 events (open): the scan's cost here is
 * per execution (one ListWorkflowExecutions page per 1,000, one GetWorkflowExecutionHistory each), which is what a
 * namespace of many small workflows costs it.
 *
 * Timed: scanWorkflowHistories (the library, connection already open) at each concurrency, `rounds` times
 * (median reported), and the CLI end to end (`node --import tsx src/cli/bin.ts scan --output json`: process start,
 * connect, scan, print) at the default concurrency. Then the CLI is interrupted with SIGINT mid-scan, to show that it
 * exits 130 with a partial report. Target (issue 6): 1,000 executions in <= 60 s.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  findTemporalCli,
  PROJECT_ROOT,
  ProcessGroup,
  startDevServer,
  waitFor,
} from '../scripts/lib/services.js';
import { createDataConverter, loadKeyRing, type ScanReport, scanWorkflowHistories } from '../src/index.js';
import { flagValue, fmt, machineSummary, table } from './lib/report.js';

const WORKFLOWS = Number(flagValue('workflows') ?? 1000);
const CONCURRENCIES = (flagValue('concurrency') ?? '1,8,32').split(',').map(Number);
const ROUNDS = Number(flagValue('rounds') ?? 3);
const START_CONCURRENCY = Number(flagValue('start-concurrency') ?? 32);
const JSON_OUT = flagValue('json');
const TARGET_SECONDS_PER_1000 = 60;

const KEY_ENV: Record<string, string> = {
  TEMPORAL_ENCRYPTION_KEY_A: `base64:${randomBytes(32).toString('base64')}`,
  TEMPORAL_ENCRYPTION_KEY_B: `base64:${randomBytes(32).toString('base64')}`,
  TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'B',
};

/** Runs `task` over `items`, `concurrency` at a time. */
async function pool<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function populate(connection: Connection): Promise<{ seconds: number; open: number }> {
  const clients = {
    A: new Client({ connection, dataConverter: createDataConverter({ encryptionKeyID: 'A', env: KEY_ENV }) }),
    B: new Client({ connection, dataConverter: createDataConverter({ encryptionKeyID: 'B', env: KEY_ENV }) }),
  };
  const started = performance.now();
  let open = 0;
  await pool(
    Array.from({ length: WORKFLOWS }, (_, index) => index),
    START_CONCURRENCY,
    async (index) => {
      const client = index % 2 === 0 ? clients.A : clients.B;
      const handle = await client.workflow.start('scanBenchNoop', {
        taskQueue: 'scan-bench-no-worker',
        workflowId: `scan-bench-${index}`,
        args: [{ orderId: `order-${index}`, customer: 'Ada Lovelace', amountCents: 1000 + index }],
        memo: { placedBy: `customer-${index}@example.com` },
      });
      if (index % 10 === 9) open++;
      else await handle.terminate('scan benchmark');
    },
  );
  return { seconds: (performance.now() - started) / 1000, open };
}

/** The CLI, end to end: a process of its own, as an operator runs it. */
function runCli(address: string, interruptAfterMs?: number): Promise<{ code: number | null; seconds: number; report: ScanReport }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: '/nonexistent', ...KEY_ENV };
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/bin.ts', 'scan', '--address', address, '--output', 'json'],
      { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    if (interruptAfterMs !== undefined) {
      // Once the scan is under way (the first history read), after `interruptAfterMs`.
      const timer = setTimeout(() => child.kill('SIGINT'), interruptAfterMs);
      child.once('exit', () => clearTimeout(timer));
    }
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve({ code, seconds: (performance.now() - started) / 1000, report: JSON.parse(stdout) as ScanReport });
      } catch {
        reject(new Error(`scan exited ${code} without a JSON report:\n${stderr}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const temporalCli = findTemporalCli();
  if (!temporalCli) throw new Error('no Temporal CLI: run scripts/ensure-temporal.sh');
  const group = new ProcessGroup();
  try {
    console.log(`# scan benchmark\n\n${machineSummary()}\n${WORKFLOWS} executions, ${ROUNDS} round(s) per concurrency\n`);
    const server = await startDevServer(group, temporalCli, { headless: true });
    const connection = await Connection.connect({ address: server.address });
    try {
      const made = await populate(connection);
      console.log(
        `populated ${WORKFLOWS} executions (${made.open} open) in ${fmt(made.seconds)} s ` +
          `(${fmt(WORKFLOWS / made.seconds)}/s, ${START_CONCURRENCY} at once)`,
      );
      const raw = new Client({ connection });
      await waitFor(
        `visibility to list all ${WORKFLOWS} executions`,
        async () => {
          const { count } = await raw.workflowService.countWorkflowExecutions({ namespace: 'default', query: '' });
          return Number(count) >= WORKFLOWS ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );

      const keyRing = loadKeyRing({ env: KEY_ENV, encryptionKeyID: 'B' });
      const rows: string[][] = [];
      const results: Array<{ concurrency: number; seconds: number[]; workflowsPerSecond: number }> = [];
      let lastReport: ScanReport | undefined;
      for (const concurrency of CONCURRENCIES) {
        const seconds: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const started = performance.now();
          lastReport = await scanWorkflowHistories(raw, { keyRing, concurrency });
          seconds.push((performance.now() - started) / 1000);
          if (lastReport.workflows.scanned !== WORKFLOWS) {
            throw new Error(`scanned ${lastReport.workflows.scanned} of ${WORKFLOWS} executions`);
          }
        }
        const time = median(seconds);
        results.push({ concurrency, seconds, workflowsPerSecond: WORKFLOWS / time });
        rows.push([
          `library, concurrency ${concurrency}`,
          fmt(time),
          fmt(WORKFLOWS / time),
          fmt((time / WORKFLOWS) * 1000),
          time <= (TARGET_SECONDS_PER_1000 * WORKFLOWS) / 1000 ? 'yes' : 'NO',
        ]);
      }
      const cli = await runCli(server.address);
      if (cli.code !== 0 || cli.report.workflows.scanned !== WORKFLOWS) throw new Error(`CLI scan: exit ${cli.code}`);
      rows.push([
        'CLI end to end, concurrency 8',
        fmt(cli.seconds),
        fmt(WORKFLOWS / cli.seconds),
        fmt((cli.seconds / WORKFLOWS) * 1000),
        cli.seconds <= (TARGET_SECONDS_PER_1000 * WORKFLOWS) / 1000 ? 'yes' : 'NO',
      ]);
      console.log(`\n${table(['scan', 'seconds', 'workflows/s', 'ms per workflow', `<= ${TARGET_SECONDS_PER_1000} s per 1,000`], rows)}\n`);

      const keys = lastReport!.keys.map((key) => `${key.keyId} ${key.verdict} (${key.payloads} payloads, ${key.openWorkflows} open, ${key.closedWorkflows} closed)`);
      console.log(`report: ${lastReport!.payloads.total} payloads, ${lastReport!.payloads.encrypted} encrypted; ${keys.join('; ')}`);

      // Interrupted mid-scan: half of the uninterrupted CLI time, less its start-up, which is about a second.
      const interruptAfterMs = Math.max(1200, Math.round(cli.seconds * 500));
      const interrupted = await runCli(server.address, interruptAfterMs);
      console.log(
        `SIGINT after ${interruptAfterMs} ms: exit ${interrupted.code}, partial ${interrupted.report.partial}, ` +
          `${interrupted.report.workflows.scanned} of ${WORKFLOWS} executions in the report`,
      );

      if (JSON_OUT) {
        mkdirSync(dirname(JSON_OUT), { recursive: true });
        writeFileSync(
          JSON_OUT,
          `${JSON.stringify(
            {
              machine: machineSummary(),
              workflows: WORKFLOWS,
              populateSeconds: made.seconds,
              library: results,
              cli: { seconds: cli.seconds, workflowsPerSecond: WORKFLOWS / cli.seconds },
              interrupted: { afterMs: interruptAfterMs, exitCode: interrupted.code, scanned: interrupted.report.workflows.scanned },
            },
            null,
            2,
          )}\n`,
        );
      }
    } finally {
      await connection.close();
    }
  } finally {
    await group.stopAll();
  }
}

main().catch((error: unknown) => {
  console.error((error as Error)?.stack ?? error);
  process.exitCode = 1;
});
