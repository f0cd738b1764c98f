import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { describeKeyId } from '../errors.js';
import { FALLBACK_KEY_ID } from '../keys/key-ring.js';
import { loadKeyRing } from '../keys/load-key-ring.js';
import type { KeyScanReport, ScanReport } from '../rotation/scan-report.js';
import {
  DEFAULT_SCAN_CONCURRENCY,
  type ScanClient,
  type ScanProgress,
  ScheduleListingError,
  scanWorkflowHistories,
} from '../rotation/scan.js';
import {
  ACTIVE_KEY_ID_DEFAULT_HELP,
  addCodecFlags,
  type CodecFlags,
  codecOptionsFrom,
  uninspectedReasons,
} from './codec-options-flags.js';
import { CliExit, type CliIo } from './io.js';
import { addConnectionFlags, type ConnectionFlags, connectTemporal } from './temporal-connection.js';

const HELP = `
Lists the workflow executions (--query, in visibility syntax; default all, open and closed) and reads each one's
raw history, as the server stores it, with no codec (and its rawHistory blobs, when the server sends those). Each
open execution is also described (DescribeWorkflowExecution, which the credentials must allow): its pending
activities' heartbeat details and last failures, and its pending Nexus operations' and callbacks' failures, are
kept there until they complete (an activity's next attempt decodes its heartbeat details). It also lists every
schedule of the namespace (--query does not apply to them; --no-schedules skips them) and describes each one: a
schedule keeps its start-workflow action (input, memo, header) and its memo encrypted as the client that saved it
encoded them, and passes them to every workflow it starts. Every payload found is counted by its encryption-key-id
(a binary/zlib payload around a binary/encrypted one, as Go workers write with a compression threshold of 0, by the
inner one's), and each key id gets a verdict:
  active        new payloads are encrypted with it
  referenced    retained histories or schedules still hold payloads under it: keep it
                (N open and M closed workflows, S schedules)
  unreferenced  configured, not active, and no payload is under it, from a complete scan: safe to retire in
                this namespace (scan every namespace whose workers or clients hold the key before removing it)
  unseen        configured, not active, and no payload under it in what was scanned; the scan was not complete
                (see below), so this proves nothing: keep it
  missing       payloads are under it but no configured key opens them under it: they are unreadable now; a
                configured key on a row of its own that opens them is named (configure it under that key id)
A configured key is listed under the key ids it serves (TEMPORAL_ENCRYPTION_KEY_2026_11 serves 2026-11, and
TEMPORAL_ENCRYPTION_KEY, shown as *, every id without a key of its own), or on a row of its own when it serves none
of them, so a key that the active id or a payload needs is never called unreferenced. The active key id is
--key-id, else DIR/.active-key-id of --keys-dir (as for serve), else the configured one.
The first payload under each configured key id is decrypted, to check that the key is the right one. Open
workflows that still carry a non-active key are listed: they need it until they close and their history is deleted.
So are schedules on a non-active key: they need it until they are re-saved by a client whose active key is the new
one (an update re-encodes the action; a schedule's memo changes only by recreating it) or deleted.

A binary/zlib payload that cannot be opened (it inflates past --max-decompressed-bytes, or is not a valid zlib
stream) or holds another binary/zlib payload (one layer is opened, as decode opens it) may hold a payload under any
key id: it is counted as not opened, and then no key is called safe to retire (unseen, not unreferenced); raise
--max-decompressed-bytes to open those that are only too large. While a key id is missing, no key is called safe
to retire either: the key its payloads need may be configured under another id.

Rotation: add the new key everywhere as decrypt-only, make it active, run scan until the old key is unreferenced,
then remove it. A run covers one namespace: only the executions the server lists (not archived histories) and,
with --query, only those the query matches; with --no-schedules, no schedule. Only a complete scan (no --query or
--no-schedules, not interrupted, every history and schedule read, every payload opened and no key id missing)
calls a key unreferenced; any other calls a key with no payload unseen. "complete" in --output json says which it
was. Unreferenced means unused in this namespace: without namespace keys every namespace's workers share the keys,
so scan each namespace whose workers or clients hold the key before removing it.

Keys come from TEMPORAL_ENCRYPTION_KEY_<id> / TEMPORAL_ENCRYPTION_KEY and --keys-dir, as for the other commands;
--config is the codec's YAML/JSON config, --config-file the Temporal CLI's TOML profile file. Needs the optional
peer dependencies @temporalio/client and @temporalio/envconfig.

Ctrl-C stops the scan and prints what it has, marked partial. Exit status: 0 done, 1 error, histories or
schedules that could not be read, payloads that could not be opened, or a key id missing, 2 usage, 130
interrupted.`;

