import { deflateSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { KeyRing } from '../../src/keys/key-ring.js';
import { scanWorkflowHistories } from '../../src/rotation/index.js';
import { ScheduleListingError } from '../../src/rotation/scan.js';
import { goEncrypted, goZlib } from '../helpers/go-payloads.js';
import { testKey } from '../helpers/keys.js';
import { serialize } from '../helpers/payloads.js';
import { eventsWith, type FakeRun, type FakeSchedule, fakeTemporal, grpcError } from './fake-temporal.js';
import { EncryptionCodec } from '../../src/codecs/encryption-codec.js';
import { payloadToJson, type PayloadJson } from '../../src/payload-json.js';
import {
  compressedPlain,
  encrypted,
  foreign,
  goCompressed,
  KEYS,
  NONE_UNINSPECTED,
  plain,
  plainPayload,
  rowOf,
  searchAttribute,
  verdictsOf,
} from './fixtures.js';

/** `value` encrypted under any key id with `key`, as a codec whose active id is `keyId` writes it. */
function encryptedUnder(keyId: string, key: Buffer, value: unknown): PayloadJson {
  const codec = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ [keyId]: key }, keyId) });
  return payloadToJson(codec.encryptPayload(plainPayload(value)));
}

/** `old` and `new` configured, `new` active, and `retired`, configured but used by no payload. */
const keyRing = KeyRing.fromKeys({ old: KEYS.old, new: KEYS.new, retired: testKey('retired') }, 'new');

/** A rotation half done: open and closed runs under `old`, others under `new`, one under a key nobody has. */
function rotationRuns(): FakeRun[] {
  return [
    {
      workflowId: 'open-old',
      open: true,
      events: eventsWith({
        input: [encrypted('old', { order: 1 })],
        memo: { placedBy: encrypted('old', 'ada@example.com') },
        header: { traceparent: plain('00-4bf9') },
        searchAttributes: { OrderId: searchAttribute('Keyword', 'o-1') },
        signal: [encrypted('new', { approvedBy: 'desk' })],
      }),
    },
    {
      workflowId: 'closed-old',
      open: false,
      events: eventsWith({
        input: [encrypted('old', { order: 2 })],
        failure: encrypted('old', { message: 'carrier rejected', stack_trace: '' }),
        result: [encrypted('old', { status: 'shipped' })],
      }),
    },
    { workflowId: 'open-new', open: true, events: eventsWith({ input: [encrypted('new', { order: 3 })] }) },
    {
      workflowId: 'closed-new',
      open: false,
      events: eventsWith({ input: [encrypted('new', { order: 4 })], result: [plain(null), foreign()] }),
    },
    { workflowId: 'closed-gone', open: false, events: eventsWith({ input: [encrypted('gone', { order: 5 })] }) },
  ];
}

