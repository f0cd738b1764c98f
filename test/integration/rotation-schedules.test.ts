/**
 * `scan` and schedules, against a real dev server: a schedule saved by a client under key A keeps its start-workflow
 * action (input, memo) and its own memo encrypted under A, so A stays `referenced` (by 1 schedule) while no workflow
 * history needs it; re-saving the schedule under B re-encodes the action but not the schedule's memo; once the
 * schedule is deleted, A is `unreferenced`. The schedule is paused: it never starts a workflow, and needs no worker.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection, type ScheduleHandle } from '@temporalio/client';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createDataConverter, KeyRing, type ScanReport } from '../../src/index.js';
import {
  describeWithTools,
  type DevServer,
  keyEnv,
  scanInProcess,
  SETUP_TIMEOUT_MS,
  startDevServer,
  testProcessGroup,
  waitFor,
} from './harness.js';

type KeyId = 'A' | 'B';
const KEYS: Record<KeyId, Buffer> = { A: randomBytes(32), B: randomBytes(32) };

/** The key variables of a deployment that holds A and B and encrypts with B: the rotation half done. */
const ROTATED_ENV = keyEnv(KEYS, 'B');

describeWithTools('scan counts the schedules that still need a key, against a real Temporal server', ['temporal'], (tools) => {
  const group = testProcessGroup('rotation-schedules');
  const scheduleId = `nightly-orders-${randomBytes(3).toString('hex')}`;
  let server: DevServer;
  let connection: Connection;
  let handle: ScheduleHandle;

  /** `temporal-codec scan --output json` with A and B (B active). */
  const scan = (...extra: string[]): Promise<ScanReport> => scanInProcess(server.address, ROTATED_ENV, extra);

  const verdicts = (report: ScanReport) =>
    Object.fromEntries(
      report.keys.map((key) => [key.keyId, [key.verdict, key.openWorkflows, key.closedWorkflows, key.schedules]]),
    );

  beforeAll(async () => {
    server = await startDevServer(group, tools.temporal, { headless: true });
    connection = await Connection.connect({ address: server.address });
    group.defer(() => connection.close());
  }, SETUP_TIMEOUT_MS);

  afterAll(() => group.stopAll());

  test('1. a paused schedule saved under A: scan says A is referenced by 1 schedule, and no workflow', async () => {
    const underA = new Client({
      connection,
      dataConverter: createDataConverter({ keyRing: KeyRing.fromKeys({ A: KEYS.A }, 'A') }),
    });
    handle = await underA.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1 day' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'orderWorkflow',
        taskQueue: 'orders',
        args: [{ orderId: 'nightly', card: 'tok_live_0123456789abcdef' }],
        memo: { placedBy: 'ada@example.com' },
      },
      memo: { team: 'billing' },
      state: { paused: true, note: 'rotation test: never runs' },
    });

    // ListSchedules reads visibility, which lags the creation a little.
    const report = await waitFor('the schedule to be listed', async () => {
      const scanned = await scan();
      return scanned.schedules.scanned === 1 ? scanned : undefined;
    }, { timeoutMs: 20_000, intervalMs: 300 });
    expect(report.schedules).toEqual({ skipped: false, scanned: 1, vanished: 0, failed: 0 });
    // The scheduler's own bookkeeping is no workflow the scan lists.
    expect(report.workflows).toMatchObject({ scanned: 0, failed: 0 });
    expect(verdicts(report)).toEqual({ A: ['referenced', 0, 0, 1], B: ['active', 0, 0, 0] });
    const a = report.keys.find((key) => key.keyId === 'A')!;
    expect(a.decrypts).toBe(true);
    expect(a.payloads).toBeGreaterThanOrEqual(3); // the argument, the action's memo, the schedule's memo
    expect(report.schedulesOnInactiveKeys).toEqual([{ scheduleId, keyIds: ['A'] }]);

    // Without the schedules, no history needs A, but a scan without them is not complete: A is unseen, never
    // unreferenced (safe to retire).
    const withoutSchedules = await scan('--no-schedules');
    expect(withoutSchedules.schedules.skipped).toBe(true);
    expect(withoutSchedules.complete).toBe(false);
    expect(verdicts(withoutSchedules)).toEqual({ A: ['unseen', 0, 0, 0], B: ['active', 0, 0, 0] });
  });

  test('2. re-saved by a client on B: the action moves to B, the schedule memo stays under A', async () => {
    const underB = new Client({
      connection,
      dataConverter: createDataConverter({ keyRing: KeyRing.fromKeys({ A: KEYS.A, B: KEYS.B }, 'B') }),
    });
    await underB.schedule.getHandle(scheduleId).update((previous) => previous);
    const report = await waitFor('the update to reach the schedule', async () => {
      const scanned = await scan();
      return scanned.keys.find((key) => key.keyId === 'B')?.schedules === 1 ? scanned : undefined;
    }, { timeoutMs: 20_000, intervalMs: 300 });
    expect(verdicts(report)).toEqual({ A: ['referenced', 0, 0, 1], B: ['active', 0, 0, 1] });
    expect(report.keys.find((key) => key.keyId === 'A')!.payloads).toBe(1);
    expect(report.schedulesOnInactiveKeys).toEqual([{ scheduleId, keyIds: ['A'] }]);
  });

  test('3. the schedule deleted: scan says A is unreferenced, safe to retire', async () => {
    await handle.delete();
    // A schedule still listed but gone counts as vanished; either way nothing needs A any more.
    const report = await waitFor('the deleted schedule to stop counting', async () => {
      const scanned = await scan();
      return scanned.schedules.scanned === 0 ? scanned : undefined;
    }, { timeoutMs: 20_000, intervalMs: 300 });
    expect(report.schedules.failed).toBe(0);
    expect(verdicts(report)).toEqual({ A: ['unreferenced', 0, 0, 0], B: ['active', 0, 0, 0] });
    expect(report.schedulesOnInactiveKeys).toEqual([]);
  });
});
