import { describe, expect, it } from 'vitest';
import { KeyRing } from '../../src/keys/key-ring.js';
import { scanWorkflowHistories } from '../../src/rotation/index.js';
import { testKey } from '../helpers/keys.js';
import { eventsWith, type FakeRun, fakeTemporal } from './fake-temporal.js';
import { encrypted, goCompressed, KEYS, plain, rowOf as byKey, verdictsOf as verdicts } from './fixtures.js';

/** `old` and `new` configured, `new` active, and `retired`, configured but used by no payload. */
const keyRing = KeyRing.fromKeys({ old: KEYS.old, new: KEYS.new, retired: testKey('retired') }, 'new');


/** ENCODING_TYPE_JSON (temporal.api.enums.v1.EncodingType). */
const ENCODING_TYPE_JSON = 2;

describe('scanWorkflowHistories: histories sent as rawHistory (frontend.sendRawWorkflowHistory)', () => {
  /** One run under `old` in four places, one under `new`: the same whether sent as history or rawHistory. */
  const runs = (rawHistory: FakeRun['rawHistory']): FakeRun[] => [
    {
      workflowId: 'open-old',
      open: true,
      rawHistory,
      events: eventsWith({
        input: [encrypted('old', { order: 1 })],
        memo: { placedBy: encrypted('old', 'ada@example.com') },
        signal: [goCompressed('old', { approvedBy: 'desk' })],
        failure: encrypted('old', { message: 'carrier rejected' }),
        result: [plain('shipped')],
      }),
    },
    { workflowId: 'closed-new', open: false, rawHistory, events: eventsWith({ input: [encrypted('new', 2)] }) },
  ];

  // Bug: only `history` was walked; a server that fills `rawHistory` instead made every run scanned with no payload,
  // and an old key that all of them need "unreferenced": safe to retire.
  it('decodes every proto3 blob of every page and counts its payloads as it counts those of `history`', async () => {
    // Four events, two a page, one blob each: two pages of two blobs.
    const fake = fakeTemporal(runs(true), { eventsPerPage: 2 });
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(fake.historyRequests.filter((request) => request.startsWith('open-old/')).sort()).toEqual(['open-old/0', 'open-old/1']);
    expect(report).toMatchObject({ complete: true, failures: [], workflows: { scanned: 2, open: 1, closed: 1, vanished: 0, failed: 0 } });
    expect(report.payloads).toMatchObject({ total: 6, encrypted: 5, plain: 1, byKeyId: { new: 1, old: 4 } });
    expect(byKey(report, 'old')).toMatchObject({ verdict: 'referenced', decrypts: true, payloads: 4, openWorkflows: 1 });
    expect(report.openWorkflowsOnInactiveKeys).toEqual([{ workflowId: 'open-old', runId: 'open-old-run', keyIds: ['old'] }]);

    const asHistory = await scanWorkflowHistories(fakeTemporal(runs(undefined), { eventsPerPage: 2 }).client, { keyRing });
    expect(report.payloads).toEqual(asHistory.payloads);
    expect(report.keys).toEqual(asHistory.keys);
  });

  it('fails a run with a rawHistory blob of another encoding, never counting it as read and empty', async () => {
    const fake = fakeTemporal(runs({ encodingType: ENCODING_TYPE_JSON, data: Buffer.from('{"events":[]}') }));
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.workflows).toEqual({ scanned: 0, open: 0, closed: 0, vanished: 0, failed: 2 });
    expect(report.failures).toEqual([
      { workflowId: 'closed-new', runId: 'closed-new-run', message: 'rawHistory[0] has encodingType ENCODING_TYPE_JSON: only ENCODING_TYPE_PROTO3 is read' },
      { workflowId: 'open-old', runId: 'open-old-run', message: 'rawHistory[0] has encodingType ENCODING_TYPE_JSON: only ENCODING_TYPE_PROTO3 is read' },
    ]);
    expect(report.complete).toBe(false);
    expect(verdicts(report)).toEqual([
      ['new', 'active', 0],
      ['old', 'unseen', 0],
      ['retired', 'unseen', 0],
    ]);
  });

  it('fails a run with a proto3 blob that is not a History', async () => {
    // Field 1 (events), length-delimited, claiming 100 bytes where there are 2.
    const truncated = Uint8Array.from([0x0a, 100, 0x08, 0x01]);
    const fake = fakeTemporal([
      { workflowId: 'damaged', open: true, rawHistory: { data: truncated }, events: eventsWith({ input: [encrypted('old', 1)] }) },
      { workflowId: 'fine', open: false, rawHistory: true, events: eventsWith({ input: [encrypted('new', 1)] }) },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.workflows).toEqual({ scanned: 1, open: 0, closed: 1, vanished: 0, failed: 1 });
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({ workflowId: 'damaged', runId: 'damaged-run' });
    expect(report.failures[0]!.message).toMatch(/^rawHistory\[0\] is not a proto3 History: index out of range/);
    expect(byKey(report, 'old')).toMatchObject({ verdict: 'unseen', payloads: 0 });
  });
});

