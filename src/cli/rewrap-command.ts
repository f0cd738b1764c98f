import { realpathSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../codecs/compression-codec.js';
import { EncryptionCodec } from '../codecs/encryption-codec.js';
import { CodecError, describeKeyId, PayloadJsonError } from '../errors.js';
import { loadKeyRing } from '../keys/load-key-ring.js';
import {
  findStaleTemporaryFiles,
  readSnapshot,
  removeStaleTemporaryFiles,
  replaceFileAtomically,
} from '../rotation/atomic-file.js';
import { RewrapKeyMissingError } from '../rotation/errors.js';
import { type RewrapOptions, rewrapJsonText } from '../rotation/rewrap.js';
import type { PayloadCounts } from '../rotation/walk-payloads.js';
import {
  ACTIVE_KEY_ID_DEFAULT_HELP,
  addCodecFlags,
  type CodecFlags,
  codecOptionsFrom,
  uninspectedReasons,
} from './codec-options-flags.js';
import { CliExit, type CliIo } from './io.js';

const HELP = `
Each FILE is a {"payloads": [...]} file, a history written by \`temporal workflow show --output json\`, JSON Lines
of either, or any JSON that holds payloads in proto3 JSON form. Every binary/encrypted payload whose
encryption-key-id is not the active key id is decrypted with its own key and encrypted with the active key; the
payload inside (compressed or not) is kept as it is, and nothing is ever written in plaintext. A binary/zlib
payload around a binary/encrypted one (what Go workers write when they encrypt first and then compress, as the
Trenova codec does with a threshold of 0) is rewrapped the same way inside, and deflated back into binary/zlib, so
Go workers still read it. Only the rewrapped payloads' text changes; all other bytes of the file stay as they are.

A binary/zlib payload that cannot be opened (it inflates past --max-decompressed-bytes, is not a valid zlib
stream, or holds another binary/zlib layer, which is not opened, as decode opens one) may hold a payload under an
old key: it is left as it is, the file's other payloads are still rewrapped,
and the command names the file, says why, and exits 1. Raise --max-decompressed-bytes to open those that are only
too large.

A binary/zlib payload whose payload inside, rewrapped, would inflate past --max-decompressed-bytes (the active key
id is longer than its old one, and it was that close to the cap) is not rewrapped: written, it could not be decoded
with that cap. It stays under its old key, the file's other payloads are still rewrapped, and the command names the
file and the size needed, and exits 1. Raise --max-decompressed-bytes to that size to rewrap it, once the workers'
and the codec server's caps allow that size too.

A file is replaced atomically (temporary file in the same directory with the same mode, owner and group, fsync,
rename, fsync of the directory), so after a crash it is wholly old or wholly new; a run removes the temporary
files (.<name>.rewrap-<hex>.tmp) that an interrupted run left beside the files it is given. Do not run two rewraps
on the same file at once.

A file with a payload under a key id that has no key is left unchanged, and the command exits 1 naming the file
and the key id; the other files are still processed. Running again changes nothing.

Keys come from TEMPORAL_ENCRYPTION_KEY_<id> / TEMPORAL_ENCRYPTION_KEY and --keys-dir: the active key and every
old key still in use. The active key id is --key-id, else DIR/.active-key-id of --keys-dir (as for serve), else the
configured one. Exit status: 0 ok, 1 a file failed, held a payload that could not be opened, or kept a payload
under its old key because rewrapped it would inflate past the cap, 2 usage.`;

type FileStatus = 'rewrapped' | 'would-rewrap' | 'unchanged' | 'failed';

interface FileReport {
  file: string;
  status: FileStatus;
  format?: 'json' | 'json-lines';
  counts?: PayloadCounts;
  rewrapped: number;
  rewrappedByKeyId: Record<string, number>;
  /** Payloads under an old key left as they are (see `RewrapResult`): the file still needs that key. */
  notRewrapped: number;
  notRewrappedByKeyId: Record<string, number>;
  /** The --max-decompressed-bytes that would rewrap them; 0 when there is none. */
  maxDecompressedBytesNeeded: number;
  /** Temporary files of an interrupted run: removed (or, in a dry run, found). */
  staleTemporaryFiles: string[];
  error?: { code: string; message: string; keyIds?: readonly string[] };
}

interface RewrapFlags extends CodecFlags {
  dryRun?: boolean;
  json?: boolean;
}

/** `rewrap`: re-encrypt payload and history files in place with the active key. */
export function registerRewrap(program: Command, io: CliIo): void {
  addCodecFlags(
    program
      .command('rewrap')
      .description('re-encrypt, in place, every payload of the files that is not under the active key id')
      .argument('<file...>', 'payload or history JSON files to rewrap in place')
      .option('--key-id <id>', `the active key id payloads are re-encrypted with (${ACTIVE_KEY_ID_DEFAULT_HELP})`)
      .option('--dry-run', 'report what would be rewrapped, per file and key id, and write nothing')
      .option('--json', 'print a JSON report instead of a table')
      .addHelpText('after', HELP),
    { encoding: false, decompression: true },
  ).action((files: string[], flags: RewrapFlags) => {
    const options = codecOptionsFrom(flags, io);
    const warnings: string[] = [];
    const keyRing = loadKeyRing({
      env: io.env,
      keysDir: options.keysDir,
      encryptionKeyID: options.encryptionKeyID,
      onWarning: (message) => warnings.push(message),
    });
    for (const warning of warnings) io.stderr(`warning: ${warning}\n`);
    const codec = new EncryptionCodec({ keyRing });
    const dryRun = flags.dryRun === true;
    const { maxDecompressedBytes } = options;
    const rewrapOptions: RewrapOptions = { encryptionCodec: codec, dryRun, maxDecompressedBytes };

    const reports = files.map((file) => rewrapFile(file, rewrapOptions));

    const totals = {
      files: reports.length,
      rewrapped: count(reports, dryRun ? 'would-rewrap' : 'rewrapped'),
      unchanged: count(reports, 'unchanged'),
      failed: count(reports, 'failed'),
      payloadsRewrapped: reports.reduce((sum, report) => sum + report.rewrapped, 0),
      /** Payloads left under an old key: rewrapped, they would inflate past --max-decompressed-bytes. */
      payloadsNotRewrapped: reports.reduce((sum, report) => sum + report.notRewrapped, 0),
      /** binary/zlib payloads that could not be opened, left as they were: they may still be under an old key. */
      payloadsUninspected: reports.reduce((sum, report) => sum + (report.counts?.uninspected ?? 0), 0),
    };
    const filesWithUninspected = reports.filter((report) => (report.counts?.uninspected ?? 0) > 0).length;
    const filesWithNotRewrapped = reports.filter((report) => report.notRewrapped > 0).length;
    const cap = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
    if (flags.json) {
      io.stdout(`${JSON.stringify({ activeKeyId: codec.activeKeyId, dryRun, files: reports, totals }, null, 2)}\n`);
    } else {
      io.stdout(formatTable(reports));
      const verb = dryRun ? 'would rewrap' : 'rewrapped';
      io.stdout(
        `${verb} ${totals.payloadsRewrapped} payload(s) in ${totals.rewrapped} of ${totals.files} file(s) to key id ` +
          `${describeKeyId(codec.activeKeyId)}; ${totals.unchanged} unchanged, ${totals.failed} failed` +
          (totals.payloadsNotRewrapped > 0 ? `; ${totals.payloadsNotRewrapped} payload(s) NOT REWRAPPED` : '') +
          (totals.payloadsUninspected > 0 ? `; ${totals.payloadsUninspected} payload(s) NOT OPENED` : '') +
          `${dryRun ? ' (dry run: nothing written)' : ''}\n`,
      );
    }
    for (const report of reports) {
      const stale = report.staleTemporaryFiles.length;
      const action = dryRun ? 'found' : 'removed';
      if (stale > 0) io.stderr(`rewrap: ${report.file}: ${action} ${stale} temporary file(s) of an interrupted run\n`);
      if (report.error) {
        const { message, code } = report.error;
        io.stderr(`rewrap: ${report.file}: ${message} (${code}); the file was left unchanged\n`);
      }
      if (report.notRewrapped > 0) {
        io.stderr(
          `rewrap: ${report.file}: ${report.notRewrapped} payload(s) are left under their old key id ` +
            `(${formatKeyIds(report.notRewrappedByKeyId)}), so the file still needs that key ` +
            `(${notRewrappedReason(report, cap, codec.activeKeyId)})\n`,
        );
      }
      if (report.counts && report.counts.uninspected > 0) {
        io.stderr(
          `rewrap: ${report.file}: ${report.counts.uninspected} binary/zlib payload(s) could not be opened and are ` +
            `left as they are, so the file may still need an old key (${uninspectedReasons(report.counts, options)})\n`,
        );
      }
    }
    // Like a file that holds a key id with no key: the rotation of these files is not done, and exit 0 would say it is.
    const problems: string[] = [];
    if (totals.failed > 0) problems.push(`rewrap failed for ${totals.failed} of ${totals.files} file(s)`);
    if (totals.payloadsNotRewrapped > 0) {
      problems.push(
        `${totals.payloadsNotRewrapped} payload(s) in ${filesWithNotRewrapped} of ${totals.files} file(s) are left ` +
          'under an old key: rewrapped, they would inflate past --max-decompressed-bytes',
      );
    }
    if (totals.payloadsUninspected > 0) {
      problems.push(
        `${totals.payloadsUninspected} binary/zlib payload(s) in ${filesWithUninspected} of ${totals.files} file(s) ` +
          'could not be opened and may still be under an old key',
      );
    }
    if (problems.length > 0) throw new CliExit(1, problems.join('; '));
  });
}

function rewrapFile(file: string, options: RewrapOptions): FileReport {
  const dryRun = options.dryRun === true;
  const report: FileReport = {
    file,
    status: 'failed',
    rewrapped: 0,
    rewrappedByKeyId: {},
    notRewrapped: 0,
    notRewrappedByKeyId: {},
    maxDecompressedBytesNeeded: 0,
    staleTemporaryFiles: [],
  };
  try {
    // Through a symbolic link, the file it points to is replaced and the link stays.
    const target = realpathSync(file);
    const { bytes, stat } = readSnapshot(target);
    report.staleTemporaryFiles = dryRun ? findStaleTemporaryFiles(target) : removeStaleTemporaryFiles(target);
    const result = rewrapJsonText(utf8(bytes), options);
    if (!dryRun && result.rewrapped > 0) replaceFileAtomically(target, Buffer.from(result.text, 'utf8'), stat);
    report.format = result.jsonLines ? 'json-lines' : 'json';
    report.counts = { ...result.counts, byKeyId: sortedByKey(result.counts.byKeyId) };
    report.rewrapped = result.rewrapped;
    report.rewrappedByKeyId = sortedByKey(result.rewrappedByKeyId);
    report.notRewrapped = result.notRewrapped;
    report.notRewrappedByKeyId = sortedByKey(result.notRewrappedByKeyId);
    report.maxDecompressedBytesNeeded = result.maxDecompressedBytesNeeded;
    report.status = result.rewrapped === 0 ? 'unchanged' : dryRun ? 'would-rewrap' : 'rewrapped';
  } catch (error) {
    report.error = describeError(error);
  }
  return report;
}

// ignoreBOM keeps a byte order mark in the text (the default drops it), so the file is written back with it;
// parseLocatedJson reads past it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8: anything else would not survive the write back byte for byte (and is not JSON, RFC 8259). */
function utf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new PayloadJsonError('', 'not valid JSON: the file is not UTF-8 text');
  }
}

