import { setMaxListeners } from 'node:events';
import type { temporal } from '@temporalio/proto';
// A CommonJS module whose named exports Node's ESM loader cannot see: take the value from the default export.
import protoModule from '@temporalio/proto';
import type { KeyRing } from '../keys/key-ring.js';
import { RunTally, type ScanReport, ScanTally } from './scan-report.js';
import { walkProtoPayloads, zlibInflater } from './walk-payloads.js';

/**
 * What a scan needs of a Temporal client: the raw gRPC workflow service (no data converter on the way, so payloads
 * arrive exactly as the server stores them) and the namespace. A connected `Client` of `@temporalio/client` is one;
 * a stand-in must also answer `describeWorkflowExecution` (open runs are described).
 */
export interface ScanClient {
  workflowService: Pick<
    temporal.api.workflowservice.v1.WorkflowService,
    | 'listWorkflowExecutions'
    | 'getWorkflowExecutionHistory'
    | 'describeWorkflowExecution'
    | 'countWorkflowExecutions'
    | 'listSchedules'
    | 'describeSchedule'
  >;
  options: { namespace: string };
}

/** Options of {@link scanWorkflowHistories}. */
export interface ScanOptions {
  /** The configured keys and the active key id: they decide each key id's verdict. */
  keyRing: KeyRing;
  /** Default: the client's namespace. */
  namespace?: string;
  /** A visibility query (`WorkflowType = 'order' AND ExecutionStatus = 'Running'`); default every execution. */
  query?: string;
  /**
   * Also read every schedule of the namespace (the query does not apply to them): a schedule keeps its start-workflow
   * action (input, memo, header) and its memo encrypted as its client encoded them. Default true.
   */
  schedules?: boolean;
  /** Histories and schedules read at once; default 8. */
  concurrency?: number;
  /**
   * Refuse to inflate one `binary/zlib` layer past this many bytes, as the codecs do; default 64 MiB. A `binary/zlib`
   * payload is inflated to find a `binary/encrypted` one inside (Go's `zlib(encrypted(x))`), counted under its key id;
   * one that does not inflate, or holds another `binary/zlib` layer, counts as `uninspected` (and then no key is
   * `unreferenced`: `unseen` instead).
   */
  maxDecompressedBytes?: number;
  /** Stops the scan; it then resolves with what it has, `partial: true`. */
  signal?: AbortSignal;
  /** Called after each run is scanned; `total` is the server's count when it gave one. */
  onProgress?: (progress: ScanProgress) => void;
}

/** How far a scan is (in workflow runs; the schedules, read first, are not counted here). */
export interface ScanProgress {
  /** Runs done: scanned, vanished or failed. */
  done: number;
  /** Runs listed so far. */
  listed: number;
  /** The number of executions the query matches, from CountWorkflowExecutions, if known. */
  total: number | undefined;
}

export const DEFAULT_SCAN_CONCURRENCY = 8;
/** Executions per ListWorkflowExecutions page, and schedules per ListSchedules page: the server's usual maximum. */
const LIST_PAGE_SIZE = 1000;
/** gRPC NOT_FOUND: the run (or schedule) was deleted, or passed its retention, between the listing and the read. */
const GRPC_NOT_FOUND = 5;
/** WORKFLOW_EXECUTION_STATUS_RUNNING and _PAUSED (temporal.api.enums.v1.WorkflowExecutionStatus): not closed. */
const OPEN_STATUSES = new Set([1, 8]);
const { History } = protoModule.temporal.api.history.v1;
const { EncodingType } = protoModule.temporal.api.enums.v1;

interface Run {
  workflowId: string;
  runId: string;
  open: boolean;
}

/** What a reader does next: describe a schedule, or read a run's history. */
type Work = { schedule: string; run?: undefined } | { run: Run; schedule?: undefined };

class Aborted extends Error {}

/** A history page the scan cannot read (a `rawHistory` blob it cannot decode): the run fails, never reads as empty. */
class UnreadableHistoryError extends Error {}

