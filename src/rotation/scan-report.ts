import { EncryptionCodec } from '../codecs/encryption-codec.js';
import type { KeyRing } from '../keys/key-ring.js';
import {
  emptyCounts,
  encryptedKeyIdOfProto,
  type PayloadCounts,
  type PayloadProtoNode,
  tallyProtoPayload,
} from './walk-payloads.js';

/**
 * What a key id needs, from a scan of every retained history:
 * - `active`: new payloads are encrypted with it.
 * - `referenced`: not active, but payloads of retained histories are under it: keep it.
 * - `unreferenced`: configured, not active, and no payload is under it: safe to retire.
 * - `missing`: payloads are under it, but no configured key decrypts them: they are unreadable now.
 */
export type KeyVerdict = 'active' | 'referenced' | 'unreferenced' | 'missing';

/** One key id in a {@link ScanReport}. */
export interface KeyScanReport {
  keyId: string;
  verdict: KeyVerdict;
  /** Whether new payloads are encrypted with it. */
  active: boolean;
  /** Whether the key ring has a key for it (its own, or the `TEMPORAL_ENCRYPTION_KEY` fallback). */
  configured: boolean;
  /**
   * Whether that key decrypted a payload under this id, tried on the first one found; undefined when nothing was
   * tried (no payload, or no key). `false` makes the verdict `missing`: the configured key is not the one used.
   */
  decrypts: boolean | undefined;
  /** Encrypted payloads under this key id. */
  payloads: number;
  /** Open (running or paused) workflow runs with at least one payload under it. */
  openWorkflows: number;
  /** Closed workflow runs with at least one payload under it. */
  closedWorkflows: number;
}

/** An open workflow run that still holds payloads under a key id that is not the active one. */
export interface OpenWorkflowOnInactiveKey {
  workflowId: string;
  runId: string;
  /** The key ids other than the active one, sorted. */
  keyIds: string[];
}

/** A workflow run whose history could not be read: the scan does not cover it. */
export interface ScanFailure {
  workflowId: string;
  runId: string;
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
  workflows: {
    /** Runs whose whole history was scanned. */
    scanned: number;
    open: number;
    closed: number;
    /** Listed, then gone (deleted or past retention) before their history was read. */
    vanished: number;
    /** Listed, but their history could not be read: see `failures`. */
    failed: number;
  };
  /** Every payload of the scanned histories, by kind, and the encrypted ones by key id. */
  payloads: PayloadCounts;
  /** Every configured key id, the active one and every key id found, sorted by key id. */
  keys: KeyScanReport[];
  /** Open runs that still need a key other than the active one (they will until they close and are deleted). */
  openWorkflowsOnInactiveKeys: OpenWorkflowOnInactiveKey[];
  failures: ScanFailure[];
  durationMs: number;
}

/** The payloads of one workflow run's history, gathered page by page and added to the tally only once complete. */
export class RunTally {
  readonly counts = emptyCounts();

  add(payload: PayloadProtoNode, samples: Map<string, PayloadProtoNode>): void {
    tallyProtoPayload(this.counts, payload);
    const keyId = encryptedKeyIdOfProto(payload);
    if (keyId !== undefined && !samples.has(keyId)) samples.set(keyId, payload);
  }
}

interface KeyTally {
  payloads: number;
  openWorkflows: number;
  closedWorkflows: number;
}

/** The running totals of a scan; {@link ScanTally.report} turns them into a {@link ScanReport} at any moment. */
export class ScanTally {
  readonly payloads = emptyCounts();
  readonly workflows = { scanned: 0, open: 0, closed: 0, vanished: 0, failed: 0 };
  readonly failures: ScanFailure[] = [];
  /** The first payload found under each key id, to check that the configured key really decrypts it. */
  readonly samples = new Map<string, PayloadProtoNode>();
  readonly #byKeyId = new Map<string, KeyTally>();
  readonly #openOnInactive: OpenWorkflowOnInactiveKey[] = [];

  constructor(readonly activeKeyId: string) {}

  /** Adds one run whose whole history was read. */
  addRun(run: { workflowId: string; runId: string; open: boolean }, tally: RunTally): void {
    const { counts } = tally;
    for (const field of ['total', 'encrypted', 'compressed', 'plain', 'other'] as const) {
      this.payloads[field] += counts[field];
    }
    for (const [keyId, count] of Object.entries(counts.byKeyId)) {
      this.payloads.byKeyId[keyId] = (this.payloads.byKeyId[keyId] ?? 0) + count;
      const key = this.#byKeyId.get(keyId) ?? { payloads: 0, openWorkflows: 0, closedWorkflows: 0 };
      key.payloads += count;
      if (run.open) key.openWorkflows++;
      else key.closedWorkflows++;
      this.#byKeyId.set(keyId, key);
    }
    this.workflows.scanned++;
    if (run.open) this.workflows.open++;
    else this.workflows.closed++;
    const inactive = Object.keys(counts.byKeyId).filter((keyId) => keyId !== this.activeKeyId);
    if (run.open && inactive.length > 0) {
      this.#openOnInactive.push({ workflowId: run.workflowId, runId: run.runId, keyIds: inactive.sort() });
    }
  }

  addFailure(failure: ScanFailure): void {
    this.workflows.failed++;
    this.failures.push(failure);
  }

  /** The report so far, with a verdict per key id from `keyRing`. */
  report(context: { namespace: string; query: string; keyRing: KeyRing; partial: boolean; durationMs: number }): ScanReport {
    const { keyRing } = context;
    const codec = new EncryptionCodec({ keyRing, requireActiveKey: false });
    const keyIds = new Set([...keyRing.keyIds(), this.activeKeyId, ...this.#byKeyId.keys()]);
    const keys = [...keyIds].sort().map((keyId): KeyScanReport => {
      const tally = this.#byKeyId.get(keyId) ?? { payloads: 0, openWorkflows: 0, closedWorkflows: 0 };
      const configured = keyRing.has(keyId);
      const sample = tally.payloads > 0 && configured ? this.samples.get(keyId) : undefined;
      const decrypts = sample ? decryptsWith(codec, sample) : undefined;
      const active = keyId === this.activeKeyId;
      let verdict: KeyVerdict;
      if (tally.payloads > 0 && (!configured || decrypts === false)) verdict = 'missing';
      else if (active) verdict = 'active';
      else verdict = tally.payloads > 0 ? 'referenced' : 'unreferenced';
      return { keyId, verdict, active, configured, decrypts, ...tally };
    });
    const byKeyId = Object.create(null) as Record<string, number>;
    for (const keyId of Object.keys(this.payloads.byKeyId).sort()) byKeyId[keyId] = this.payloads.byKeyId[keyId]!;
    const byId = (a: { workflowId: string; runId: string }, b: { workflowId: string; runId: string }): number =>
      a.workflowId === b.workflowId ? compare(a.runId, b.runId) : compare(a.workflowId, b.workflowId);
    return {
      namespace: context.namespace,
      query: context.query,
      activeKeyId: this.activeKeyId,
      partial: context.partial,
      workflows: { ...this.workflows },
      payloads: { ...this.payloads, byKeyId },
      keys,
      openWorkflowsOnInactiveKeys: [...this.#openOnInactive].sort(byId),
      failures: [...this.failures].sort(byId),
      durationMs: context.durationMs,
    };
  }
}

function decryptsWith(codec: EncryptionCodec, payload: PayloadProtoNode): boolean {
  try {
    codec.decryptPayload(payload as Parameters<EncryptionCodec['decryptPayload']>[0]);
    return true;
  } catch {
    return false;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
