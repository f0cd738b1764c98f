/**
 * A stand-in for the six WorkflowService calls a scan makes, answering with real protobuf message objects (encoded
 * and decoded with @temporalio/proto, so payload bytes arrive as Buffers, exactly as over gRPC).
 */
import protoModule from '@temporalio/proto';
import type { PayloadJson } from '../../src/payload-json.js';
import type { ScanClient } from '../../src/rotation/scan.js';

const { v1: service } = protoModule.temporal.api.workflowservice;
const { History } = protoModule.temporal.api.history.v1;
const { EncodingType } = protoModule.temporal.api.enums.v1;

/** A payload as protobufjs's fromObject takes it: bytes as base64 text. */
type ProtoPayload = PayloadJson;

/** One workflow run of the fake server. */
export interface FakeRun {
  workflowId: string;
  runId?: string;
  open: boolean;
  /** The history's events (protobufjs object form), served `eventsPerPage` at a time. */
  events: Record<string, unknown>[];
  /** Answer its history with this gRPC status code instead (5 = NOT_FOUND). */
  failWith?: { code: number; details: string };
  /** Hold every history page of this run (after the first `afterPages`) until the promise settles. */
  hold?: { until: Promise<unknown>; afterPages: number };
  /**
   * Answer each history page in `rawHistory`, as a server with the dynamic config `frontend.sendRawWorkflowHistory`
   * does: one proto3 DataBlob of a History per event, `history` left out. `encodingType` and `data` replace every
   * blob's own, to send one the scan cannot read.
   */
  rawHistory?: true | { encodingType?: number; data?: Uint8Array };
  /**
   * What DescribeWorkflowExecution answers for it, besides its info (status, and the memo of its first event, which
   * the history holds too): pending activities, Nexus operations and callbacks, in protobufjs object form.
   */
  pending?: {
    activities?: Record<string, unknown>[];
    nexusOperations?: Record<string, unknown>[];
    callbacks?: Record<string, unknown>[];
  };
  /** Answer DescribeWorkflowExecution with this gRPC status code instead (5 = NOT_FOUND); its history still reads. */
  describeFailWith?: { code: number; details: string };
}

/** One schedule of the fake server: its start-workflow action's payloads, and its own memo. */
export interface FakeSchedule {
  scheduleId: string;
  /** action.startWorkflow.input */
  input?: ProtoPayload[];
  /** action.startWorkflow.memo */
  memo?: Record<string, ProtoPayload>;
  /** action.startWorkflow.header */
  header?: Record<string, ProtoPayload>;
  /** The schedule's own memo (DescribeScheduleResponse.memo). */
  scheduleMemo?: Record<string, ProtoPayload>;
  /** Answer DescribeSchedule with this gRPC status code instead (5 = NOT_FOUND). */
  failWith?: { code: number; details: string };
  /** Hold its DescribeSchedule until the promise settles. */
  hold?: Promise<unknown>;
}

/** A history of `payloads` in the places an order workflow's history holds them. */
export function eventsWith(payloads: {
  input?: ProtoPayload[];
  memo?: Record<string, ProtoPayload>;
  header?: Record<string, ProtoPayload>;
  result?: ProtoPayload[];
  failure?: ProtoPayload;
  searchAttributes?: Record<string, ProtoPayload>;
  signal?: ProtoPayload[];
}): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [
    {
      eventId: 1,
      eventType: 1,
      workflowExecutionStartedEventAttributes: {
        workflowType: { name: 'orderWorkflow' },
        ...(payloads.input ? { input: { payloads: payloads.input } } : {}),
        ...(payloads.memo ? { memo: { fields: payloads.memo } } : {}),
        ...(payloads.header ? { header: { fields: payloads.header } } : {}),
        ...(payloads.searchAttributes ? { searchAttributes: { indexedFields: payloads.searchAttributes } } : {}),
      },
    },
  ];
  if (payloads.signal) {
    events.push({ eventId: 2, eventType: 26, workflowExecutionSignaledEventAttributes: { signalName: 'approve', input: { payloads: payloads.signal } } });
  }
  if (payloads.failure) {
    events.push({
      eventId: 3,
      eventType: 12,
      activityTaskFailedEventAttributes: {
        failure: { message: 'Encoded failure', cause: { message: 'Encoded failure', encodedAttributes: payloads.failure } },
      },
    });
  }
  if (payloads.result) {
    events.push({ eventId: 4, eventType: 2, workflowExecutionCompletedEventAttributes: { result: { payloads: payloads.result } } });
  }
  return events;
}

