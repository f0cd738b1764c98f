import type { Payload } from '@temporalio/common';
import type { CompressionCodec } from '../codecs/compression-codec.js';
import { EncryptionCodec } from '../codecs/encryption-codec.js';
import { METADATA_ENCRYPTION_KEY_ID } from '../codecs/payload-proto.js';
import type { KeyRing } from '../keys/key-ring.js';
import {
  emptyCounts,
  type PayloadCounts,
  type PayloadProtoNode,
  tallyProtoPayload,
  type UninspectedReason,
  zlibInflater,
} from './walk-payloads.js';

/**
 * What a key id needs, from a scan of one namespace's retained histories and schedules:
 * - `active`: new payloads are encrypted with it.
 * - `referenced`: not active, but payloads of retained histories or of schedules are under it: keep it.
 * - `unreferenced`: configured, not active, and no payload is under it, from a complete scan
 *   ({@link ScanReport.complete}): safe to retire in this namespace. Another namespace whose workers or clients hold
 *   the same key (without namespace keys, every namespace shares the key ring) needs a scan of its own.
 * - `unseen`: configured, not active, and no payload under it in what was scanned; the scan was not complete
 *   (interrupted, limited by a query, without the schedules, with runs or schedules that could not be read or
 *   payloads that could not be opened, or with a key id `missing`), so this proves nothing: keep it.
 * - `missing`: payloads are under it, but no configured key decrypts them under this id: they are unreadable now.
 */
export type KeyVerdict = 'active' | 'referenced' | 'unreferenced' | 'unseen' | 'missing';

/**
 * One key id in a {@link ScanReport}: a key id payloads are under, the active id, or a configured key that serves
 * neither (listed under its own id, `*` for the `TEMPORAL_ENCRYPTION_KEY` fallback).
 */
export interface KeyScanReport {
  keyId: string;
  verdict: KeyVerdict;
  /** Whether new payloads are encrypted with it. */
  active: boolean;
  /** Whether the key ring has a key for it (its own, its environment-safe alias, or the fallback). */
  configured: boolean;
  /**
   * The configured key that serves it, as `temporal-codec keys` lists it: the id itself, its environment-safe alias
   * (`2026_11`, from `TEMPORAL_ENCRYPTION_KEY_2026_11`, serves `2026-11`) or `*`; null when none does.
   */
  servedBy: string | null;
  /**
   * Whether that key decrypted a payload under this id, tried on the first one found; undefined when nothing was
   * tried (no payload, or no key). `false` makes the verdict `missing`: the configured key is not the one used.
   */
  decrypts: boolean | undefined;
  /**
   * For a `missing` id: another configured key (listed as in `keys`, on its own row or serving other ids, the active
   * one included) that decrypts the first payload under this id. The key is there under another id (a key file named
   * `prod_2025` for payloads under `2025`, or renamed and made active): configure it under this id. Absent when none
   * does, and for any other verdict.
   */
  decryptedBy?: string;
  /** Encrypted payloads under this key id, in histories and schedules (also inside `binary/zlib` payloads). */
  payloads: number;
  /** Open (running or paused) workflow runs with at least one payload under it. */
  openWorkflows: number;
  /** Closed workflow runs with at least one payload under it. */
  closedWorkflows: number;
  /** Schedules with at least one payload under it (their action's input, memo or header, or their memo). */
  schedules: number;
}

/** An open workflow run that still holds payloads under a key id that is not the active one. */
export interface OpenWorkflowOnInactiveKey {
  workflowId: string;
  runId: string;
  /** The key ids other than the active one, sorted. */
  keyIds: string[];
}

/**
 * A schedule that still holds payloads under a key id that is not the active one: each workflow it starts gets them
 * too, and it needs the key until it is re-saved with the active key or deleted.
 */
export interface ScheduleOnInactiveKey {
  scheduleId: string;
  /** The key ids other than the active one, sorted. */
  keyIds: string[];
}

/** A workflow run whose history (or an open run's description) could not be read: the scan does not cover it. */
export interface ScanFailure {
  workflowId: string;
  runId: string;
  message: string;
}