describe('scanWorkflowHistories: pending activities, Nexus operations and callbacks of open runs', () => {
  /** A failure whose message and stack trace are encoded into `encodedAttributes`, as the codec's failure converter does. */
  const failureUnder = (keyId: 'old' | 'new', message: string): Record<string, unknown> => ({
    message: 'Encoded failure',
    encodedAttributes: encrypted(keyId, { message, stack_trace: '' }),
    applicationFailureInfo: { type: 'CarrierError' },
  });

  // Bug: DescribeWorkflowExecution was never called, and a pending activity's heartbeat details (which its next
  // attempt decodes) live there alone until the activity closes: a key used only for them could be retired.
  it("keeps a key referenced by an open run's pending activity's heartbeat details alone, and describes no closed run", async () => {
    const fake = fakeTemporal([
      {
        workflowId: 'open-heartbeating',
        open: true,
        events: eventsWith({ input: [encrypted('new', { order: 1 })] }),
        pending: {
          activities: [
            { activityId: '1', activityType: { name: 'ship' }, state: 2, attempt: 3, heartbeatDetails: { payloads: [encrypted('old', { page: 7 })] } },
          ],
        },
      },
      // A closed run has nothing pending: describing it would be a wasted call (the fake would answer, with `gone`).
      {
        workflowId: 'closed',
        open: false,
        events: eventsWith({ input: [encrypted('new', 2)] }),
        pending: { activities: [{ activityId: '1', heartbeatDetails: { payloads: [encrypted('gone', 1)] } }] },
      },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(fake.executionDescribeRequests).toEqual(['open-heartbeating']);
    expect(report).toMatchObject({ complete: true, workflows: { scanned: 2, open: 1, closed: 1, vanished: 0, failed: 0 } });
    expect(report.payloads).toMatchObject({ total: 3, encrypted: 3, byKeyId: { new: 2, old: 1 } });
    expect(byKey(report, 'old')).toEqual({
      keyId: 'old',
      verdict: 'referenced',
      active: false,
      configured: true,
      servedBy: 'old',
      decrypts: true,
      payloads: 1,
      openWorkflows: 1,
      closedWorkflows: 0,
      schedules: 0,
    });
    expect(byKey(report, 'new')).toMatchObject({ payloads: 2, openWorkflows: 1, closedWorkflows: 1 });
    expect(report.keys.map((key) => key.keyId)).not.toContain('gone');
    expect(report.openWorkflowsOnInactiveKeys).toEqual([{ workflowId: 'open-heartbeating', runId: 'open-heartbeating-run', keyIds: ['old'] }]);
  });

  it('counts the last failures of pending activities, Nexus operations (and their cancellation) and callbacks', async () => {
    const fake = fakeTemporal([
      {
        workflowId: 'open',
        open: true,
        events: eventsWith({ input: [encrypted('new', 1)] }),
        pending: {
          activities: [{ activityId: '1', state: 4, lastFailure: failureUnder('old', 'timeout') }],
          nexusOperations: [
            {
              endpoint: 'billing',
              operation: 'charge',
              lastAttemptFailure: failureUnder('old', 'handler down'),
              cancellationInfo: { lastAttemptFailure: failureUnder('new', 'cancel refused') },
            },
          ],
          callbacks: [
            {
              callback: { nexus: { url: 'https://caller.example/callback', header: { 'x-request': 'r-1' } } },
              lastAttemptFailure: { message: 'Encoded failure', cause: failureUnder('old', 'caller unreachable') },
            },
          ],
        },
      },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.payloads).toMatchObject({ total: 5, encrypted: 5, byKeyId: { new: 2, old: 3 } });
    expect(verdicts(report)).toEqual([
      ['new', 'active', 2],
      ['old', 'referenced', 3],
      ['retired', 'unreferenced', 0],
    ]);
    expect(report.openWorkflowsOnInactiveKeys).toEqual([{ workflowId: 'open', runId: 'open-run', keyIds: ['old'] }]);
  });

  // The run's info in the answer (memo, search attributes) and its config (user metadata) are what its history
  // holds: counting them again would count each of those payloads twice.
  it('does not count again the memo the history holds, which DescribeWorkflowExecution repeats', async () => {
    const fake = fakeTemporal([
      {
        workflowId: 'open',
        open: true,
        events: eventsWith({ memo: { placedBy: encrypted('old', 'ada@example.com') } }),
        pending: { activities: [{ activityId: '1', heartbeatDetails: { payloads: [encrypted('old', 1)] } }] },
      },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.payloads).toMatchObject({ total: 2, encrypted: 2, byKeyId: { old: 2 } });
    expect(byKey(report, 'old')).toMatchObject({ payloads: 2, openWorkflows: 1 });
  });

  it('counts a run whose describe answers NOT_FOUND as vanished, and fails one whose describe fails otherwise', async () => {
    const heartbeatUnderOld = { activities: [{ activityId: '1', heartbeatDetails: { payloads: [encrypted('old', 1)] } }] };
    const fake = fakeTemporal([
      { workflowId: 'kept', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) },
      {
        workflowId: 'deleted',
        open: true,
        events: eventsWith({ input: [encrypted('new', 2)] }),
        pending: heartbeatUnderOld,
        describeFailWith: { code: 5, details: 'workflow execution not found' },
      },
      {
        workflowId: 'denied',
        open: true,
        events: eventsWith({ input: [encrypted('new', 3)] }),
        pending: heartbeatUnderOld,
        describeFailWith: { code: 7, details: 'DescribeWorkflowExecution not allowed' },
      },
    ]);
    const report = await scanWorkflowHistories(fake.client, { keyRing });
    expect(report.workflows).toEqual({ scanned: 1, open: 0, closed: 1, vanished: 1, failed: 1 });
    expect(report.failures).toEqual([{ workflowId: 'denied', runId: 'denied-run', message: 'DescribeWorkflowExecution not allowed' }]);
    expect(report.payloads.byKeyId).toEqual({ new: 1 });
    expect(report.complete).toBe(false);
    expect(byKey(report, 'old')).toMatchObject({ verdict: 'unseen', payloads: 0 });
  });

  it('describes every open run, within the concurrency limit of the histories', async () => {
    const runs = Array.from({ length: 20 }, (_, index): FakeRun => ({
      workflowId: `w${index}`,
      open: index % 2 === 0,
      events: eventsWith({ input: [encrypted('new', index)] }),
      pending: { activities: [{ activityId: '1', heartbeatDetails: { payloads: [encrypted('old', index)] } }] },
    }));
    for (const concurrency of [1, 3]) {
      const fake = fakeTemporal(runs);
      const report = await scanWorkflowHistories(fake.client, { keyRing, concurrency });
      expect(fake.executionDescribeRequests.sort()).toEqual(runs.filter((run) => run.open).map((run) => run.workflowId).sort());
      expect(fake.inFlight.max).toBe(concurrency);
      expect(report.workflows).toMatchObject({ scanned: 20, open: 10, closed: 10 });
      expect(byKey(report, 'old')).toMatchObject({ payloads: 10, openWorkflows: 10, closedWorkflows: 0 });
    }
  });
});