export interface FakeTemporal {
  client: ScanClient;
  /**
   * Calls of getWorkflowExecutionHistory, describeWorkflowExecution and describeSchedule in flight now, and the most
   * at once.
   */
  inFlight: { now: number; max: number };
  /** Every history request, as workflowId/page. */
  historyRequests: string[];
  /** Every DescribeWorkflowExecution request, as workflowId. */
  executionDescribeRequests: string[];
  listRequests: number;
  /** Every DescribeSchedule request, as scheduleId. */
  describeRequests: string[];
  scheduleListRequests: number;
}

export interface FakeTemporalOptions {
  listPageSize?: number;
  eventsPerPage?: number;
  namespace?: string;
  listFailure?: { code: number; details: string };
  /** The schedules of the namespace (default none). */
  schedules?: FakeSchedule[];
  /** Schedules per ListSchedules page, whatever the request asks (default: its maximumPageSize). */
  schedulePageSize?: number;
  scheduleListFailure?: { code: number; details: string };
}

/** A fake server holding `runs`, listing `listPageSize` runs and serving `eventsPerPage` events per page. */
export function fakeTemporal(runs: FakeRun[], options: FakeTemporalOptions = {}): FakeTemporal {
  const listPageSize = options.listPageSize ?? 1000;
  const eventsPerPage = options.eventsPerPage ?? 1000;
  const namespace = options.namespace ?? 'default';
  const schedules = options.schedules ?? [];
  const byId = new Map(runs.map((run) => [`${run.workflowId}/${run.runId ?? `${run.workflowId}-run`}`, run]));
  const schedulesById = new Map(schedules.map((schedule) => [schedule.scheduleId, schedule]));
  const enter = (): void => {
    fake.inFlight.now++;
    fake.inFlight.max = Math.max(fake.inFlight.max, fake.inFlight.now);
  };
  const fake: FakeTemporal = {
    inFlight: { now: 0, max: 0 },
    historyRequests: [],
    executionDescribeRequests: [],
    listRequests: 0,
    describeRequests: [],
    scheduleListRequests: 0,
    client: {
      options: { namespace },
      workflowService: {
        async listSchedules(request: { namespace?: string | null; maximumPageSize?: number | null; nextPageToken?: Uint8Array | null }) {
          fake.scheduleListRequests++;
          if (request.namespace !== namespace) throw grpcError(5, `namespace ${request.namespace} not found`);
          if (options.scheduleListFailure) throw grpcError(options.scheduleListFailure.code, options.scheduleListFailure.details);
          const pageSize = options.schedulePageSize ?? (request.maximumPageSize || 1000);
          const start = request.nextPageToken?.length ? Number(Buffer.from(request.nextPageToken).toString()) : 0;
          const page = schedules.slice(start, start + pageSize);
          const next = start + pageSize < schedules.length ? Buffer.from(String(start + pageSize)) : Buffer.alloc(0);
          await new Promise((resolve) => setTimeout(resolve, 1));
          const response = service.ListSchedulesResponse.fromObject({
            schedules: page.map((schedule) => ({
              scheduleId: schedule.scheduleId,
              info: { workflowType: { name: 'orderWorkflow' } },
              // A listing entry carries the memo too; the scan describes each schedule anyway.
              ...(schedule.scheduleMemo ? { memo: { fields: schedule.scheduleMemo } } : {}),
            })),
            nextPageToken: next,
          });
          return service.ListSchedulesResponse.decode(service.ListSchedulesResponse.encode(response).finish());
        },
        async describeSchedule(request: { namespace?: string | null; scheduleId?: string | null }) {
          const scheduleId = request.scheduleId ?? '';
          fake.describeRequests.push(scheduleId);
          enter();
          try {
            await new Promise((resolve) => setTimeout(resolve, 1));
            const schedule = schedulesById.get(scheduleId);
            if (!schedule || request.namespace !== namespace) throw grpcError(5, `schedule ${scheduleId} not found`);
            if (schedule.failWith) throw grpcError(schedule.failWith.code, schedule.failWith.details);
            if (schedule.hold) await schedule.hold;
            const response = service.DescribeScheduleResponse.fromObject({
              schedule: {
                spec: { interval: [{ interval: { seconds: 3600 } }] },
                action: {
                  startWorkflow: {
                    workflowId: `${scheduleId}-workflow`,
                    workflowType: { name: 'orderWorkflow' },
                    taskQueue: { name: 'orders' },
                    ...(schedule.input ? { input: { payloads: schedule.input } } : {}),
                    ...(schedule.memo ? { memo: { fields: schedule.memo } } : {}),
                    ...(schedule.header ? { header: { fields: schedule.header } } : {}),
                  },
                },
                state: { paused: true, notes: 'paused by the test' },
              },
              info: { actionCount: 0 },
              ...(schedule.scheduleMemo ? { memo: { fields: schedule.scheduleMemo } } : {}),
              conflictToken: Buffer.from('1'),
            });
            return service.DescribeScheduleResponse.decode(service.DescribeScheduleResponse.encode(response).finish());
          } finally {
            fake.inFlight.now--;
          }
        },
        async countWorkflowExecutions() {
          return service.CountWorkflowExecutionsResponse.fromObject({ count: runs.length });
        },
        async listWorkflowExecutions(request: { nextPageToken?: Uint8Array | null; namespace?: string | null }) {
          fake.listRequests++;
          if (request.namespace !== namespace) throw grpcError(5, `namespace ${request.namespace} not found`);
          if (options.listFailure) throw grpcError(options.listFailure.code, options.listFailure.details);
          const start = request.nextPageToken?.length ? Number(Buffer.from(request.nextPageToken).toString()) : 0;
          const page = runs.slice(start, start + listPageSize);
          const next = start + listPageSize < runs.length ? Buffer.from(String(start + listPageSize)) : Buffer.alloc(0);
          const response = service.ListWorkflowExecutionsResponse.fromObject({
            executions: page.map((run) => ({
              execution: { workflowId: run.workflowId, runId: run.runId ?? `${run.workflowId}-run` },
              status: run.open ? 1 : 2,
            })),
            nextPageToken: next,
          });
          return service.ListWorkflowExecutionsResponse.decode(service.ListWorkflowExecutionsResponse.encode(response).finish());
        },
        async getWorkflowExecutionHistory(request: {
          execution?: { workflowId?: string | null; runId?: string | null } | null;
          nextPageToken?: Uint8Array | null;
        }) {
          const key = `${request.execution?.workflowId}/${request.execution?.runId}`;
          const run = byId.get(key);
          const page = request.nextPageToken?.length ? Number(Buffer.from(request.nextPageToken).toString()) : 0;
          fake.historyRequests.push(`${request.execution?.workflowId}/${page}`);
          enter();
          try {
            await new Promise((resolve) => setTimeout(resolve, 1));
            if (!run) throw grpcError(5, `workflow execution ${key} not found`);
            if (run.failWith) throw grpcError(run.failWith.code, run.failWith.details);
            if (run.hold && page >= run.hold.afterPages) await run.hold.until;
            const events = run.events.slice(page * eventsPerPage, (page + 1) * eventsPerPage);
            const more = (page + 1) * eventsPerPage < run.events.length;
            const raw = run.rawHistory === true ? {} : run.rawHistory;
            const response = service.GetWorkflowExecutionHistoryResponse.fromObject({
              ...(raw
                ? {
                    rawHistory: events.map((event) => ({
                      encodingType: raw.encodingType ?? EncodingType.ENCODING_TYPE_PROTO3,
                      data: raw.data ?? History.encode(History.fromObject({ events: [event] })).finish(),
                    })),
                  }
                : { history: History.fromObject({ events }) }),
              nextPageToken: more ? Buffer.from(String(page + 1)) : Buffer.alloc(0),
            });
            return service.GetWorkflowExecutionHistoryResponse.decode(
              service.GetWorkflowExecutionHistoryResponse.encode(response).finish(),
            );
          } finally {
            fake.inFlight.now--;
          }
        },
        async describeWorkflowExecution(request: {
          namespace?: string | null;
          execution?: { workflowId?: string | null; runId?: string | null } | null;
        }) {
          const key = `${request.execution?.workflowId}/${request.execution?.runId}`;
          const run = byId.get(key);
          fake.executionDescribeRequests.push(request.execution?.workflowId ?? '');
          enter();
          try {
            await new Promise((resolve) => setTimeout(resolve, 1));
            if (!run || request.namespace !== namespace) throw grpcError(5, `workflow execution ${key} not found`);
            if (run.describeFailWith) throw grpcError(run.describeFailWith.code, run.describeFailWith.details);
            const started = run.events[0]?.workflowExecutionStartedEventAttributes as { memo?: unknown } | undefined;
            const response = service.DescribeWorkflowExecutionResponse.fromObject({
              executionConfig: { taskQueue: { name: 'orders' } },
              workflowExecutionInfo: {
                execution: request.execution,
                type: { name: 'orderWorkflow' },
                status: run.open ? 1 : 2,
                // The server answers with the memo the history holds (the first event's, and any upserted since).
                ...(started?.memo ? { memo: started.memo } : {}),
              },
              pendingActivities: run.pending?.activities ?? [],
              pendingNexusOperations: run.pending?.nexusOperations ?? [],
              callbacks: run.pending?.callbacks ?? [],
            });
            return service.DescribeWorkflowExecutionResponse.decode(
              service.DescribeWorkflowExecutionResponse.encode(response).finish(),
            );
          } finally {
            fake.inFlight.now--;
          }
        },
      } as unknown as ScanClient['workflowService'],
    },
  };
  return fake;
}

/** An error as @grpc/grpc-js rejects with: a numeric status `code` and the server's `details`. */
export function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}