/**
 * The schedules could not be listed (the scan rejects with it): the server or the credentials may not allow
 * ListSchedules. `code` and `details` are the gRPC error's, `cause` the error itself. A scan with `schedules: false`
 * does not list them.
 */
export class ScheduleListingError extends Error {
  override readonly name = 'ScheduleListingError';
  readonly code: unknown;
  readonly details: unknown;

  constructor(cause: unknown) {
    super(`could not list the schedules: ${errorMessage(cause)}`, { cause });
    this.code = (cause as { code?: unknown })?.code;
    this.details = (cause as { details?: unknown })?.details;
  }
}

/**
 * Reads the raw history of every workflow run a visibility query lists (default: all; `history` or, from a server
 * that sends them, the proto3 `rawHistory` blobs), what each open run keeps outside it (DescribeWorkflowExecution:
 * its pending activities' heartbeat details and last failures, its pending Nexus operations' and callbacks' last
 * failures), and every schedule of the namespace (unless `schedules: false`), finds every payload in them wherever
 * the API puts one ({@link walkProtoPayloads}), and reports per key id how many payloads, how many open and closed
 * runs and how many schedules need it, with a verdict: `active`, `referenced`, `unreferenced` (safe to retire in
 * this namespace; only from a complete scan, which a missing key id also prevents), `unseen` (no payload under it,
 * but the scan was not complete, so this proves nothing) or `missing` (unreadable now). A `binary/zlib` payload is
 * inflated (with the codecs' cap) to find a `binary/encrypted` payload inside, as Go's codec writes them, which then
 * counts under its key id; one that does not inflate, or holds another `binary/zlib` layer, is `uninspected`. The
 * first `binary/encrypted` payload under each configured key id (inside a `binary/zlib` one, the inner one) is
 * decrypted, to check that the key is the right one.
 *
 * Schedules are listed and described first, then runs, `concurrency` calls at a time in all; a run counts once its
 * whole history (and, if open, its description) is read, a schedule once it is described, so an aborted scan
 * (`signal`) resolves with a consistent partial report. A run or schedule that vanished meanwhile is counted apart;
 * one that cannot be read (for a run, also a `rawHistory` blob that is not a proto3 History) is listed in `failures`
 * or `scheduleFailures`, and a `binary/zlib` payload that does not inflate (past the cap, or not zlib) is counted in
 * `payloads.uninspected`. Then, as after an abort, with a `query` or with `schedules: false`, the report is not
 * `complete` and a key with no payload is `unseen`, never `unreferenced`. A failure to list rejects (for the
 * schedules, with a {@link ScheduleListingError}).
 *
 * @example
 * const client = new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
 * const report = await scanWorkflowHistories(client, { keyRing: loadKeyRing({ encryptionKeyID: '2025-01' }) });
 * for (const key of report.keys) console.log(key.keyId, key.verdict);
 */