describe('scanWorkflowHistories', () => {
  it('counts every payload of every history by key id and gives each key id its verdict', async () => {
    const fake = fakeTemporal(rotationRuns());
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report).toMatchObject({
      namespace: 'default',
      query: '',
      activeKeyId: 'new',
      partial: false,
      // `gone` is missing: the key its payloads need may be configured under another id, so nothing is retirable.
      complete: false,
      workflows: { scanned: 5, open: 2, closed: 3, vanished: 0, failed: 0 },
      payloads: { total: 13, encrypted: 9, byKeyId: { gone: 1, new: 3, old: 5 }, compressed: 0, ...NONE_UNINSPECTED, plain: 3, other: 1 },
      failures: [],
    });
    expect(report.keys).toEqual([
      { keyId: 'gone', verdict: 'missing', active: false, configured: false, servedBy: null, decrypts: undefined, payloads: 1, openWorkflows: 0, closedWorkflows: 1, schedules: 0 },
      { keyId: 'new', verdict: 'active', active: true, configured: true, servedBy: 'new', decrypts: true, payloads: 3, openWorkflows: 2, closedWorkflows: 1, schedules: 0 },
      { keyId: 'old', verdict: 'referenced', active: false, configured: true, servedBy: 'old', decrypts: true, payloads: 5, openWorkflows: 1, closedWorkflows: 1, schedules: 0 },
      { keyId: 'retired', verdict: 'unseen', active: false, configured: true, servedBy: 'retired', decrypts: undefined, payloads: 0, openWorkflows: 0, closedWorkflows: 0, schedules: 0 },
    ]);
    expect(report.openWorkflowsOnInactiveKeys).toEqual([{ workflowId: 'open-old', runId: 'open-old-run', keyIds: ['old'] }]);
    expect(report.schedules).toEqual({ skipped: false, scanned: 0, vanished: 0, failed: 0 });
    expect(report.schedulesOnInactiveKeys).toEqual([]);
    expect(report.scheduleFailures).toEqual([]);
  });

  it('calls a key id missing when its configured key does not decrypt its payloads', async () => {
    const wrongGone = KeyRing.fromKeys({ new: KEYS.new, gone: testKey('not the key gone payloads were made with') }, 'new');
    const fake = fakeTemporal([{ workflowId: 'w', open: true, events: eventsWith({ input: [encrypted('gone', 1)] }) }]);
    const report = await scanWorkflowHistories(fake.client, { keyRing: wrongGone });
    expect(report.keys.find((key) => key.keyId === 'gone')).toMatchObject({ verdict: 'missing', configured: true, decrypts: false });
    expect(report.openWorkflowsOnInactiveKeys).toEqual([{ workflowId: 'w', runId: 'w-run', keyIds: ['gone'] }]);
  });

  it('calls an old key unreferenced once no history holds a payload under it, and the active key active with none', async () => {
    const fake = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [plain(1)] }) }]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.keys.map((key) => [key.keyId, key.verdict])).toEqual([
      ['new', 'active'],
      ['old', 'unreferenced'],
      ['retired', 'unreferenced'],
    ]);
  });

  it('reads every page of the listing and of each history', async () => {
    const runs = Array.from({ length: 7 }, (_, index): FakeRun => ({
      workflowId: `w${index}`,
      open: index % 2 === 0,
      events: eventsWith({
        input: [encrypted('old', index)],
        signal: [encrypted('new', index)],
        failure: encrypted('old', { message: 'x' }),
        result: [encrypted('new', index)],
      }),
    }));
    const fake = fakeTemporal(runs, { listPageSize: 3, eventsPerPage: 1 });
    const report = await scanWorkflowHistories(fake.client, { keyRing, concurrency: 2 });
    expect(fake.listRequests).toBe(3);
    expect(fake.historyRequests.filter((request) => request.startsWith('w3/')).sort()).toEqual(['w3/0', 'w3/1', 'w3/2', 'w3/3']);
    expect(report.workflows).toEqual({ scanned: 7, open: 4, closed: 3, vanished: 0, failed: 0 });
    expect(report.payloads.byKeyId).toEqual({ new: 14, old: 14 });
  });

  it('reads at most `concurrency` histories at once, and uses that many', async () => {
    const runs = Array.from({ length: 40 }, (_, index): FakeRun => ({
      workflowId: `w${index}`,
      open: false,
      events: eventsWith({ input: [encrypted('new', index)] }),
    }));
    for (const concurrency of [1, 3, 8]) {
      const fake = fakeTemporal(runs);
      const report = await scanWorkflowHistories(fake.client, { keyRing, concurrency });
      expect(report.workflows.scanned).toBe(40);
      expect(fake.inFlight.max).toBe(concurrency);
    }
  });

  it('reports progress with the server count as the total', async () => {
    const runs = Array.from({ length: 5 }, (_, index): FakeRun => ({ workflowId: `w${index}`, open: false, events: eventsWith({}) }));
    const seen: Array<{ done: number; total: number | undefined }> = [];
    await scanWorkflowHistories(fakeTemporal(runs).client, {
      keyRing,
      concurrency: 1,
      onProgress: ({ done, total }) => seen.push({ done, total }),
    });
    expect(seen.at(-1)).toEqual({ done: 5, total: 5 });
    expect(seen.map((progress) => progress.done)).toEqual([...seen.map((progress) => progress.done)].sort((a, b) => a - b));
  });

  it('counts a run deleted between the listing and the read apart, and lists a history it cannot read', async () => {
    const runs: FakeRun[] = [
      { workflowId: 'kept', open: false, events: eventsWith({ input: [encrypted('old', 1)] }) },
      { workflowId: 'deleted', open: false, events: [], failWith: { code: 5, details: 'workflow execution not found' } },
      { workflowId: 'broken', open: true, events: [], failWith: { code: 14, details: 'connection reset' } },
    ];
    const report = await scanWorkflowHistories(fakeTemporal(runs).client, { keyRing });
    expect(report.workflows).toEqual({ scanned: 1, open: 0, closed: 1, vanished: 1, failed: 1 });
    expect(report.failures).toEqual([{ workflowId: 'broken', runId: 'broken-run', message: 'connection reset' }]);
  });

  it('rejects when the executions cannot be listed (a bad query)', async () => {
    const fake = fakeTemporal(rotationRuns(), { listFailure: { code: 3, details: 'invalid query: unknown field Nope' } });
    await expect(scanWorkflowHistories(fake.client, { keyRing, query: 'Nope = 1' })).rejects.toMatchObject({
      code: 3,
      details: 'invalid query: unknown field Nope',
    });
    await expect(scanWorkflowHistories(fake.client, { keyRing, concurrency: 0 })).rejects.toThrow(RangeError);
  });

  it('uses the namespace it is given, else the client\'s', async () => {
    const fake = fakeTemporal(rotationRuns(), { namespace: 'orders' });
    const wrongNamespace = scanWorkflowHistories(fake.client, { keyRing, namespace: 'default' });
    await expect(wrongNamespace).rejects.toMatchObject({ code: 5, details: 'namespace default not found' });
    await expect(wrongNamespace).rejects.not.toBeInstanceOf(ScheduleListingError);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.namespace).toBe('orders');
  });

  it('stops when aborted and reports, marked partial, only the runs whose whole history it read', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const runs: FakeRun[] = [
      { workflowId: 'done-1', open: false, events: eventsWith({ input: [encrypted('old', 1)] }) },
      { workflowId: 'done-2', open: true, events: eventsWith({ input: [encrypted('new', 2)] }) },
      // Its first page is read, the second never comes: none of it may count.
      {
        workflowId: 'half',
        open: false,
        events: eventsWith({ input: [encrypted('gone', 3)], result: [encrypted('gone', 4)] }),
        hold: { until: held, afterPages: 1 },
      },
      ...Array.from({ length: 20 }, (_, index): FakeRun => ({
        workflowId: `later-${index}`,
        open: false,
        events: eventsWith({ input: [encrypted('old', index)] }),
        hold: { until: held, afterPages: 0 },
      })),
    ];
    const controller = new AbortController();
    const fake = fakeTemporal(runs, { eventsPerPage: 1 });
    const scan = scanWorkflowHistories(fake.client, {
      keyRing,
      concurrency: 3,
      signal: controller.signal,
      onProgress: ({ done }) => {
        if (done === 2) setTimeout(() => controller.abort(), 20);
      },
    });
    const report = await scan;
    release();
    expect(report.partial).toBe(true);
    expect(report.complete).toBe(false);
    expect(report.workflows).toEqual({ scanned: 2, open: 1, closed: 1, vanished: 0, failed: 0 });
    expect(report.payloads.byKeyId).toEqual({ new: 1, old: 1 });
    expect(report.keys.map((key) => key.keyId)).not.toContain('gone');
    expect(fake.historyRequests).toContain('half/0');
  });
});

