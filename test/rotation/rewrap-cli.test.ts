import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSnapshot, replaceFileAtomically } from '../../src/rotation/atomic-file.js';
import { memoryIo } from '../helpers/cli.js';
import { expectNoSecret } from '../helpers/errors.js';
import { tempDir } from '../helpers/keys.js';
import { runCli } from './cli-runner.js';
import { countKeyIds } from '../../src/rotation/index.js';
import {
  CLI_ENV,
  compressedPlain,
  decodedByPath,
  encrypted,
  goCompressed,
  HISTORY_SECRETS,
  KEY_SECRETS,
  KEYS,
  keyIdsByPath,
  NONE_UNINSPECTED,
  plain,
  realisticHistory,
} from './fixtures.js';

let dir: string;
let remove: () => void;
beforeEach(() => {
  ({ dir, remove } = tempDir('rewrap'));
});
afterEach(() => remove());

async function rewrap(args: readonly string[], env: Record<string, string> = CLI_ENV) {
  const { io, stdout, stderr } = memoryIo(env);
  const code = await runCli(['rewrap', ...args], io);
  const result = { code, stdout: stdout(), stderr: stderr() };
  expectNoSecret(result.stdout + result.stderr, [...KEY_SECRETS, ...HISTORY_SECRETS]);
  return result;
}

/** Writes a file and sets its modification time in the past, so that any rewrite shows. */
function file(name: string, content: unknown, mode = 0o644): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
  chmodSync(path, mode);
  utimesSync(path, new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
  return path;
}