export async function scanWorkflowHistories(client: ScanClient, options: ScanOptions): Promise<ScanReport> {
  const started = performance.now();
  const namespace = options.namespace ?? client.options.namespace;
  const query = options.query ?? '';
  const concurrency = options.concurrency ?? DEFAULT_SCAN_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  const readSchedules = options.schedules ?? true;
  const inflater = zlibInflater(options.maxDecompressedBytes);
  const service = client.workflowService;
  const tally = new ScanTally(options.keyRing.activeKeyId);
  tally.schedules.skipped = !readSchedules;

  // One controller for the caller's signal and for a listing failure, which stops every reader.
  const stop = new AbortController();
  // Each call in flight listens for the abort (and stops listening when it settles): one per reader, plus the listing.
  setMaxListeners(concurrency + 2, stop.signal);
  const onAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();

  const progress: ScanProgress = { done: 0, listed: 0, total: undefined };
  let finished = false; // the count may answer after the scan: no progress then
  const report = (): void => {
    if (!finished) options.onProgress?.({ ...progress });
  };
  service
    .countWorkflowExecutions({ namespace, query })
    .then((response) => {
      const count = response.count ?? 0;
      progress.total = typeof count === 'number' ? count : count.toNumber(); // int64: a Long
      report();
    })
    .catch(() => undefined); // only for the progress display

  async function* listSchedules(): AsyncGenerator<Work> {
    let nextPageToken: Uint8Array | undefined;
    do {
      const request = { namespace, maximumPageSize: LIST_PAGE_SIZE, ...(nextPageToken ? { nextPageToken } : {}) };
      let response;
      try {
        response = await abortable(service.listSchedules(request), stop.signal);
      } catch (error) {
        // NOT_FOUND is the namespace's: the same error as listing the executions would give.
        if (error instanceof Aborted || (error as { code?: unknown })?.code === GRPC_NOT_FOUND) throw error;
        throw new ScheduleListingError(error);
      }
      for (const entry of response.schedules ?? []) yield { schedule: entry.scheduleId ?? '' };
      nextPageToken = response.nextPageToken?.length ? response.nextPageToken : undefined;
    } while (nextPageToken);
  }

  async function* listRuns(): AsyncGenerator<Work> {
    let nextPageToken: Uint8Array | undefined;
    do {
      const request = { namespace, query, pageSize: LIST_PAGE_SIZE, ...(nextPageToken ? { nextPageToken } : {}) };
      const response = await abortable(service.listWorkflowExecutions(request), stop.signal);
      for (const info of response.executions ?? []) {
        const workflowId = info.execution?.workflowId ?? '';
        const runId = info.execution?.runId ?? '';
        progress.listed++;
        yield { run: { workflowId, runId, open: OPEN_STATUSES.has(Number(info.status ?? 0)) } };
      }
      nextPageToken = response.nextPageToken?.length ? response.nextPageToken : undefined;
    } while (nextPageToken);
  }

  /** The schedules first (few, and a listing refused for them fails the scan before the long part), then the runs. */
  async function* listWork(): AsyncGenerator<Work> {
    if (readSchedules) yield* listSchedules();
    yield* listRuns();
  }

  async function scanSchedule(scheduleId: string): Promise<void> {
    let response;
    try {
      response = await abortable(service.describeSchedule({ namespace, scheduleId }), stop.signal);
    } catch (error) {
      if (error instanceof Aborted) throw error;
      if ((error as { code?: unknown })?.code === GRPC_NOT_FOUND) tally.schedules.vanished++;
      else tally.addScheduleFailure({ scheduleId, message: errorMessage(error) });
      return;
    }
    // The whole answer: the action's input, memo, header and user metadata, and the schedule's own memo (search
    // attributes are plain JSON and counted as such).
    const scheduleTally = new RunTally(inflater);
    walkProtoPayloads(response, (payload) => scheduleTally.add(payload, tally.samples));
    tally.addSchedule({ scheduleId }, scheduleTally);
  }

  /** A run that could not be read: vanished on NOT_FOUND, else failed (an abort goes on up). */
  function runUnreadable(run: Run, error: unknown): void {
    if (error instanceof Aborted) throw error;
    if ((error as { code?: unknown })?.code === GRPC_NOT_FOUND) tally.workflows.vanished++;
    else tally.addFailure({ workflowId: run.workflowId, runId: run.runId, message: errorMessage(error) });
  }

  async function scanRun(run: Run): Promise<void> {
    const runTally = new RunTally(inflater);
    if (run.open) {
      // An open run keeps what its pending activities, Nexus operations and callbacks will decode (heartbeat details,
      // last failures) outside its history until they close. Described before the history is read: what moves from
      // there into the history meanwhile is then counted twice, never missed.
      let described;
      try {
        const execution = { workflowId: run.workflowId, runId: run.runId };
        described = await abortable(service.describeWorkflowExecution({ namespace, execution }), stop.signal);
      } catch (error) {
        runUnreadable(run, error);
        return;
      }
      walkProtoPayloads(pendingPartsOf(described), (payload) => runTally.add(payload, tally.samples));
    }
    let nextPageToken: Uint8Array | undefined;
    do {
      const request = {
        namespace,
        execution: { workflowId: run.workflowId, runId: run.runId },
        ...(nextPageToken ? { nextPageToken } : {}),
      };
      let histories;
      let response;
      try {
        response = await abortable(service.getWorkflowExecutionHistory(request), stop.signal);
        histories = historiesOf(response);
      } catch (error) {
        runUnreadable(run, error);
        return;
      }
      walkProtoPayloads(histories, (payload) => runTally.add(payload, tally.samples));
      nextPageToken = response.nextPageToken?.length ? response.nextPageToken : undefined;
    } while (nextPageToken);
    tally.addRun(run, runTally);
  }

  const work = listWork();
  let listingError: unknown;
  const reader = async (): Promise<void> => {
    try {
      for (;;) {
        if (stop.signal.aborted) return;
        let next: IteratorResult<Work>;
        try {
          next = await abortable(work.next(), stop.signal);
        } catch (error) {
          if (!(error instanceof Aborted) && listingError === undefined) listingError = error;
          stop.abort();
          return;
        }
        if (next.done) return;
        if (next.value.run === undefined) {
          await scanSchedule(next.value.schedule);
          continue;
        }
        await scanRun(next.value.run);
        progress.done++;
        report();
      }
    } catch (error) {
      if (error instanceof Aborted) return;
      stop.abort();
      throw error;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, reader));
  } finally {
    finished = true;
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (listingError !== undefined) throw listingError;
  return tally.report({
    namespace,
    query,
    keyRing: options.keyRing,
    partial: stop.signal.aborted,
    durationMs: Math.round(performance.now() - started),
  });
}