interface ScanFlags extends CodecFlags, ConnectionFlags {
  query?: string;
  /** `--no-schedules` makes it false. */
  schedules: boolean;
  concurrency: number;
  output: 'table' | 'json';
}

/** What `scan` takes from the outside world besides `CliIo`; tests pass their own. */
export interface ScanCommandDeps {
  /** Connects to Temporal (default: {@link connectTemporal}). */
  connect?: (flags: ConnectionFlags, io: CliIo) => Promise<{ client: ScanClient; namespace: string; close(): Promise<void> }>;
  /** Where the progress bar goes, if it is a TTY (default: `process.stderr`); `null` for none. */
  progressStream?: NodeJS.WriteStream | null;
  /** Stops the scan as Ctrl-C does. */
  interrupt?: AbortSignal;
}

/** `scan`: which key ids the retained histories of a namespace still need. */
export function registerScan(program: Command, io: CliIo, deps: ScanCommandDeps = {}): void {
  const command = program
    .command('scan')
    .description("report which encryption key ids the namespace's retained workflow histories and schedules still need")
    .option('--query <query>', "visibility query selecting the executions (e.g. \"WorkflowType = 'order'\"); default all")
    .option('--no-schedules', 'do not read the schedules (then no key is called safe to retire)')
    .addOption(
      new Option('--concurrency <n>', 'histories and schedules read at once')
        .argParser(parsePositiveInteger)
        .default(DEFAULT_SCAN_CONCURRENCY),
    )
    .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .option('--key-id <id>', `the active key id (${ACTIVE_KEY_ID_DEFAULT_HELP})`);
  addConnectionFlags(command);
  addCodecFlags(command, { encoding: false, decompression: true });
  command.addHelpText('after', HELP).action(async (flags: ScanFlags) => {
    const options = codecOptionsFrom(flags, io);
    const warnings: string[] = [];
    const keyRing = loadKeyRing({
      env: io.env,
      keysDir: options.keysDir,
      encryptionKeyID: options.encryptionKeyID,
      requireActiveKey: false,
      onWarning: (message) => warnings.push(message),
    });
    for (const warning of warnings) io.stderr(`warning: ${warning}\n`);

    const connection = await (deps.connect ?? connectTemporal)(flags, io);
    const stop = new AbortController();
    // The first Ctrl-C ends the scan with a partial report; a second one, with the handler gone, ends the process.
    const onSigint = (): void => {
      process.removeListener('SIGINT', onSigint);
      stop.abort();
    };
    process.on('SIGINT', onSigint);
    const onInterrupt = (): void => stop.abort();
    deps.interrupt?.addEventListener('abort', onInterrupt, { once: true });
    if (deps.interrupt?.aborted) stop.abort();
    const progress = progressBar(deps.progressStream === undefined ? process.stderr : deps.progressStream);
    let report: ScanReport;
    try {
      report = await scanWorkflowHistories(connection.client, {
        keyRing,
        namespace: connection.namespace,
        ...(flags.query !== undefined ? { query: flags.query } : {}),
        schedules: flags.schedules,
        concurrency: flags.concurrency,
        maxDecompressedBytes: options.maxDecompressedBytes,
        signal: stop.signal,
        onProgress: progress?.update,
      });
    } catch (error) {
      if (error instanceof ScheduleListingError) throw new CliExit(1, `${error.message} (--no-schedules skips them)`);
      throw error;
    } finally {
      progress?.stop();
      process.removeListener('SIGINT', onSigint);
      deps.interrupt?.removeEventListener('abort', onInterrupt);
      await connection.close();
    }

    io.stdout(flags.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    if (report.partial) {
      const schedules = report.schedules.skipped ? '' : ` and ${report.schedules.scanned} schedule(s)`;
      throw new CliExit(
        130,
        `interrupted: the report is partial (${report.workflows.scanned} workflow run(s)${schedules} scanned)`,
      );
    }
    const unread: string[] = [];
    const firsts: string[] = [];
    if (report.failures.length > 0) {
      const first = report.failures[0]!;
      unread.push(`${report.failures.length} history(ies)`);
      firsts.push(`first: ${first.workflowId}: ${first.message}`);
    }
    if (report.scheduleFailures.length > 0) {
      const first = report.scheduleFailures[0]!;
      unread.push(`${report.scheduleFailures.length} schedule(s)`);
      firsts.push(`first schedule: ${first.scheduleId}: ${first.message}`);
    }
    const problems: string[] = [];
    if (unread.length > 0) {
      const first = firsts.join('; ');
      problems.push(`${unread.join(' and ')} could not be read, so the report does not cover them (${first})`);
    }
    if (report.payloads.uninspected > 0) {
      problems.push(
        `${report.payloads.uninspected} binary/zlib payload(s) could not be opened, so the key ids inside them are ` +
          `unknown and no key is called safe to retire (${uninspectedReasons(report.payloads, options)})`,
      );
    }
    const missing = report.keys.filter((key) => key.verdict === 'missing');
    if (missing.length > 0) {
      const found = missing.flatMap((key) => (key.decryptedBy === undefined ? [] : [decryptedByAdvice(key)]));
      problems.push(
        `${missing.length} key id(s) missing (${missing.map((key) => showKeyId(key.keyId)).join(', ')}): no key ` +
          'configured for these ids opens their payloads, and the one that does may be configured under another id, ' +
          `so no key is called safe to retire${found.length > 0 ? ` (${found.join('; ')})` : ''}`,
      );
    }
    if (problems.length > 0) throw new CliExit(1, problems.join('; '));
  });
}

/** A progress bar with rate and ETA on `stream`, only when it is a terminal. */
function progressBar(
  stream: NodeJS.WriteStream | null,
): { update: (progress: ScanProgress) => void; stop: () => void } | undefined {
  if (!stream?.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'scan |{bar}| {percentage}% | {value}/{total} workflows | {rate}/s | ETA {eta_formatted}',
      clearOnComplete: true,
      hideCursor: true,
      etaBuffer: 200,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(1, 0, { rate: '0' });
  return {
    update: ({ done, listed, total }) => {
      bar.setTotal(Math.max(total ?? listed, done, 1));
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, { rate: seconds > 0 ? (done / seconds).toFixed(0) : '0' });
    },
    stop: () => bar.stop(),
  };
}

/**
 * The report as text: a summary line, one row per key id, and the open workflows and the schedules on non-active
 * keys.
 */
export function formatReport(report: ScanReport): string {
  const { workflows, schedules, payloads } = report;
  const missing = report.keys.filter((key) => key.verdict === 'missing').length;
  const scope =
    (report.query === '' ? 'all executions' : `executions matching ${JSON.stringify(report.query)}`) +
    (schedules.skipped ? '; schedules not read' : '');
  const lines = [
    `${report.partial ? 'PARTIAL (interrupted): ' : ''}scanned ${workflows.scanned} workflow run(s)` +
      `${schedules.skipped ? '' : ` and ${schedules.scanned} schedule(s)`} in namespace ` +
      `${JSON.stringify(report.namespace)} (${scope}) in ${(report.durationMs / 1000).toFixed(1)} s: ` +
      `${workflows.open} open, ${workflows.closed} closed; ${payloads.total} payload(s), ${payloads.encrypted} encrypted` +
      (workflows.vanished > 0 ? `; ${workflows.vanished} deleted while scanning` : '') +
      (workflows.failed > 0 ? `; ${workflows.failed} COULD NOT BE READ` : '') +
      (schedules.vanished > 0 ? `; ${schedules.vanished} schedule(s) deleted while scanning` : '') +
      (schedules.failed > 0 ? `; ${schedules.failed} schedule(s) COULD NOT BE READ` : '') +
      (payloads.uninspected > 0 ? `; ${payloads.uninspected} binary/zlib payload(s) COULD NOT BE OPENED` : '') +
      (missing > 0 ? `; ${missing} key id(s) MISSING` : ''),
    '',
  ];
  // A key on a row of its own that opens a missing id's payloads: it looks unused, and is not.
  const opens = new Map<string, string[]>();
  for (const key of report.keys) {
    if (key.decryptedBy !== undefined) opens.set(key.decryptedBy, [...(opens.get(key.decryptedBy) ?? []), key.keyId]);
  }
  const rows = report.keys.map((key) => [
    showKeyId(key.keyId),
    key.verdict,
    String(key.payloads),
    String(key.openWorkflows),
    String(key.closedWorkflows),
    schedules.skipped ? '-' : String(key.schedules),
    note(key, opens.get(key.keyId)) + servedByNote(key),
  ]);
  lines.push(table([['KEY ID', 'VERDICT', 'PAYLOADS', 'OPEN', 'CLOSED', 'SCHEDULES', 'NOTE'], ...rows]));
  const shown = 20;
  const open = report.openWorkflowsOnInactiveKeys;
  if (open.length > 0) {
    lines.push('', `open workflows still on a non-active key (${open.length}):`);
    for (const run of open.slice(0, shown)) {
      lines.push(`  ${run.workflowId}  run ${run.runId}  ${run.keyIds.map(showKeyId).join(' ')}`);
    }
    if (open.length > shown) lines.push(`  ... and ${open.length - shown} more (--output json lists them all)`);
  }
  const onInactive = report.schedulesOnInactiveKeys;
  if (onInactive.length > 0) {
    lines.push('', `schedules still on a non-active key (${onInactive.length}):`);
    for (const schedule of onInactive.slice(0, shown)) {
      lines.push(`  ${schedule.scheduleId}  ${schedule.keyIds.map(showKeyId).join(' ')}`);
    }
    if (onInactive.length > shown) lines.push(`  ... and ${onInactive.length - shown} more (--output json lists them all)`);
  }
  return `${lines.join('\n')}\n`;
}

/** What a missing id's payloads need: the configured key that opens them, under this id. */
function decryptedByAdvice(key: KeyScanReport): string {
  const opener = `key ${showKeyId(key.decryptedBy!)}`;
  // No key ring looks a key up for a payload without a key id: the key can only be kept.
  if (key.keyId === '') return `the payloads without a key id decrypt with ${opener}: keep it`;
  return `the payloads under ${showKeyId(key.keyId)} decrypt with ${opener}: configure that key under id ${showKeyId(key.keyId)}`;
}

/** The row's note; `opens`, the missing key ids whose payloads this configured key decrypts. */
function note(key: KeyScanReport, opens: readonly string[] = []): string {
  switch (key.verdict) {
    case 'active':
      return key.configured ? 'new payloads are encrypted with it' : 'active, but no key is configured for it';
    case 'referenced': {
      const needs: string[] = [];
      if (key.openWorkflows + key.closedWorkflows > 0 || key.schedules === 0) {
        needs.push(`${key.openWorkflows} open and ${key.closedWorkflows} closed workflow(s)`);
      }
      if (key.schedules > 0) needs.push(`${key.schedules} schedule(s)`);
      return `keep: ${needs.join(' and ')} need it`;
    }
    case 'unreferenced':
      return 'safe to retire in this namespace';
    case 'unseen':
      if (opens.length > 0) return `keep: the payloads of missing key id(s) ${opens.map(showKeyId).join(', ')} decrypt with it`;
      return 'no payload in what was scanned (not a complete scan)';
    case 'missing': {
      const unreadable = key.configured
        ? 'UNREADABLE: the configured key does not decrypt it'
        : 'UNREADABLE: no key configured';
      return key.decryptedBy === undefined ? unreadable : `${unreadable}; key ${showKeyId(key.decryptedBy)} decrypts it`;
    }
  }
}

/** Which configured key serves the id, when it is not the id's own (an environment-safe alias, or the fallback). */
function servedByNote(key: KeyScanReport): string {
  if (key.servedBy === null || key.servedBy === key.keyId) return '';
  return key.servedBy === FALLBACK_KEY_ID ? ' (served by the fallback key *)' : ` (served by key ${key.servedBy})`;
}

/** Key ids come from payload metadata: quote an unusual one. */
function showKeyId(keyId: string): string {
  return /^[\x21-\x7e]{1,64}$/.test(keyId) ? keyId : describeKeyId(keyId);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const numeric = new Set([2, 3, 4, 5]);
  return rows
    .map((row, index) =>
      row
        .map((cell, column) =>
          numeric.has(column) && index > 0 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function parsePositiveInteger(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1024) {
    throw new InvalidArgumentError('expected an integer from 1 to 1024');
  }
  return Number(text);
}