describe('scanWorkflowHistories: schedules', () => {
  /** Every workflow already on `new`: only schedules can still need `old`. */
  const rotatedRuns = (): FakeRun[] => [
    { workflowId: 'closed-new', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) },
    { workflowId: 'open-new', open: true, events: eventsWith({ input: [encrypted('new', 2)] }) },
  ];

  it('keeps a key referenced by a schedule alone, counting the schedules, and lists the schedules on old keys', async () => {
    const schedules: FakeSchedule[] = [
      {
        scheduleId: 'nightly-old',
        input: [encrypted('old', { order: 'nightly' })],
        memo: { placedBy: encrypted('old', 'ada@example.com') },
        header: { traceparent: plain('00-4bf9') },
      },
      // Only its own memo is under `old`: that is a reference too.
      { scheduleId: 'memo-old', input: [encrypted('new', 1)], scheduleMemo: { team: encrypted('old', 'billing') } },
      { scheduleId: 'hourly-new', input: [encrypted('new', { order: 'hourly' })] },
    ];
    const fake = fakeTemporal(rotatedRuns(), { schedules });
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(fake.describeRequests.sort()).toEqual(['hourly-new', 'memo-old', 'nightly-old']);
    expect(report.schedules).toEqual({ skipped: false, scanned: 3, vanished: 0, failed: 0 });
    expect(report.workflows).toMatchObject({ scanned: 2, open: 1, closed: 1 });
    // 2 history payloads; 6 schedule payloads (one plain header).
    expect(report.payloads).toMatchObject({ total: 8, encrypted: 7, plain: 1, byKeyId: { new: 4, old: 3 } });
    expect(report.keys.find((key) => key.keyId === 'old')).toEqual({
      keyId: 'old',
      verdict: 'referenced',
      active: false,
      configured: true,
      servedBy: 'old',
      decrypts: true,
      payloads: 3,
      openWorkflows: 0,
      closedWorkflows: 0,
      schedules: 2,
    });
    expect(report.keys.find((key) => key.keyId === 'new')).toMatchObject({ verdict: 'active', schedules: 2, openWorkflows: 1, closedWorkflows: 1 });
    expect(report.keys.find((key) => key.keyId === 'retired')).toMatchObject({ verdict: 'unreferenced', schedules: 0 });
    expect(report.schedulesOnInactiveKeys).toEqual([
      { scheduleId: 'memo-old', keyIds: ['old'] },
      { scheduleId: 'nightly-old', keyIds: ['old'] },
    ]);
    expect(report.openWorkflowsOnInactiveKeys).toEqual([]);
  });

  it('calls a key only schedules use, and nobody holds, missing', async () => {
    const fake = fakeTemporal(rotatedRuns(), { schedules: [{ scheduleId: 'lost', input: [encrypted('gone', 1)] }] });
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.keys.find((key) => key.keyId === 'gone')).toMatchObject({ verdict: 'missing', configured: false, schedules: 1 });
    const wrongOld = KeyRing.fromKeys({ new: KEYS.new, old: testKey('not the old key') }, 'new');
    const withOld = fakeTemporal(rotatedRuns(), { schedules: [{ scheduleId: 's', input: [encrypted('old', 1)] }] });
    const checked = await scanWorkflowHistories(withOld.client, { keyRing: wrongOld });
    expect(checked.keys.find((key) => key.keyId === 'old')).toMatchObject({ verdict: 'missing', configured: true, decrypts: false, schedules: 1 });
  });

  it('with schedules: false, neither lists nor reads them, and says so', async () => {
    const fake = fakeTemporal(rotatedRuns(), {
      schedules: [{ scheduleId: 'nightly-old', input: [encrypted('old', 1)] }],
      scheduleListFailure: { code: 7, details: 'not allowed' },
    });
    const report = await scanWorkflowHistories(fake.client, { keyRing, schedules: false });
    expect(fake.scheduleListRequests).toBe(0);
    expect(fake.describeRequests).toEqual([]);
    expect(report.schedules).toEqual({ skipped: true, scanned: 0, vanished: 0, failed: 0 });
    expect(report.keys.find((key) => key.keyId === 'old')).toMatchObject({ verdict: 'unseen', payloads: 0, schedules: 0 });
    expect(report.schedulesOnInactiveKeys).toEqual([]);
  });

  it('reads every page of the schedule listing', async () => {
    const schedules = Array.from({ length: 7 }, (_, index): FakeSchedule => ({
      scheduleId: `s${index}`,
      input: [encrypted(index === 6 ? 'old' : 'new', index)],
    }));
    const fake = fakeTemporal(rotatedRuns(), { schedules, schedulePageSize: 3 });
    const report = await scanWorkflowHistories(fake.client, { keyRing, concurrency: 2 });
    expect(fake.scheduleListRequests).toBe(3);
    expect(fake.describeRequests.sort()).toEqual(schedules.map((schedule) => schedule.scheduleId).sort());
    expect(report.schedules.scanned).toBe(7);
    // The last schedule of the last page is the one that still needs `old`.
    expect(report.keys.find((key) => key.keyId === 'old')).toMatchObject({ verdict: 'referenced', schedules: 1 });
    expect(report.schedulesOnInactiveKeys).toEqual([{ scheduleId: 's6', keyIds: ['old'] }]);
  });

  it('describes schedules and reads histories at most `concurrency` at once in all', async () => {
    const runs = Array.from({ length: 20 }, (_, index): FakeRun => ({
      workflowId: `w${index}`,
      open: false,
      events: eventsWith({ input: [encrypted('new', index)] }),
    }));
    const schedules = Array.from({ length: 20 }, (_, index): FakeSchedule => ({ scheduleId: `s${index}`, input: [encrypted('new', index)] }));
    for (const concurrency of [1, 3]) {
      const fake = fakeTemporal(runs, { schedules });
      const report = await scanWorkflowHistories(fake.client, { keyRing, concurrency });
      expect(report.schedules.scanned).toBe(20);
      expect(report.workflows.scanned).toBe(20);
      expect(fake.inFlight.max).toBe(concurrency);
    }
  });

  it('counts a schedule deleted between the listing and the describe apart, and lists one it cannot read', async () => {
    const fake = fakeTemporal(rotatedRuns(), {
      schedules: [
        { scheduleId: 'kept', input: [encrypted('old', 1)] },
        { scheduleId: 'deleted', failWith: { code: 5, details: 'schedule not found' } },
        { scheduleId: 'broken', failWith: { code: 14, details: 'connection reset' } },
      ],
    });
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.schedules).toEqual({ skipped: false, scanned: 1, vanished: 1, failed: 1 });
    expect(report.scheduleFailures).toEqual([{ scheduleId: 'broken', message: 'connection reset' }]);
    expect(report.failures).toEqual([]);
    expect(report.keys.find((key) => key.keyId === 'old')).toMatchObject({ verdict: 'referenced', schedules: 1 });
  });

  it('rejects with a ScheduleListingError when the schedules cannot be listed, before reading any history', async () => {
    const fake = fakeTemporal(rotatedRuns(), { scheduleListFailure: { code: 7, details: 'ListSchedules not allowed' } });
    const scan = scanWorkflowHistories(fake.client, { keyRing });
    await expect(scan).rejects.toBeInstanceOf(ScheduleListingError);
    await expect(scan).rejects.toMatchObject({
      code: 7,
      details: 'ListSchedules not allowed',
      message: 'could not list the schedules: ListSchedules not allowed',
    });
    expect(fake.historyRequests).toEqual([]);
  });

  it('stops when aborted and reports, marked partial, only the schedules it described', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const schedules: FakeSchedule[] = [
      { scheduleId: 'done-1', input: [encrypted('old', 1)] },
      { scheduleId: 'done-2', input: [encrypted('new', 2)] },
      ...Array.from({ length: 10 }, (_, index): FakeSchedule => ({
        scheduleId: `held-${index}`,
        input: [encrypted('gone', index)],
        hold: held,
      })),
    ];
    const controller = new AbortController();
    const fake = fakeTemporal(rotatedRuns(), { schedules });
    const scan = scanWorkflowHistories(fake.client, { keyRing, concurrency: 3, signal: controller.signal });
    await vi.waitFor(() => expect(fake.describeRequests).toContain('held-0'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    const report = await scan;
    release();
    expect(report.partial).toBe(true);
    expect(report.schedules).toEqual({ skipped: false, scanned: 2, vanished: 0, failed: 0 });
    expect(report.workflows.scanned).toBe(0);
    expect(report.payloads.byKeyId).toEqual({ new: 1, old: 1 });
    expect(report.keys.map((key) => key.keyId)).not.toContain('gone');
    expect(fake.historyRequests).toEqual([]);
  });
});