/** A schedule that could not be described: the scan does not cover it. */
export interface ScheduleScanFailure {
  scheduleId: string;
  message: string;
}

/** What {@link scanWorkflowHistories} found. */
export interface ScanReport {
  namespace: string;
  /** The visibility query the executions were listed with (`""`: every execution). */
  query: string;
  activeKeyId: string;
  /** Interrupted: the counts cover the runs scanned before the interruption, each run wholly or not at all. */
  partial: boolean;
  /**
   * Whether the scan saw everything the namespace retains: not interrupted, no `query`, schedules read, every history
   * and schedule read and every payload opened, and no key id `missing` (the key its payloads need may be configured
   * under another id, where it would look unused). Only then is a key with no payload `unreferenced`; otherwise it is
   * `unseen`.
   */
  complete: boolean;
  workflows: {
    /** Runs whose whole history (and, for an open run, its description: pending activities...) was scanned. */
    scanned: number;
    open: number;
    closed: number;
    /** Listed, then gone (deleted or past retention) before their history or description was read. */
    vanished: number;
    /** Listed, but their history or description could not be read: see `failures`. */
    failed: number;
  };
  /** The schedules of the namespace (all of them: the query selects executions only). */
  schedules: {
    /** Not read (`schedules: false`, `--no-schedules`): then no key is `unreferenced` (`unseen` instead). */
    skipped: boolean;
    /** Schedules described and counted. */
    scanned: number;
    /** Listed, then deleted before they were described. */
    vanished: number;
    /** Listed, but could not be described: see `scheduleFailures`. */
    failed: number;
  };
  /**
   * Every payload of the scanned histories and schedules, by kind, and the encrypted ones by key id (a `binary/zlib`
   * payload around a `binary/encrypted` one, as Go's codec writes, counts as encrypted under the inner key id). A
   * `binary/zlib` payload that was not opened counts as `uninspected` (by reason: past the cap, not zlib, or another
   * `binary/zlib` payload inside): it may be under any key id, so while there is one no key is `unreferenced`
   * (`unseen` instead).
   */
  payloads: PayloadCounts;
  /**
   * The active key id, every key id found and every configured key that serves none of them, sorted by key id. A
   * configured key is listed under the ids it serves (see `servedBy`) or, when it serves none, on its own, so one that
   * serves the active id or a payload is never `unreferenced` (nor `unseen`).
   */
  keys: KeyScanReport[];
  /** Open runs that still need a key other than the active one (they will until they close and are deleted). */
  openWorkflowsOnInactiveKeys: OpenWorkflowOnInactiveKey[];
  /** Schedules that still need a key other than the active one, sorted by schedule id. */
  schedulesOnInactiveKeys: ScheduleOnInactiveKey[];
  failures: ScanFailure[];
  scheduleFailures: ScheduleScanFailure[];
  durationMs: number;
}

/**
 * The payloads of one workflow run's history, gathered page by page and added to the tally only once complete; or
 * those of one schedule.
 */
export class RunTally {
  readonly counts = emptyCounts();

  /** `inflater` opens `binary/zlib` payloads to find a `binary/encrypted` one inside (Go's order). */
  constructor(readonly inflater: CompressionCodec = zlibInflater()) {}

  /**
   * Counts one payload; the first `binary/encrypted` payload under a key id becomes its sample: the payload itself,
   * or the one inside a `binary/zlib` payload, which is what the key must decrypt.
   */
  add(payload: PayloadProtoNode, samples: Map<string, Payload>): void {
    const found = tallyProtoPayload(this.counts, payload, this.inflater);
    if (found && !samples.has(found.keyId)) samples.set(found.keyId, found.encrypted);
  }
}

interface KeyTally {
  payloads: number;
  openWorkflows: number;
  closedWorkflows: number;
  schedules: number;
}

const emptyKeyTally = (): KeyTally => ({ payloads: 0, openWorkflows: 0, closedWorkflows: 0, schedules: 0 });