/** The `notRewrapped` fields of a file report that left no payload under its old key. */
const NONE_LEFT = { notRewrapped: 0, notRewrappedByKeyId: {}, maxDecompressedBytesNeeded: 0 };
const bytes = (path: string) => readFileSync(path);
const json = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
const keyIds = (path: string) => [...new Set(Object.values(keyIdsByPath(json(path))).filter(Boolean))].sort();
const row = (path: string, ...cells: string[]) => new RegExp(`^${escape(path)}\\s+${cells.map(escape).join('\\s+')}$`, 'm');
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('temporal-codec rewrap', () => {
  it('prints help and exits 0; exits 2 without a file', async () => {
    const help = await rewrap(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: temporal-codec rewrap [options] <file...>');
    expect(help.stdout).toContain('--dry-run');
    expect(help.stdout).toContain('nothing is ever written in plaintext');
    const usage = await rewrap([]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument 'file'");
  });

  it('rewraps history and payload files in place; they decode to the same values, all under the active key', async () => {
    const history = file('history.json', realisticHistory());
    const payloads = file('payloads.json', { payloads: [encrypted('old', { a: 1 }), plain('p'), encrypted('new', 2)] });
    const current = file('current.json', { payloads: [encrypted('new', 3)] });
    const before = { history: decodedByPath(json(history)), payloads: decodedByPath(json(payloads)) };
    const currentBytes = bytes(current);

    const result = await rewrap([history, payloads, current]);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^FILE\s+PAYLOADS\s+ENCRYPTED BY KEY ID\s+REWRAP\s+RESULT$/m);
    expect(result.stdout).toMatch(row(history, '36', 'new:2 old:28', '28', 'rewrapped'));
    expect(result.stdout).toMatch(row(payloads, '3', 'new:1 old:1', '1', 'rewrapped'));
    expect(result.stdout).toMatch(row(current, '1', 'new:1', '0', 'unchanged'));
    expect(result.stdout).toContain('rewrapped 29 payload(s) in 2 of 3 file(s) to key id "new"; 1 unchanged, 0 failed\n');
    expect(decodedByPath(json(history))).toEqual(before.history);
    expect(decodedByPath(json(payloads))).toEqual(before.payloads);
    expect(keyIds(history)).toEqual(['new']);
    expect(keyIds(payloads)).toEqual(['new']);
    // A file with nothing to rewrap is not written at all.
    expect(bytes(current)).toEqual(currentBytes);
    expect(statSync(current).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(readdirSync(dir).sort()).toEqual(['current.json', 'history.json', 'payloads.json']);
  });

  it('with --dry-run, reports per file and key id what would change and writes nothing', async () => {
    const history = file('history.json', realisticHistory());
    const before = bytes(history);
    const result = await rewrap([history, '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(row(history, '36', 'new:2 old:28', '28', 'would-rewrap'));
    expect(result.stdout).toContain(
      'would rewrap 28 payload(s) in 1 of 1 file(s) to key id "new"; 0 unchanged, 0 failed (dry run: nothing written)\n',
    );
    expect(bytes(history)).toEqual(before);
    expect(statSync(history).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(readdirSync(dir)).toEqual(['history.json']);
  });

  it('prints a machine-readable report with --json', async () => {
    const history = file('history.json', realisticHistory());
    const missing = file('missing.json', { payloads: [encrypted('gone', 1)] });
    const result = await rewrap([history, missing, '--json', '--dry-run']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      activeKeyId: 'new',
      dryRun: true,
      files: [
        {
          file: history,
          status: 'would-rewrap',
          format: 'json',
          counts: { total: 36, encrypted: 30, byKeyId: { new: 2, old: 28 }, compressed: 0, ...NONE_UNINSPECTED, plain: 5, other: 1 },
          rewrapped: 28,
          rewrappedByKeyId: { old: 28 },
          ...NONE_LEFT,
          staleTemporaryFiles: [],
        },
        {
          file: missing,
          status: 'failed',
          rewrapped: 0,
          rewrappedByKeyId: {},
          ...NONE_LEFT,
          staleTemporaryFiles: [],
          error: {
            code: 'ERR_KEY_CONFIG',
            message: 'no key for encryption-key-id "gone", which 1 payload(s) to rewrap need (the first at payloads[0])',
            keyIds: ['gone'],
          },
        },
      ],
      totals: { files: 2, rewrapped: 1, unchanged: 0, failed: 1, payloadsRewrapped: 28, payloadsNotRewrapped: 0, payloadsUninspected: 0 },
    });
  });

  it('changes nothing on a second run: the files stay byte for byte the same', async () => {
    const history = file('history.json', realisticHistory());
    const lines = file('lines.jsonl', `${JSON.stringify({ payloads: [encrypted('old', 1)] })}\n${JSON.stringify(realisticHistory())}\n`);
    expect((await rewrap([history, lines])).code).toBe(0);
    const once = { history: bytes(history), lines: bytes(lines) };
    utimesSync(history, new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
    const again = await rewrap([history, lines]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('rewrapped 0 payload(s) in 0 of 2 file(s) to key id "new"; 2 unchanged, 0 failed\n');
    expect(bytes(history)).toEqual(once.history);
    expect(bytes(lines)).toEqual(once.lines);
    expect(statSync(history).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
  });

  it('leaves a file with a payload under a missing key untouched, processes the others, and exits 1 naming file and key id', async () => {
    const first = file('a.json', { payloads: [encrypted('old', 1)] });
    const broken = file('b.json', { payloads: [encrypted('old', 2), encrypted('gone', 3)] });
    const last = file('c.json', { payloads: [encrypted('old', 4)] });
    const brokenBytes = bytes(broken);
    const result = await rewrap([first, broken, last]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `rewrap: ${broken}: no key for encryption-key-id "gone", which 1 payload(s) to rewrap need (the first at ` +
        'payloads[1]) (ERR_KEY_CONFIG); the file was left unchanged\n' +
        'temporal-codec: rewrap failed for 1 of 3 file(s)\n',
    );
    expect(result.stdout).toMatch(row(broken, '-', '-', '0', 'failed (ERR_KEY_CONFIG)'));
    expect(bytes(broken)).toEqual(brokenBytes);
    expect(statSync(broken).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(keyIds(first)).toEqual(['new']);
    expect(keyIds(last)).toEqual(['new']);
  });

  it("rewraps Go workers' binary/zlib payloads around binary/encrypted inside the wrapper; a second run changes nothing", async () => {
    const go = file('go.json', {
      payloads: [goCompressed('old', { from: 'go' }), goCompressed('new', 2), compressedPlain('z'.repeat(500))],
    });
    const gone = file('gone.json', { payloads: [goCompressed('old', 3), goCompressed('gone', 4)] });
    const before = decodedByPath(json(go));
    const goneBytes = bytes(gone);

    const dry = await rewrap([go, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(row(go, '3', 'new:1 old:1', '1', 'would-rewrap'));
    expect(statSync(go).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');

    const result = await rewrap([go, gone]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(row(go, '3', 'new:1 old:1', '1', 'rewrapped'));
    expect(result.stderr).toContain(
      `rewrap: ${gone}: no key for encryption-key-id "gone", which 1 payload(s) to rewrap need (the first at ` +
        'payloads[1]) (ERR_KEY_CONFIG); the file was left unchanged\n',
    );
    expect(bytes(gone)).toEqual(goneBytes);
    const after = json(go) as { payloads: Array<{ metadata: Record<string, string> }> };
    expect(after.payloads.map((payload) => Buffer.from(payload.metadata.encoding!, 'base64').toString())).toEqual([
      'binary/zlib',
      'binary/zlib',
      'binary/zlib',
    ]);
    expect(countKeyIds(after)).toEqual({ total: 3, encrypted: 2, byKeyId: { new: 2 }, compressed: 1, ...NONE_UNINSPECTED, plain: 0, other: 0 });
    expect(decodedByPath(after)).toEqual(before);

    const once = bytes(go);
    const again = await rewrap([go]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(row(go, '3', 'new:2', '0', 'unchanged'));
    expect(bytes(go)).toEqual(once);
  });

  // Bug: rewrap inflated binary/zlib payloads with the default 64 MiB cap whatever was asked; decode took the flag.
  it('looks inside a binary/zlib payload up to --max-decompressed-bytes', async () => {
    // Go's zlib(encrypted(x)): the payload inside inflates to a little over 5000 bytes.
    const go = file('go.json', { payloads: [goCompressed('old', 'z'.repeat(5000))] });
    const opened = await rewrap([go, '--max-decompressed-bytes', '100000']);
    expect(opened.code).toBe(0);
    expect(opened.stdout).toMatch(row(go, '1', 'old:1', '1', 'rewrapped'));
    expect(countKeyIds(json(go))).toEqual({ total: 1, encrypted: 1, byKeyId: { new: 1 }, compressed: 0, ...NONE_UNINSPECTED, plain: 0, other: 0 });
  });

  // Bug: a payload past the cap was left under the old key, reported as compressed, and the run exited 0, as if the
  // file no longer needed the old key.
  it('says which files hold binary/zlib payloads it could not open, and why, rewraps the rest, and exits 1', async () => {
    const big = goCompressed('old', 'z'.repeat(5000));
    const mixed = file('mixed.json', { payloads: [big, encrypted('old', 1)] });
    const clean = file('clean.json', { payloads: [encrypted('old', 2)] });
    // The text of the first payload, which is to stay byte for byte as it was.
    const firstPayload = (path: string) => {
      const text = readFileSync(path, 'utf8');
      return text.slice(0, text.indexOf('\n    },\n'));
    };
    const before = firstPayload(mixed);

    const dry = await rewrap([mixed, clean, '--max-decompressed-bytes', '1000', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(row(mixed, '2', 'old:1', '1', 'would-rewrap, 1 NOT OPENED'));
    expect(dry.stdout).toContain('0 unchanged, 0 failed; 1 payload(s) NOT OPENED (dry run: nothing written)\n');
    expect(statSync(mixed).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');

    const result = await rewrap([mixed, clean, '--max-decompressed-bytes', '1000']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(row(mixed, '2', 'old:1', '1', 'rewrapped, 1 NOT OPENED'));
    expect(result.stdout).toMatch(row(clean, '1', 'old:1', '1', 'rewrapped'));
    expect(result.stdout).toContain(
      'rewrapped 2 payload(s) in 2 of 2 file(s) to key id "new"; 0 unchanged, 0 failed; 1 payload(s) NOT OPENED\n',
    );
    expect(result.stderr).toBe(
      `rewrap: ${mixed}: 1 binary/zlib payload(s) could not be opened and are left as they are, so the file may still ` +
        'need an old key (1 inflate(s) past --max-decompressed-bytes (1000): raise it to open them)\n' +
        'temporal-codec: 1 binary/zlib payload(s) in 1 of 2 file(s) could not be opened and may still be under an old key\n',
    );
    // The payload it could not open is byte for byte as it was; the other one is under the new key.
    expect(firstPayload(mixed)).toBe(before);
    expect((json(mixed) as { payloads: unknown[] }).payloads[0]).toEqual(big);
    expect(countKeyIds(json(mixed), { maxDecompressedBytes: 1000 })).toMatchObject({
      encrypted: 1,
      byKeyId: { new: 1 },
      uninspected: 1,
      uninspectedByReason: { tooLarge: 1, notZlib: 0 },
    });

    const report = JSON.parse((await rewrap([mixed, '--max-decompressed-bytes', '1000', '--json'])).stdout) as {
      files: Array<{ status: string; counts: unknown; rewrapped: number }>;
      totals: unknown;
    };
    expect(report.files[0]).toMatchObject({
      status: 'unchanged',
      counts: { total: 2, encrypted: 1, byKeyId: { new: 1 }, compressed: 0, uninspected: 1, uninspectedByReason: { tooLarge: 1, notZlib: 0 } },
      rewrapped: 0,
    });
    expect(report.totals).toEqual({
      files: 1,
      rewrapped: 0,
      unchanged: 1,
      failed: 0,
      payloadsRewrapped: 0,
      payloadsNotRewrapped: 0,
      payloadsUninspected: 1,
    });

    // With the cap raised it is opened and rewrapped, and the run is clean.
    const raised = await rewrap([mixed]);
    expect(raised.stderr).toBe('');
    expect(raised.code).toBe(0);
    expect(raised.stdout).toMatch(row(mixed, '2', 'new:1 old:1', '1', 'rewrapped'));
    expect(countKeyIds(json(mixed))).toEqual({ total: 2, encrypted: 2, byKeyId: { new: 2 }, compressed: 0, ...NONE_UNINSPECTED, plain: 0, other: 0 });
  });

  // Bug: a Go payload that inflated to just under the cap grew past it when rewrapped to a longer key id, and the file
  // failed with "internal error: the rewrapped document does not check out", a foreseeable case called a bug.
  it('leaves a Go payload that would inflate past --max-decompressed-bytes once rewrapped under its old key, says which cap to raise, and exits 1', async () => {
    const near = goCompressed('old', 'z'.repeat(5000));
    // What the payload inside inflates to under "old"; under "new-2026-11", 8 bytes more.
    const inflated = inflateSync(Buffer.from(near.data!, 'base64')).length;
    const grown = inflated + 8;
    const mixed = file('mixed.json', { payloads: [near, encrypted('old', 1)] });
    const env = { ...CLI_ENV, 'TEMPORAL_ENCRYPTION_KEY_new-2026-11': `base64:${KEYS.gone.toString('base64')}` };
    const args = [mixed, '--key-id', 'new-2026-11', '--max-decompressed-bytes', String(inflated)];
    const advice =
      `rewrap: ${mixed}: 1 payload(s) are left under their old key id (old:1), so the file still needs that key ` +
      `(1 would inflate past --max-decompressed-bytes (${inflated}) rewrapped to key id "new-2026-11", up to ${grown} ` +
      `bytes: raise it to ${grown} or more, once the workers' and the codec server's caps allow that size too)\n`;

    const dry = await rewrap([...args, '--dry-run'], env);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(row(mixed, '2', 'old:2', '1', 'would-rewrap, 1 NOT REWRAPPED'));
    expect(dry.stderr).toBe(
      advice +
        'temporal-codec: 1 payload(s) in 1 of 1 file(s) are left under an old key: rewrapped, they would inflate past ' +
        '--max-decompressed-bytes\n',
    );
    expect(statSync(mixed).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');

    const result = await rewrap([...args, '--json'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(dry.stderr);
    const report = JSON.parse(result.stdout) as { files: unknown[]; totals: unknown };
    expect(report.files[0]).toMatchObject({
      status: 'rewrapped',
      counts: { total: 2, encrypted: 2, byKeyId: { old: 2 }, ...NONE_UNINSPECTED },
      rewrapped: 1,
      rewrappedByKeyId: { old: 1 },
      notRewrapped: 1,
      notRewrappedByKeyId: { old: 1 },
      maxDecompressedBytesNeeded: grown,
    });
    expect(report.totals).toEqual({
      files: 1,
      rewrapped: 1,
      unchanged: 0,
      failed: 0,
      payloadsRewrapped: 1,
      payloadsNotRewrapped: 1,
      payloadsUninspected: 0,
    });
    // The payload left is byte for byte as it was; the other one is under the new key.
    expect((json(mixed) as { payloads: unknown[] }).payloads[0]).toEqual(near);
    expect(countKeyIds(json(mixed), { maxDecompressedBytes: inflated }).byKeyId).toEqual({ old: 1, 'new-2026-11': 1 });

    // In the table, with the summary; then, with the cap it asked for, it is rewrapped and the run is clean.
    const again = await rewrap(args, env);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(row(mixed, '2', 'new-2026-11:1 old:1', '0', 'unchanged, 1 NOT REWRAPPED'));
    expect(again.stdout).toContain('rewrapped 0 payload(s) in 0 of 1 file(s) to key id "new-2026-11"; 1 unchanged, 0 failed; 1 payload(s) NOT REWRAPPED\n');
    const raised = await rewrap([mixed, '--key-id', 'new-2026-11', '--max-decompressed-bytes', String(grown)], env);
    expect(raised.stderr).toBe('');
    expect(raised.code).toBe(0);
    expect(raised.stdout).toMatch(row(mixed, '2', 'new-2026-11:1 old:1', '1', 'rewrapped'));
    expect(countKeyIds(json(mixed), { maxDecompressedBytes: grown }).byKeyId).toEqual({ 'new-2026-11': 2 });
  });

  it('reports a binary/zlib payload that is not a valid zlib stream as not opened, whatever the cap', async () => {
    const go = goCompressed('old', 1);
    const truncated = { ...go, data: Buffer.from(go.data!, 'base64').subarray(0, 20).toString('base64') };
    const damaged = file('damaged.json', { payloads: [truncated] });
    const before = bytes(damaged);
    const result = await rewrap([damaged]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(row(damaged, '1', '-', '0', 'unchanged, 1 NOT OPENED'));
    expect(result.stderr).toContain(`rewrap: ${damaged}: 1 binary/zlib payload(s) could not be opened and are left as they are, so the file may still need an old key (1 not a valid zlib stream)\n`);
    expect(bytes(damaged)).toEqual(before);
  });

  it('keeps each file\'s permissions, whatever the umask', async () => {
    const restricted = file('restricted.json', { payloads: [encrypted('old', 1)] }, 0o640);
    const open = file('open.json', { payloads: [encrypted('old', 2)] }, 0o666);
    const owner = statSync(restricted);
    expect((await rewrap([restricted, open])).code).toBe(0);
    expect(statSync(restricted).mode & 0o7777).toBe(0o640);
    expect(statSync(open).mode & 0o7777).toBe(0o666);
    expect(statSync(restricted).ino).not.toBe(owner.ino);
    expect([statSync(restricted).uid, statSync(restricted).gid]).toEqual([owner.uid, owner.gid]);
    expect(keyIds(restricted)).toEqual(['new']);
  });

  it('rewraps the file a symbolic link points to and keeps the link', async () => {
    mkdirSync(join(dir, 'store'));
    const target = file('store/history.json', realisticHistory());
    const link = join(dir, 'link.json');
    symlinkSync(target, link);
    expect((await rewrap([link])).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(keyIds(target)).toEqual(['new']);
    expect(readdirSync(join(dir, 'store'))).toEqual(['history.json']);
  });

  it('removes the temporary files an interrupted run left beside the files it is given, and only those', async () => {
    const a = file('a.json', { payloads: [encrypted('old', 1)] });
    file('.a.json.rewrap-0123456789ab.tmp', '{"payloads": [');
    file('.a.json.rewrap-notes.tmp', 'not ours');
    file('.b.json.rewrap-0123456789ab.tmp', 'another file\'s');
    const dry = await rewrap([a, '--dry-run']);
    expect(dry.stderr).toBe(`rewrap: ${a}: found 1 temporary file(s) of an interrupted run\n`);
    expect(readdirSync(dir)).toContain('.a.json.rewrap-0123456789ab.tmp');
    const run = await rewrap([a]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`rewrap: ${a}: removed 1 temporary file(s) of an interrupted run\n`);
    expect(readdirSync(dir).sort()).toEqual(['.a.json.rewrap-notes.tmp', '.b.json.rewrap-0123456789ab.tmp', 'a.json']);
  });

  it('reports files it cannot read or parse, and still processes the rest', async () => {
    const good = file('good.json', { payloads: [encrypted('old', 1)] });
    const notJson = file('bad.json', '{"payloads": [ oops ]}');
    const latin1 = join(dir, 'latin1.json');
    writeFileSync(latin1, Buffer.from('{"caf\xe9": 1}', 'latin1'));
    const absent = join(dir, 'absent.json');
    const fifo = join(dir, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    const result = await rewrap([notJson, latin1, absent, dir, fifo, good]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `rewrap: ${notJson}: not valid JSON: unexpected character at line 1, column 16 (ERR_INVALID_PAYLOAD_JSON)`,
    );
    expect(result.stderr).toContain(`rewrap: ${latin1}: not valid JSON: the file is not UTF-8 text (ERR_INVALID_PAYLOAD_JSON)`);
    expect(result.stderr).toContain(`rewrap: ${absent}: ENOENT: no such file or directory`);
    expect(result.stderr).toContain(`rewrap: ${dir}: ${dir} is not a regular file (ERR_REWRAP)`);
    expect(result.stderr).toContain(`rewrap: ${fifo}: ${fifo} is not a regular file (ERR_REWRAP)`);
    expect(result.stderr).toContain('temporal-codec: rewrap failed for 5 of 6 file(s)\n');
    expect(keyIds(good)).toEqual(['new']);
  });

  it('fails before touching any file when the active key is missing, naming the variable', async () => {
    const history = file('history.json', realisticHistory());
    const before = bytes(history);
    const { TEMPORAL_ENCRYPTION_KEY_new: _, ...withoutNew } = CLI_ENV;
    const result = await rewrap([history], withoutNew);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no key for the active key id "new": set TEMPORAL_ENCRYPTION_KEY_new');
    expect(result.stderr).toContain('(ERR_KEY_CONFIG)');
    expect(bytes(history)).toEqual(before);
  });

  it('takes the active key id from --key-id over the environment', async () => {
    const payloads = file('payloads.json', { payloads: [encrypted('new', 1)] });
    expect((await rewrap([payloads, '--key-id', 'old'])).code).toBe(0);
    expect(keyIds(payloads)).toEqual(['old']);
  });

  // Bug: rewrap ignored DIR/.active-key-id, so with keys from a mounted Secret it re-encrypted to "default" (or
  // failed) instead of to the key `serve` encrypts with.
  it('takes the active key id from DIR/.active-key-id of --keys-dir as serve does, and --key-id over it', async () => {
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    writeFileSync(join(keys, 'old'), `base64:${KEYS.old.toString('base64')}\n`);
    writeFileSync(join(keys, 'new'), `base64:${KEYS.new.toString('base64')}\n`);
    writeFileSync(join(keys, '.active-key-id'), 'new\n');
    const payloads = file('payloads.json', { payloads: [encrypted('old', 1)] });
    const result = await rewrap([payloads, '--keys-dir', keys], {});
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('to key id "new"');
    expect(keyIds(payloads)).toEqual(['new']);
    expect((await rewrap([payloads, '--keys-dir', keys, '--key-id', 'old'], {})).code).toBe(0);
    expect(keyIds(payloads)).toEqual(['old']);
  });

  // Bug: the file was decoded with TextDecoder's default, which drops a byte order mark, so the rewritten file lost it
  // although every byte but the rewrapped payloads' is to stay as it was.
  it('keeps a UTF-8 byte order mark and CRLF line endings', async () => {
    const text = JSON.stringify({ payloads: [encrypted('old', { a: 1 }), plain('kept')] }, null, 2).replaceAll('\n', '\r\n');
    const path = file('bom.json', `\ufeff${text}\r\n`);
    const before = readFileSync(path, 'utf8');
    const result = await rewrap([path]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(row(path, '2', 'old:1', '1', 'rewrapped'));
    const after = bytes(path);
    expect([...after.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const afterText = after.toString('utf8');
    expect(afterText.replaceAll('\r\n', '')).not.toContain('\n');
    expect(afterText.split('\r\n')).toHaveLength(before.split('\r\n').length);
    const document = JSON.parse(afterText.slice(1)) as unknown;
    expect(decodedByPath(document)).toEqual(decodedByPath(JSON.parse(before.slice(1))));
    expect([...new Set(Object.values(keyIdsByPath(document)).filter(Boolean))]).toEqual(['new']);
    // Everything after the rewrapped payload (the plain one, the closing brackets) is byte for byte the same.
    const tail = before.slice(before.lastIndexOf('\r\n    {\r\n'));
    expect(tail).toContain(plain('kept').data);
    expect(afterText.endsWith(tail)).toBe(true);
  });
});

describe('replaceFileAtomically', () => {
  it('refuses to replace a file that changed after it was read, and leaves no temporary file', () => {
    const path = file('a.json', '{"v": 1}');
    const { stat } = readSnapshot(path);
    writeFileSync(path, '{"v": 2, "changed": true}');
    expect(() => replaceFileAtomically(path, Buffer.from('{"v": 3}'), stat)).toThrow(`${path} changed while it was being rewrapped`);
    expect(readFileSync(path, 'utf8')).toBe('{"v": 2, "changed": true}');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });
});