/**
 * Why payloads were left under their old key, for the file's message: `1 would inflate past --max-decompressed-bytes
 * (5116) rewrapped to key id "2026-11", up to 5124 bytes: raise it to 5124 or more, once ...`. Written past the
 * decoders' cap, they would fail every decode (ERR_DECOMPRESSED_TOO_LARGE), so the workers' and the codec server's caps
 * go up first.
 */
function notRewrappedReason(report: FileReport, cap: number, activeKeyId: string): string {
  const needed = report.maxDecompressedBytesNeeded;
  return (
    `${report.notRewrapped} would inflate past --max-decompressed-bytes (${cap}) rewrapped to key id ` +
    `${describeKeyId(activeKeyId)}, up to ${needed} bytes: raise it to ${needed} or more, once the workers' and the ` +
    "codec server's caps allow that size too"
  );
}

function describeError(error: unknown): NonNullable<FileReport['error']> {
  if (error instanceof RewrapKeyMissingError) {
    return { code: error.code, message: error.problems.join('; '), keyIds: error.keyIds };
  }
  if (error instanceof CodecError) return { code: error.code, message: error.message };
  const code = (error as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string') return { code, message: (error as Error).message };
  return { code: 'ERR_REWRAP', message: (error as Error)?.message ?? String(error) };
}

/** A copy with the key ids in order, so reports compare and diff; no prototype, so any key id is a plain entry. */
function sortedByKey(byKeyId: Record<string, number>): Record<string, number> {
  const sorted = Object.create(null) as Record<string, number>;
  for (const keyId of Object.keys(byKeyId).sort()) sorted[keyId] = byKeyId[keyId]!;
  return sorted;
}

function count(reports: readonly FileReport[], status: FileStatus): number {
  return reports.filter((report) => report.status === status).length;
}

function formatTable(reports: readonly FileReport[]): string {
  const rows = reports.map((report) => [
    report.file,
    report.counts ? String(report.counts.total) : '-',
    report.counts ? formatKeyIds(report.counts.byKeyId) : '-',
    String(report.rewrapped),
    (report.status === 'failed' ? `failed (${report.error!.code})` : report.status) +
      (report.notRewrapped > 0 ? `, ${report.notRewrapped} NOT REWRAPPED` : '') +
      (report.counts && report.counts.uninspected > 0 ? `, ${report.counts.uninspected} NOT OPENED` : ''),
  ]);
  const all = [['FILE', 'PAYLOADS', 'ENCRYPTED BY KEY ID', 'REWRAP', 'RESULT'], ...rows];
  const widths = all[0]!.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** `new:3 old:12`; key ids come from payload metadata, so any unusual one is shown quoted. */
function formatKeyIds(byKeyId: Record<string, number>): string {
  const ids = Object.keys(byKeyId);
  if (ids.length === 0) return '-';
  return ids.map((id) => `${/^[\x21-\x7e]{1,64}$/.test(id) ? id : describeKeyId(id)}:${byKeyId[id]}`).join(' ');
}