/** The running totals of a scan; {@link ScanTally.report} turns them into a {@link ScanReport} at any moment. */
export class ScanTally {
  readonly payloads = emptyCounts();
  readonly workflows = { scanned: 0, open: 0, closed: 0, vanished: 0, failed: 0 };
  readonly schedules = { skipped: false, scanned: 0, vanished: 0, failed: 0 };
  readonly failures: ScanFailure[] = [];
  readonly scheduleFailures: ScheduleScanFailure[] = [];
  /**
   * The first `binary/encrypted` payload found under each key id (inside a `binary/zlib` one, the inner one), to check
   * that the configured key really decrypts it.
   */
  readonly samples = new Map<string, Payload>();
  readonly #byKeyId = new Map<string, KeyTally>();
  readonly #openOnInactive: OpenWorkflowOnInactiveKey[] = [];
  readonly #schedulesOnInactive: ScheduleOnInactiveKey[] = [];

  constructor(readonly activeKeyId: string) {}

  /** Adds one run whose whole history was read. */
  addRun(run: { workflowId: string; runId: string; open: boolean }, tally: RunTally): void {
    this.#add(tally, (key) => {
      if (run.open) key.openWorkflows++;
      else key.closedWorkflows++;
    });
    this.workflows.scanned++;
    if (run.open) this.workflows.open++;
    else this.workflows.closed++;
    const inactive = this.#inactiveKeyIds(tally);
    if (run.open && inactive.length > 0) {
      this.#openOnInactive.push({ workflowId: run.workflowId, runId: run.runId, keyIds: inactive });
    }
  }

  /** Adds one schedule whose DescribeSchedule answer was read. */
  addSchedule(schedule: { scheduleId: string }, tally: RunTally): void {
    this.#add(tally, (key) => key.schedules++);
    this.schedules.scanned++;
    const inactive = this.#inactiveKeyIds(tally);
    if (inactive.length > 0) this.#schedulesOnInactive.push({ scheduleId: schedule.scheduleId, keyIds: inactive });
  }

  addFailure(failure: ScanFailure): void {
    this.workflows.failed++;
    this.failures.push(failure);
  }

  addScheduleFailure(failure: ScheduleScanFailure): void {
    this.schedules.failed++;
    this.scheduleFailures.push(failure);
  }

  /** Adds the payload counts of one run or schedule, and `count`s it once in each key id it holds payloads under. */
  #add({ counts }: RunTally, count: (key: KeyTally) => void): void {
    for (const field of ['total', 'encrypted', 'compressed', 'uninspected', 'plain', 'other'] as const) {
      this.payloads[field] += counts[field];
    }
    for (const reason of Object.keys(counts.uninspectedByReason) as UninspectedReason[]) {
      this.payloads.uninspectedByReason[reason] += counts.uninspectedByReason[reason];
    }
    for (const [keyId, payloads] of Object.entries(counts.byKeyId)) {
      this.payloads.byKeyId[keyId] = (this.payloads.byKeyId[keyId] ?? 0) + payloads;
      const key = this.#byKeyId.get(keyId) ?? emptyKeyTally();
      key.payloads += payloads;
      count(key);
      this.#byKeyId.set(keyId, key);
    }
  }

  #inactiveKeyIds({ counts }: RunTally): string[] {
    return Object.keys(counts.byKeyId)
      .filter((keyId) => keyId !== this.activeKeyId)
      .sort();
  }

  /** The report so far, with a verdict per key id from `keyRing`. */
  report(context: { namespace: string; query: string; keyRing: KeyRing; partial: boolean; durationMs: number }): ScanReport {
    const { keyRing } = context;
    const codec = new EncryptionCodec({ keyRing, requireActiveKey: false });
    // The ids that matter are those payloads carry and the active one. A key's own spelling (`2026_11`) is a row only
    // when the key serves none of them: listing it next to the `2026-11` it serves would call the active key, or one
    // that payloads need, unreferenced.
    // Compared by fingerprint, so a key held under two spellings (`prod-eu` and `PROD_EU`, the same bytes) is in use
    // under both.
    const needed = new Set([this.activeKeyId, ...this.#byKeyId.keys()]);
    const inUse = new Set([...needed].map((keyId) => keyRing.fingerprint(keyId)));
    const configured = keyRing.describe();
    const configuredIds = configured.map((key) => key.keyId);
    const idle = configured
      .filter((key) => !needed.has(key.keyId) && !inUse.has(key.fingerprint))
      .map((key) => key.keyId);
    const rows = [...needed, ...idle].sort(compare).map((keyId) => {
      const tally = this.#byKeyId.get(keyId) ?? emptyKeyTally();
      const servedBy = needed.has(keyId) ? (keyRing.servingKeyId(keyId) ?? null) : keyId;
      const configured = servedBy !== null;
      const sample = tally.payloads > 0 && configured ? this.samples.get(keyId) : undefined;
      const decrypts = sample ? decryptsWith(codec, sample) : undefined;
      const missing = tally.payloads > 0 && (!configured || decrypts === false);
      return { keyId, tally, servedBy, configured, decrypts, missing };
    });
    const complete =
      !context.partial &&
      context.query === '' &&
      !this.schedules.skipped &&
      this.schedules.failed === 0 &&
      this.workflows.failed === 0 &&
      this.payloads.uninspected === 0 &&
      // The key a missing id's payloads need may be configured under another id, where it looks unused.
      rows.every((row) => !row.missing);
    const keys = rows.map(({ keyId, tally, servedBy, configured, decrypts, missing }): KeyScanReport => {
      const active = keyId === this.activeKeyId;
      let verdict: KeyVerdict;
      if (missing) verdict = 'missing';
      else if (active) verdict = 'active';
      else if (tally.payloads > 0) verdict = 'referenced';
      // "Safe to retire" only from a scan that saw everything: a script that reads the verdict alone must not delete
      // a key that an unread history, schedule or payload may need.
      else verdict = complete ? 'unreferenced' : 'unseen';
      // Any configured key may be the one: a key file renamed and made active, or kept under a referenced id.
      const sample = missing ? this.samples.get(keyId) : undefined;
      const decryptedBy =
        sample && configuredIds.find((listedAs) => listedAs !== servedBy && decryptsAs(codec, sample, listedAs));
      return { keyId, verdict, active, configured, servedBy, decrypts, ...(decryptedBy ? { decryptedBy } : {}), ...tally };
    });
    const byKeyId = Object.create(null) as Record<string, number>;
    for (const keyId of Object.keys(this.payloads.byKeyId).sort()) byKeyId[keyId] = this.payloads.byKeyId[keyId]!;
    const byId = (a: { workflowId: string; runId: string }, b: { workflowId: string; runId: string }): number =>
      a.workflowId === b.workflowId ? compare(a.runId, b.runId) : compare(a.workflowId, b.workflowId);
    const byScheduleId = (a: { scheduleId: string }, b: { scheduleId: string }): number => compare(a.scheduleId, b.scheduleId);
    return {
      namespace: context.namespace,
      query: context.query,
      activeKeyId: this.activeKeyId,
      partial: context.partial,
      complete,
      workflows: { ...this.workflows },
      schedules: { ...this.schedules },
      payloads: { ...this.payloads, byKeyId, uninspectedByReason: { ...this.payloads.uninspectedByReason } },
      keys,
      openWorkflowsOnInactiveKeys: [...this.#openOnInactive].sort(byId),
      schedulesOnInactiveKeys: [...this.#schedulesOnInactive].sort(byScheduleId),
      failures: [...this.failures].sort(byId),
      scheduleFailures: [...this.scheduleFailures].sort(byScheduleId),
      durationMs: context.durationMs,
    };
  }
}

/**
 * Whether a payload decrypts with the key the ring lists as `listedAs` ({@link KeyRing.describe}): the payload is
 * tried under that key id, which names no other key (the key id is not authenticated, so nothing else changes).
 */
function decryptsAs(codec: EncryptionCodec, payload: Payload, listedAs: string): boolean {
  if (codec.keyRing.servingKeyId(listedAs) !== listedAs) return false;
  const metadata = { ...payload.metadata, [METADATA_ENCRYPTION_KEY_ID]: utf8.encode(listedAs) };
  return decryptsWith(codec, { ...payload, metadata });
}

const utf8 = new TextEncoder();

function decryptsWith(codec: EncryptionCodec, payload: Payload): boolean {
  try {
    codec.decryptPayload(payload);
    return true;
  } catch {
    return false;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
