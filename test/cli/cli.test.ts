import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';

const KEY = randomBytes(32);
const KEY_B64 = KEY.toString('base64');

function harness(env: Record<string, string> = {}, stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env,
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    readInput: async (file) => (file === '-' ? stdin : (await import('node:fs')).readFileSync(file, 'utf8')),
  };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

const plain = (text: string) => ({
  metadata: { encoding: Buffer.from('json/plain').toString('base64') },
  data: Buffer.from(text).toString('base64'),
});
const doc = (...payloads: unknown[]) => JSON.stringify({ payloads });
const encodingOf = (payload: { metadata: Record<string, string> }) =>
  Buffer.from(payload.metadata.encoding!, 'base64').toString();

describe('temporal-codec CLI', () => {
  it.each(['encode', 'decode', 'keygen', 'keys', 'serve', 'rewrap', 'scan'])('prints help for %s and exits 0', async (command) => {
    const h = harness();
    expect(await main([command, '--help'], h.io)).toBe(0);
    expect(h.stdout()).toContain(`Usage: temporal-codec ${command}`);
  });

  it('exits 2 with a one-line message for an unknown option', async () => {
    const h = harness();
    expect(await main(['encode', '--bogus'], h.io)).toBe(2);
    expect(h.stderr().trim().split('\n')).toHaveLength(1);
    expect(h.stderr()).toContain("unknown option '--bogus'");
  });

  it('exits 2 for an unknown command', async () => {
    const h = harness();
    expect(await main(['frobnicate'], h.io)).toBe(2);
  });

  it('encodes with the active key and decodes back to the same document', async () => {
    const env = { TEMPORAL_ENCRYPTION_KEY_production: `base64:${KEY_B64}` };
    const input = doc(plain('{"total":42}'), plain('"x"'.padEnd(3000, 'x')));
    const enc = harness(env, input);
    expect(await main(['encode', '-', '--key-id', 'production'], enc.io)).toBe(0);
    const encoded = JSON.parse(enc.stdout());
    expect(encoded.payloads).toHaveLength(2);
    for (const payload of encoded.payloads) {
      expect(encodingOf(payload)).toBe('binary/encrypted');
      expect(Buffer.from(payload.metadata['encryption-key-id'], 'base64').toString()).toBe('production');
    }
    const dec = harness(env, enc.stdout());
    expect(await main(['decode'], dec.io)).toBe(0);
    expect(JSON.parse(dec.stdout())).toEqual(JSON.parse(input));
  });

  it('compresses a large payload only when compression is on', async () => {
    const env = { TEMPORAL_ENCRYPTION_KEY: `base64:${KEY_B64}`, TEMPORAL_CODEC_ENABLE_ENCRYPTION: 'false' };
    const input = doc(plain(`"${'a'.repeat(4000)}"`));
    const on = harness(env, input);
    expect(await main(['encode'], on.io)).toBe(0);
    expect(encodingOf(JSON.parse(on.stdout()).payloads[0])).toBe('binary/zlib');
    const off = harness(env, input);
    expect(await main(['encode', '--no-compression'], off.io)).toBe(0);
    expect(JSON.parse(off.stdout())).toEqual(JSON.parse(input));
    const threshold = harness(env, input);
    expect(await main(['encode', '--compression-threshold', '100000'], threshold.io)).toBe(0);
    expect(JSON.parse(threshold.stdout())).toEqual(JSON.parse(input));
  });

  it('reads the input from a file argument', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tpc-cli-'));
    const file = join(dir, 'payloads.json');
    writeFileSync(file, doc(plain('1')));
    const h = harness({ TEMPORAL_ENCRYPTION_KEY_default: `hex:${KEY.toString('hex')}` });
    expect(await main(['encode', file], h.io)).toBe(0);
    expect(encodingOf(JSON.parse(h.stdout()).payloads[0])).toBe('binary/encrypted');
  });

  it('fails with exit 1 and a message naming the variable when the active key is missing', async () => {
    const h = harness({}, doc(plain('1')));
    expect(await main(['encode', '--key-id', 'production'], h.io)).toBe(1);
    expect(h.stderr()).toContain('TEMPORAL_ENCRYPTION_KEY_production');
    expect(h.stderr()).toContain('ERR_KEY_CONFIG');
    expect(h.stdout()).toBe('');
  });

  it('fails decode with a message naming the key id when the payload key is unknown', async () => {
    const enc = harness({ TEMPORAL_ENCRYPTION_KEY_old: `base64:${KEY_B64}` }, doc(plain('1')));
    expect(await main(['encode', '--key-id', 'old'], enc.io)).toBe(0);
    const dec = harness({ TEMPORAL_ENCRYPTION_KEY_new: `base64:${randomBytes(32).toString('base64')}` }, enc.stdout());
    expect(await main(['decode'], dec.io)).toBe(1);
    expect(dec.stderr()).toContain('decryption operation failed for encryption-key-id "old"');
    expect(dec.stderr()).toContain('ERR_DECRYPTION_FAILED');
  });

  it('rejects a malformed document with exit 1 and the field path', async () => {
    const h = harness({ TEMPORAL_ENCRYPTION_KEY: `base64:${KEY_B64}` }, '{"payloads":[{"data":"not base64!"}]}');
    expect(await main(['decode'], h.io)).toBe(1);
    expect(h.stderr()).toContain('payloads[0].data: not valid base64');
    expect(h.stderr()).not.toContain('not base64!');
  });

  it('keygen prints a base64 key assignment that keys --check accepts', async () => {
    const gen = harness();
    expect(await main(['keygen', '--id', 'staging'], gen.io)).toBe(0);
    const line = gen.stdout().trim();
    expect(line).toMatch(/^TEMPORAL_ENCRYPTION_KEY_staging=base64:[A-Za-z0-9+/]{43}=$/);
    const [name, value] = line.split(/=(.*)/s);
    const check = harness({ [name!]: value!, TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'staging' });
    expect(await main(['keys', '--check'], check.io)).toBe(0);
    expect(check.stderr()).toContain('keys: ok');
  });

  it('keygen names a key id with dashes in its environment-safe form', async () => {
    const gen = harness();
    expect(await main(['keygen', '--id', 'prod-eu'], gen.io)).toBe(0);
    expect(gen.stdout()).toMatch(/^TEMPORAL_ENCRYPTION_KEY_PROD_EU=base64:/);
  });

  it('keys lists ids, sources and fingerprints but never key material', async () => {
    const text = 'a-bare-text-key-of-more-than-32-characters';
    const h = harness({ TEMPORAL_ENCRYPTION_KEY_default: `base64:${KEY_B64}`, TEMPORAL_ENCRYPTION_KEY_legacy: text });
    expect(await main(['keys', '--json'], h.io)).toBe(0);
    const report = JSON.parse(h.stdout());
    expect(report.keys.map((k: { keyId: string }) => k.keyId)).toEqual(['default', 'legacy']);
    expect(report.keys[0].active).toBe(true);
    expect(report.keys[0].fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const all = h.stdout() + h.stderr();
    expect(all).not.toContain(KEY_B64);
    expect(all).not.toContain(KEY.toString('hex').slice(0, 16));
    expect(all).not.toContain(text.slice(0, 12));
  });

  it('keys --check fails on a warning (a text key longer than 32 bytes)', async () => {
    const h = harness({ TEMPORAL_ENCRYPTION_KEY_default: 'x'.repeat(40) });
    expect(await main(['keys', '--check'], h.io)).toBe(1);
    expect(h.stderr()).toContain('TEMPORAL_ENCRYPTION_KEY_default is 40 bytes of text');
  });

  it('keys --check fails when the active key is missing, keys alone reports it', async () => {
    const env = { TEMPORAL_ENCRYPTION_KEY_other: `base64:${KEY_B64}` };
    const check = harness(env);
    expect(await main(['keys', '--check'], check.io)).toBe(1);
    expect(check.stderr()).toContain('no key for the active key id "default"');
    const list = harness(env);
    expect(await main(['keys'], list.io)).toBe(0);
    expect(list.stdout()).toContain('NO KEY');
  });

  it('keys reports every bad variable at once with exit 1', async () => {
    const h = harness({ TEMPORAL_ENCRYPTION_KEY_a: 'short', TEMPORAL_ENCRYPTION_KEY_b: 'base64:!!!' });
    expect(await main(['keys'], h.io)).toBe(1);
    expect(h.stderr()).toContain('TEMPORAL_ENCRYPTION_KEY_a is 5 bytes long');
    expect(h.stderr()).toContain('TEMPORAL_ENCRYPTION_KEY_b is not valid base64');
    expect(h.stderr()).not.toContain('short');
  });
});