/**
 * The history of one GetWorkflowExecutionHistory page: `history`, and each blob of `rawHistory` decoded (a server
 * with the dynamic config `frontend.sendRawWorkflowHistory` sends the events as proto3-encoded `History` blobs there
 * instead). Throws {@link UnreadableHistoryError} for a blob of another encoding, or one that does not decode.
 */
function historiesOf(response: temporal.api.workflowservice.v1.IGetWorkflowExecutionHistoryResponse): unknown[] {
  const histories: unknown[] = [response.history];
  for (const [index, blob] of (response.rawHistory ?? []).entries()) {
    const encodingType = blob.encodingType ?? EncodingType.ENCODING_TYPE_UNSPECIFIED;
    if (encodingType !== EncodingType.ENCODING_TYPE_PROTO3) {
      // The generated enum maps names to numbers, and numbers back to names.
      const names = EncodingType as unknown as Record<number, string | undefined>;
      const name = names[encodingType] ?? String(encodingType);
      const message = `rawHistory[${index}] has encodingType ${name}: only ENCODING_TYPE_PROTO3 is read`;
      throw new UnreadableHistoryError(message);
    }
    try {
      // Fields unknown to this schema are dropped, as the gRPC client drops them from `history`: they are bytes the
      // walk could not look into either way.
      histories.push(History.decode(blob.data ?? new Uint8Array(0)));
    } catch (error) {
      const reason = (error as Error)?.message ?? String(error);
      throw new UnreadableHistoryError(`rawHistory[${index}] is not a proto3 History: ${reason}`);
    }
  }
  return histories;
}

/**
 * What a DescribeWorkflowExecution answer holds that the run's history does not (yet): everything but the run's info
 * (its memo and search attributes, which the history's events hold too) and config (its user metadata, the first
 * event's), so no payload counts twice. What is left is walked whole, as the history is, so a field the API adds is
 * covered.
 */
function pendingPartsOf(response: temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse): object {
  return { ...response, workflowExecutionInfo: null, executionConfig: null };
}

/** `promise`, or an {@link Aborted} rejection as soon as `signal` aborts (the call itself is left to finish). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(new Aborted());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function errorMessage(error: unknown): string {
  const details = (error as { details?: unknown })?.details;
  if (typeof details === 'string' && details !== '') return details;
  return (error as Error)?.message ?? String(error);
}