describe('scanWorkflowHistories: keys served under another spelling', () => {
  const verdicts = (report: { keys: { keyId: string; verdict: string; servedBy: string | null }[] }) =>
    report.keys.map(({ keyId, verdict, servedBy }) => [keyId, verdict, servedBy]);

  // Bug: verdicts were given per spelling, never merged: the key of TEMPORAL_ENCRYPTION_KEY_2026_11 was called
  // "unreferenced" next to the active id 2026-11 it serves, and 2025_06 too while payloads under 2025-06 needed it.
  it('gives a key that serves an id through its environment-safe spelling no verdict of its own', async () => {
    const ring = KeyRing.fromKeys(
      { '2026_11': testKey('2026-11'), '2025_06': testKey('2025-06'), '2024_01': testKey('2024-01') },
      '2026-11',
    );
    const fake = fakeTemporal([
      { workflowId: 'open-2025', open: true, events: eventsWith({ input: [encryptedUnder('2025-06', testKey('2025-06'), 1)] }) },
      { workflowId: 'new', open: false, events: eventsWith({ input: [encryptedUnder('2026-11', testKey('2026-11'), 2)] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing: ring });
    expect(verdicts(report)).toEqual([
      ['2024_01', 'unreferenced', '2024_01'],
      ['2025-06', 'referenced', '2025_06'],
      ['2026-11', 'active', '2026_11'],
    ]);
    expect(report.keys.find((key) => key.keyId === '2025-06')).toMatchObject({ configured: true, decrypts: true, openWorkflows: 1 });
    expect(report.keys.filter((key) => key.verdict === 'unreferenced').map((key) => key.servedBy)).toEqual(['2024_01']);
  });

  it('never calls retirable the other spelling of a key that serves a payload id (the same key under both)', async () => {
    const ring = KeyRing.fromKeys({ 'prod-eu': testKey('eu'), PROD_EU: testKey('eu'), new: testKey('new') }, 'new');
    const fake = fakeTemporal([
      { workflowId: 'eu', open: true, events: eventsWith({ input: [encryptedUnder('prod-eu', testKey('eu'), 1)] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing: ring });
    expect(verdicts(report)).toEqual([
      ['new', 'active', 'new'],
      ['prod-eu', 'referenced', 'prod-eu'],
    ]);
  });

  it('calls the active id served by its alias active even when no payload is under it yet', async () => {
    const ring = KeyRing.fromKeys({ '2026_11': testKey('2026-11'), old: KEYS.old }, '2026-11');
    const report = await scanWorkflowHistories(fakeTemporal([]).client, { keyRing: ring });
    expect(verdicts(report)).toEqual([
      ['2026-11', 'active', '2026_11'],
      ['old', 'unreferenced', 'old'],
    ]);
  });

  it('lists the fallback key under the ids it serves, and on its own row only when it serves none', async () => {
    const withLegacy = KeyRing.fromKeys({ new: KEYS.new }, 'new', testKey('fallback'));
    const legacy = fakeTemporal([
      { workflowId: 'w', open: false, events: eventsWith({ input: [encryptedUnder('legacy', testKey('fallback'), 1)] }) },
    ]);
    expect(verdicts(await scanWorkflowHistories(legacy.client, { keyRing: withLegacy }))).toEqual([
      ['legacy', 'referenced', '*'],
      ['new', 'active', 'new'],
    ]);
    const unused = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) }]);
    expect(verdicts(await scanWorkflowHistories(unused.client, { keyRing: withLegacy }))).toEqual([
      ['*', 'unreferenced', '*'],
      ['new', 'active', 'new'],
    ]);
    const servesActive = KeyRing.fromKeys({ old: KEYS.old }, 'default', testKey('fallback'));
    expect(verdicts(await scanWorkflowHistories(fakeTemporal([]).client, { keyRing: servesActive }))).toEqual([
      ['default', 'active', '*'],
      ['old', 'unreferenced', 'old'],
    ]);
  });

  it('calls an id missing when the key its alias names does not decrypt it, and never calls that key unreferenced', async () => {
    const ring = KeyRing.fromKeys({ new: KEYS.new, '2025_06': testKey('not the 2025-06 key') }, 'new');
    const fake = fakeTemporal([
      { workflowId: 'w', open: false, events: eventsWith({ input: [encryptedUnder('2025-06', testKey('2025-06'), 1)] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing: ring });
    expect(verdicts(report)).toEqual([
      ['2025-06', 'missing', '2025_06'],
      ['new', 'active', 'new'],
    ]);
    expect(report.keys[0]).toMatchObject({ configured: true, decrypts: false });
  });
});

describe("scanWorkflowHistories: Go workers' payloads (binary/zlib around binary/encrypted)", () => {
  const byKey = rowOf;

  it('counts a Go payload under the key id inside it, checks that key on it, and keeps the key referenced', async () => {
    const fake = fakeTemporal([
      { workflowId: 'go-open', open: true, events: eventsWith({ input: [goCompressed('old', { order: 1 })] }) },
      {
        workflowId: 'go-closed',
        open: false,
        events: eventsWith({ input: [goCompressed('old', { order: 2 })], result: [compressedPlain('z'.repeat(500))] }),
      },
      { workflowId: 'ts-new', open: false, events: eventsWith({ input: [encrypted('new', { order: 3 })] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    // The Go payloads count as encrypted under `old`, not as compressed: only the unencrypted binary/zlib one is.
    expect(report.payloads).toEqual({ total: 4, encrypted: 3, byKeyId: { new: 1, old: 2 }, compressed: 1, ...NONE_UNINSPECTED, plain: 0, other: 0 });
    expect(byKey(report, 'old')).toEqual({
      keyId: 'old',
      verdict: 'referenced',
      active: false,
      configured: true,
      servedBy: 'old',
      decrypts: true,
      payloads: 2,
      openWorkflows: 1,
      closedWorkflows: 1,
      schedules: 0,
    });
    expect(report.openWorkflowsOnInactiveKeys).toEqual([{ workflowId: 'go-open', runId: 'go-open-run', keyIds: ['old'] }]);
  });

  it('decrypts the binary/encrypted payload inside as the sample: a wrong key makes the id missing', async () => {
    const wrongOld = KeyRing.fromKeys({ new: KEYS.new, old: testKey('not the old key') }, 'new');
    const runs = (): FakeRun[] => [{ workflowId: 'w', open: false, events: eventsWith({ input: [goCompressed('old', 1)] }) }];
    const wrong = await scanWorkflowHistories(fakeTemporal(runs()).client, { keyRing: wrongOld });
    expect(byKey(wrong, 'old')).toMatchObject({ verdict: 'missing', configured: true, decrypts: false, payloads: 1 });
    const withoutOld = KeyRing.fromKeys({ new: KEYS.new }, 'new');
    const absent = await scanWorkflowHistories(fakeTemporal(runs()).client, { keyRing: withoutOld });
    expect(byKey(absent, 'old')).toMatchObject({ verdict: 'missing', configured: false, decrypts: undefined, payloads: 1 });
  });

  it('keeps a key that only a schedule saved by a Go client holds referenced', async () => {
    const fake = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) }], {
      schedules: [{ scheduleId: 'go-nightly', input: [goCompressed('old', { order: 'nightly' })] }],
    });
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(byKey(report, 'old')).toMatchObject({ verdict: 'referenced', decrypts: true, payloads: 1, schedules: 1 });
    expect(report.schedulesOnInactiveKeys).toEqual([{ scheduleId: 'go-nightly', keyIds: ['old'] }]);
  });

  // Bug: a binary/encrypted payload under two binary/zlib layers counted as compressed: the scan said complete and
  // called `old` unreferenced (safe to retire) while that payload needs it.
  it('opens one binary/zlib layer, as decode does: one holding another counts as uninspected (nested), and no key is unreferenced', async () => {
    const inner = goEncrypted(plainPayload(1), KEYS.old, 'old');
    const twice = payloadToJson(goZlib(goZlib(inner)));
    const runs = (): FakeRun[] => [
      { workflowId: 'w', open: false, events: eventsWith({ input: [twice, encrypted('new', 2)] }) },
    ];
    const report = await scanWorkflowHistories(fakeTemporal(runs()).client, { keyRing });
    expect(report.payloads).toMatchObject({
      encrypted: 1,
      byKeyId: { new: 1 },
      compressed: 0,
      uninspected: 1,
      uninspectedByReason: { tooLarge: 0, notZlib: 0, nested: 1 },
    });
    expect(report.complete).toBe(false);
    expect(byKey(report, 'old')).toMatchObject({ verdict: 'unseen', payloads: 0 });
    // However high the cap: the layer inside is not opened.
    const uncapped = await scanWorkflowHistories(fakeTemporal(runs()).client, { keyRing, maxDecompressedBytes: 2 ** 30 });
    expect(uncapped).toMatchObject({ complete: false, payloads: { uninspected: 1 } });
  });

  // Bug: a binary/zlib payload that did not inflate counted as compressed, as if it held no encrypted payload, so
  // the key it may need could be called unreferenced.
  it('counts a binary/zlib payload that does not inflate as uninspected, by reason, next to the Go payloads it reads', async () => {
    const goOld = goCompressed('old', { rows: 'x'.repeat(2000) });
    const truncated = { ...goOld, data: Buffer.from(goOld.data!, 'base64').subarray(0, 40).toString('base64') };
    const garbage = { metadata: goOld.metadata, data: Buffer.from('not a zlib stream').toString('base64') };
    const noData = { metadata: goOld.metadata };
    const tooDeep = payloadToJson(goZlib(goZlib(goZlib(goZlib(goZlib(goEncrypted(plainPayload(1), KEYS.old, 'old')))))));
    const fake = fakeTemporal([
      { workflowId: 'w', open: false, events: eventsWith({ input: [truncated, garbage, noData, tooDeep, goOld] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.failures).toEqual([]);
    // tooDeep inflates (one layer, as decode opens it) to another binary/zlib payload, which is not opened.
    expect(report.payloads).toEqual({
      total: 5,
      encrypted: 1,
      byKeyId: { old: 1 },
      compressed: 0,
      uninspected: 4,
      uninspectedByReason: { tooLarge: 0, notZlib: 3, nested: 1 },
      plain: 0,
      other: 0,
    });
    expect(byKey(report, 'old')).toMatchObject({ verdict: 'referenced', decrypts: true, payloads: 1 });

    // Past the cap (maxDecompressedBytes, per layer, as the codecs apply it): not inflated, uninspected as too large.
    const big = deflateSync(serialize(goEncrypted(plainPayload('y'.repeat(5000)), KEYS.old, 'old')));
    const capped = fakeTemporal([
      {
        workflowId: 'w',
        open: false,
        events: eventsWith({ input: [{ metadata: goOld.metadata, data: big.toString('base64') }, goCompressed('old', 1)] }),
      },
      { workflowId: 'v', open: false, events: eventsWith({ input: [{ metadata: goOld.metadata, data: big.toString('base64') }] }) },
    ]);
    const small = await scanWorkflowHistories(capped.client, { keyRing, maxDecompressedBytes: 1000 });
    expect(small.payloads).toMatchObject({
      total: 3,
      encrypted: 1,
      byKeyId: { old: 1 },
      compressed: 0,
      uninspected: 2,
      uninspectedByReason: { tooLarge: 2, notZlib: 0, nested: 0 },
    });
  });
});

describe('scanWorkflowHistories: unreferenced only from a complete scan', () => {
  // Bug: from a scan that was not complete, a configured key with no payload was `unreferenced`, the verdict that
  // means "safe to retire", with only `complete: false` beside it to say otherwise: a script reading the verdict would
  // delete a key that a history, schedule or payload the scan did not see may need.
  const runs = (): FakeRun[] => [{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) }];
  const verdicts = verdictsOf;

  it('calls a configured, non-active key with no payload unreferenced from a complete scan', async () => {
    // A run deleted meanwhile needs no key any more: the scan is still complete.
    const fake = fakeTemporal([...runs(), { workflowId: 'deleted', open: false, events: [], failWith: { code: 5, details: 'not found' } }]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report).toMatchObject({ complete: true, workflows: { scanned: 1, vanished: 1, failed: 0 } });
    expect(verdicts(report)).toEqual([
      ['new', 'active', 1],
      ['old', 'unreferenced', 0],
      ['retired', 'unreferenced', 0],
    ]);
  });

  it('calls it unseen, not unreferenced, from an interrupted scan', async () => {
    const report = await scanWorkflowHistories(fakeTemporal(runs()).client, { keyRing, signal: AbortSignal.abort() });
    expect(report).toMatchObject({ partial: true, complete: false });
    expect(verdicts(report)).toEqual([
      ['new', 'active', 0],
      ['old', 'unseen', 0],
      ['retired', 'unseen', 0],
    ]);
  });

  it('calls it unseen, not unreferenced, from a scan limited by a query', async () => {
    const report = await scanWorkflowHistories(fakeTemporal(runs()).client, { keyRing, query: "WorkflowType = 'order'" });
    expect(report).toMatchObject({ partial: false, complete: false, workflows: { scanned: 1 } });
    expect(verdicts(report)).toEqual([
      ['new', 'active', 1],
      ['old', 'unseen', 0],
      ['retired', 'unseen', 0],
    ]);
  });

  it('calls it unseen, not unreferenced, while a binary/zlib payload could not be opened', async () => {
    const go = goCompressed('old', 1);
    const truncated = { ...go, data: Buffer.from(go.data!, 'base64').subarray(0, 20).toString('base64') };
    const fake = fakeTemporal([...runs(), { workflowId: 'damaged', open: false, events: eventsWith({ input: [truncated] }) }]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report).toMatchObject({ complete: false, payloads: { uninspected: 1 } });
    expect(verdicts(report)).toEqual([
      ['new', 'active', 1],
      ['old', 'unseen', 0],
      ['retired', 'unseen', 0],
    ]);
  });

  it('calls it unseen, not unreferenced, without the schedules, or with a history or schedule it could not read', async () => {
    const unreadRun: FakeRun = { workflowId: 'broken', open: false, events: [], failWith: { code: 14, details: 'unavailable' } };
    const unreadSchedule: FakeSchedule = { scheduleId: 'denied', failWith: { code: 7, details: 'permission denied' } };
    const scans = [
      scanWorkflowHistories(fakeTemporal(runs()).client, { keyRing, schedules: false }),
      scanWorkflowHistories(fakeTemporal([...runs(), unreadRun]).client, { keyRing }),
      scanWorkflowHistories(fakeTemporal(runs(), { schedules: [unreadSchedule] }).client, { keyRing }),
    ];
    for (const report of await Promise.all(scans)) {
      expect(report.complete).toBe(false);
      expect(verdicts(report)).toEqual([
        ['new', 'active', 1],
        ['old', 'unseen', 0],
        ['retired', 'unseen', 0],
      ]);
    }
  });

  // Bug: a missing key id did not stop other keys being called unreferenced. Payloads under `2025` whose key was
  // configured under another id (a keys-dir file named `prod_2025`, the same bytes): `2025` missing and `prod_2025`
  // unreferenced, "safe to retire", the only key that opens those payloads.
  it('is not complete while a key id is missing, and names the configured key that decrypts its payloads', async () => {
    const key2025 = testKey('2025');
    const ring = KeyRing.fromKeys({ new: KEYS.new, prod_2025: key2025, retired: testKey('retired') }, 'new');
    const fake = fakeTemporal([
      { workflowId: 'w', open: false, events: eventsWith({ input: [encryptedUnder('2025', key2025, 1), encrypted('new', 2)] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing: ring });
    expect(report.complete).toBe(false);
    expect(verdicts(report)).toEqual([
      ['2025', 'missing', 1],
      ['new', 'active', 1],
      ['prod_2025', 'unseen', 0],
      ['retired', 'unseen', 0],
    ]);
    expect(report.keys[0]).toMatchObject({ configured: false, decrypts: undefined, decryptedBy: 'prod_2025' });
    expect(report.keys.filter((key) => key.decryptedBy !== undefined)).toHaveLength(1);
  });

  // Review: only keys on a row of their own were tried, so a key file renamed and made active (2025 -> 2026) got no hint.
  it('names the active key, or a referenced one, when it decrypts a missing id\'s payloads', async () => {
    const key = testKey('2025');
    const ring = KeyRing.fromKeys({ '2026': key, other: testKey('other') }, '2026');
    const fake = fakeTemporal([
      { workflowId: 'w', open: false, events: eventsWith({ input: [encryptedUnder('2025', key, 1)] }) },
      { workflowId: 'v', open: false, events: eventsWith({ input: [encryptedUnder('other', testKey('other'), 2)] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing: ring });
    expect(report.keys.find((row) => row.keyId === '2025')).toMatchObject({ verdict: 'missing', decryptedBy: '2026' });
    const referenced = KeyRing.fromKeys({ '2026': testKey('2026'), other: key }, '2026');
    const again = await scanWorkflowHistories(
      fakeTemporal([
        { workflowId: 'w', open: false, events: eventsWith({ input: [encryptedUnder('2025', key, 1), encryptedUnder('other', key, 2)] }) },
      ]).client,
      { keyRing: referenced },
    );
    expect(again.keys.find((row) => row.keyId === '2025')).toMatchObject({ verdict: 'missing', decryptedBy: 'other' });
  });

  it('is not complete while payloads have no key id, and names the key that decrypts them', async () => {
    const legacy = testKey('legacy');
    const withoutId = payloadToJson(
      (() => {
        const payload = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ legacy }, 'legacy') }).encryptPayload(plainPayload(1));
        delete payload.metadata!['encryption-key-id'];
        return payload;
      })(),
    );
    const ring = KeyRing.fromKeys({ new: KEYS.new, legacy, retired: testKey('retired') }, 'new');
    const fake = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [withoutId, encrypted('new', 2)] }) }]);
    const report = await scanWorkflowHistories(fake.client, { keyRing: ring });
    expect(report.complete).toBe(false);
    expect(verdicts(report)).toEqual([
      ['', 'missing', 1],
      ['legacy', 'unseen', 0],
      ['new', 'active', 1],
      ['retired', 'unseen', 0],
    ]);
    expect(report.keys[0]).toMatchObject({ decryptedBy: 'legacy' });
  });

  it('names no key for a missing id that no configured key decrypts, and tries the fallback key too', async () => {
    const gone = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('gone', 1)] }) }]);
    const report = await scanWorkflowHistories(gone.client, { keyRing });
    expect(report.keys.find((key) => key.keyId === 'gone')).not.toHaveProperty('decryptedBy');
    // A wrong key under the id itself: the fallback key, listed as *, opens them.
    const ring = KeyRing.fromKeys({ new: KEYS.new, gone: testKey('not gone') }, 'new', KEYS.gone);
    const wrong = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('gone', 1)] }) }]);
    const withFallback = await scanWorkflowHistories(wrong.client, { keyRing: ring });
    expect(withFallback.keys.map((key) => [key.keyId, key.verdict, key.decryptedBy])).toEqual([
      ['*', 'unseen', undefined],
      ['gone', 'missing', '*'],
      ['new', 'active', undefined],
    ]);
  });

  it('still calls a key with payloads referenced or missing, and the active key active, from an incomplete scan', async () => {
    const fake = fakeTemporal(rotationRuns());
    const report = await scanWorkflowHistories(fake.client, { keyRing, query: 'ExecutionStatus = "Running"' });
    expect(report.complete).toBe(false);
    expect(verdicts(report)).toEqual([
      ['gone', 'missing', 1],
      ['new', 'active', 3],
      ['old', 'referenced', 5],
      ['retired', 'unseen', 0],
    ]);
  });
});
