import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EncryptionCodec, KeyConfigError, KeyRing } from '../../src/index.js';
import { loadServeConfig } from '../../src/server/config.js';
import { KeyReloader, loadServerKeyRing, type KeySource } from '../../src/server/key-reload.js';
import { createLogger } from '../../src/server/logging.js';
import { createKeys } from '../../src/server/main.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { buildCodecSet, type NamespaceKeyMap, namespaceKeyProblems } from '../../src/server/namespaces.js';
import { keyFile, writeSecretDir } from './key-reload-helpers.js';
import { jsonPayload, payloadJson, startServer, type TestServer } from './helpers.js';

const servers: TestServer[] = [];
const reloaders: KeyReloader[] = [];
afterEach(async () => {
  for (const reloader of reloaders.splice(0)) reloader.close();
  for (const server of servers.splice(0)) await server.close();
});

interface Setup {
  dir: string;
  server: TestServer;
  reloader: KeyReloader;
  logs: () => Record<string, any>[];
}

/** A server whose keys come from a Secret-like directory, reloaded as `temporal-codec serve` does. */
async function reloadingServer(files: Record<string, string>, options: { map?: NamespaceKeyMap; watch?: boolean } = {}): Promise<Setup> {
  const dir = join(mkdtempSync(join(tmpdir(), 'codec-keys-')), 'keys');
  writeSecretDir(dir, files);
  const source: KeySource = { env: {}, keysDir: dir, encryptionKeyID: 'default' };
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
  const build = (ring: KeyRing) => {
    const problems = options.map ? namespaceKeyProblems(options.map, ring) : [];
    if (problems.length > 0) throw new KeyConfigError(problems);
    return buildCodecSet({}, ring, options.map);
  };
  const ring = loadServerKeyRing(source);
  const reloader = new KeyReloader({
    initial: { ...build(ring), keyRing: ring },
    load: (onWarning) => loadServerKeyRing(source, onWarning),
    build,
    logger,
    keysDir: dir,
    debounceMs: 100,
    pollMs: 0,
  });
  reloaders.push(reloader);
  if (options.watch ?? true) reloader.watch();
  const server = await startServer({}, { logger, codecsFor: reloader.codecsFor });
  servers.push(server);
  return { dir, server, reloader, logs: () => lines.map((line) => JSON.parse(line)) };
}

const PLAIN = JSON.stringify({ payloads: [payloadJson(jsonPayload({ order: 42 }))] });
const keyIdOf = (text: string): string =>
  Buffer.from(JSON.parse(text).payloads[0].metadata['encryption-key-id'], 'base64').toString();

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('hot key reload', () => {
  it('rotates the active key under 2,000 keep-alive requests: none fails, new payloads use the new key within seconds', async () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const { dir, server, logs } = await reloadingServer({ k1: keyFile(k1), '.active-key-id': 'k1\n' });
    const underK1 = payloadJson(new EncryptionCodec({ keyRing: KeyRing.fromKeys({ k1 }, 'k1') }).encryptPayload(jsonPayload('old')));
    const decodeBody = JSON.stringify({ payloads: [underK1] });

    const results: { i: number; status: number; keyId?: string; at: number }[] = [];
    let rotatedAt = 0;
    let next = 0;
    const TOTAL = 2_000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < TOTAL) {
          const i = next++;
          if (i === 400) {
            // Add k2 and make it active in one Secret update; k1 stays for the payloads made with it.
            writeSecretDir(dir, { k1: keyFile(k1), k2: keyFile(k2), '.active-key-id': 'k2\n' });
            rotatedAt = Date.now();
          }
          const isDecode = i % 4 === 3;
          const response = await server.call({
            path: isDecode ? '/decode' : '/encode',
            headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default' },
            body: isDecode ? decodeBody : PLAIN,
          });
          results.push({ i, status: response.status, at: Date.now(), ...(isDecode ? {} : { keyId: keyIdOf(response.text) }) });
          // Pace the load so that it spans the reload (a few hundred ms per 500 requests on a fast machine).
          if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }),
    );

    expect(results).toHaveLength(TOTAL);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    const encodes = results.filter((r) => r.keyId !== undefined);
    expect(encodes.filter((r) => r.at < rotatedAt).every((r) => r.keyId === 'k1')).toBe(true);
    const firstK2 = encodes.find((r) => r.keyId === 'k2');
    expect(firstK2, 'no payload was encrypted with the new key').toBeDefined();
    // "Within a few seconds" (the watch is debounced by 100 ms here; the bound is generous for a loaded machine).
    expect(firstK2!.at - rotatedAt).toBeLessThan(5_000);
    // Once swapped, no request starts with the old codecs: after the first k2 answer (plus one in flight per connection)
    // every encode uses k2.
    const after = encodes.filter((r) => r.at > firstK2!.at + 100);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.keyId === 'k2')).toBe(true);

    const reloaded = logs().filter((line) => line.msg === 'keys reloaded');
    expect(reloaded.length).toBeGreaterThanOrEqual(1);
    expect(reloaded.at(-1)).toMatchObject({
      trigger: 'keys directory changed',
      activeKeyId: 'k2',
      added: ['k2'],
      removed: [],
      keys: [
        { keyId: 'k1', fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/), active: false },
        { keyId: 'k2', fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/), active: true },
      ],
    });
  });

  it('rejects a bad key set with a log line naming the file, keeps serving with the old keys, and takes the fixed set', async () => {
    const k1 = randomBytes(32);
    const { dir, server, reloader, logs } = await reloadingServer({ k1: keyFile(k1), '.active-key-id': 'k1' });
    const secretish = 'too-short-to-be-a-key';
    writeSecretDir(dir, { k1: keyFile(k1), k2: secretish, '.active-key-id': 'k2' });
    const rejected = await waitFor('the rejection', () => logs().find((l) => l.msg === 'key reload rejected: keeping the previous keys'));
    expect(rejected).toMatchObject({ level: 'error', trigger: 'keys directory changed' });
    expect(rejected.problems).toEqual([expect.stringMatching(new RegExp(`^key file ${dir}/k2 is 21 bytes long; a key needs at least 32`))]);
    expect(JSON.stringify(logs())).not.toContain(secretish);
    expect(JSON.stringify(logs())).not.toContain(k1.toString('base64'));
    const encoded = await server.call({ path: '/encode', headers: { 'Content-Type': 'application/json' }, body: PLAIN });
    expect(encoded.status).toBe(200);
    expect(keyIdOf(encoded.text)).toBe('k1');
    expect(reloader.keyRing.keyIds()).toEqual(['k1']);

    // The same broken set found again by a poll is not an error line again; an operator's SIGHUP always gets one.
    const errors = () => logs().filter((l) => l.msg === 'key reload rejected: keeping the previous keys' && l.level === 'error');
    expect(reloader.reload('poll')).toBe('rejected');
    expect(errors()).toHaveLength(1);
    expect(reloader.reload('SIGHUP')).toBe('rejected');
    expect(errors()).toHaveLength(2);

    writeSecretDir(dir, { k1: keyFile(k1), k2: keyFile(), '.active-key-id': 'k2' });
    await waitFor('the reload', () => (reloader.keyRing.activeKeyId === 'k2' ? true : undefined));
    const after = await server.call({ path: '/encode', headers: { 'Content-Type': 'application/json' }, body: PLAIN });
    expect(keyIdOf(after.text)).toBe('k2');
  });

  it('rejects an empty or missing keys directory, and an active key id with no key', () => {
    const k1 = randomBytes(32);
    const dir = join(mkdtempSync(join(tmpdir(), 'codec-keys-')), 'keys');
    writeSecretDir(dir, { k1: keyFile(k1), '.active-key-id': 'k9' });
    const source: KeySource = { env: {}, keysDir: dir, encryptionKeyID: 'default' };
    expect(() => loadServerKeyRing(source)).toThrow(/no key for the active key id "k9"/);
    writeFileSync(join(dir, '..data', '.active-key-id'), 'not a key id with spaces');
    expect(() => loadServerKeyRing(source)).toThrow(`${dir}/.active-key-id must hold one key id (1-128 printable ASCII characters, no spaces)`);
    expect(() => loadServerKeyRing({ ...source, keysDir: join(dir, 'gone') })).toThrow(/keys directory .*gone cannot be read \(ENOENT\)/);
  });

  it('uses --key-id when the directory names no active key', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'codec-keys-')), 'keys');
    writeSecretDir(dir, { a: keyFile(), b: keyFile() });
    expect(loadServerKeyRing({ env: {}, keysDir: dir, encryptionKeyID: 'b' }).activeKeyId).toBe('b');
  });

  it('rejects a key set that lacks a key a namespace uses, and logs unchanged sets only on SIGHUP', async () => {
    const map: NamespaceKeyMap = new Map([['production', { keyIds: ['prod-*'], activeKeyId: 'prod-1' }]]);
    const { dir, reloader, logs } = await reloadingServer(
      { 'prod-1': keyFile(), default: keyFile(), '.active-key-id': 'default' },
      { map, watch: false },
    );
    expect(reloader.reload('SIGHUP')).toBe('unchanged');
    expect(logs().find((l) => l.msg === 'keys unchanged')).toMatchObject({ level: 'info', trigger: 'SIGHUP' });
    writeSecretDir(dir, { default: keyFile(), '.active-key-id': 'default' });
    expect(reloader.reload('SIGHUP')).toBe('rejected');
    expect(logs().find((l) => l.msg === 'key reload rejected: keeping the previous keys')?.problems).toEqual([
      'namespace "production" uses key id "prod-1", which has no key',
    ]);
    expect(reloader.keyRing.keyIds()).toEqual(['default', 'prod-1']);
  });

  it('keeps the previous keys when reading them fails in an unexpected way, without throwing from the reload', () => {
    const ring = KeyRing.fromKeys({ default: randomBytes(32) }, 'default');
    const lines: string[] = [];
    const failure = Object.assign(new Error('EACCES: permission denied, scandir /keys'), { code: 'EACCES' });
    const reloader = new KeyReloader({
      initial: { ...buildCodecSet({}, ring, undefined), keyRing: ring },
      load: () => {
        throw failure;
      },
      build: (next) => buildCodecSet({}, next, undefined),
      logger: createLogger('debug', { write: (line: string) => void lines.push(line) }),
    });
    expect(reloader.reload('poll')).toBe('rejected');
    expect(reloader.keyRing).toBe(ring);
    const line = lines.map((text) => JSON.parse(text)).find((l) => l.msg === 'key reload rejected: keeping the previous keys');
    expect(line).toMatchObject({ level: 'error', trigger: 'poll', problems: ['the keys could not be read (EACCES)'] });
  });

  it('lets a request in flight finish with the codecs it started with', async () => {
    const k1 = randomBytes(32);
    const dir = join(mkdtempSync(join(tmpdir(), 'codec-keys-')), 'keys');
    writeSecretDir(dir, { k1: keyFile(k1), '.active-key-id': 'k1' });
    const source: KeySource = { env: {}, keysDir: dir, encryptionKeyID: 'k1' };
    const ring = loadServerKeyRing(source);
    const reloader = new KeyReloader({
      initial: { ...buildCodecSet({}, ring, undefined), keyRing: ring },
      load: () => loadServerKeyRing(source),
      build: (next) => buildCodecSet({}, next, undefined),
      logger: createLogger('silent'),
    });
    const held = reloader.codecsFor('default');
    writeSecretDir(dir, { k2: keyFile(), '.active-key-id': 'k2' });
    expect(reloader.reload('SIGHUP')).toBe('reloaded');
    expect(held?.encryption?.activeKeyId).toBe('k1');
    expect(reloader.codecsFor('default')?.encryption?.activeKeyId).toBe('k2');
  });
});

describe('key reload of temporal-codec serve', () => {
  // Review: the reloader of `serve` must run the start-up checks of its configuration on every new key set.
  it('rejects a key set that would let anonymous callers open another namespace, and warns when the flag allows it', () => {
    const root = mkdtempSync(join(tmpdir(), 'codec-serve-reload-'));
    const dir = join(root, 'keys');
    const pub = keyFile();
    const ord = keyFile();
    writeSecretDir(dir, { 'pub-1': pub, 'ord-1': ord, '.active-key-id': 'ord-1' });
    const namespaces = join(root, 'namespaces.json');
    writeFileSync(namespaces, JSON.stringify({ public: { keyIds: ['pub-*'], activeKeyId: 'pub-1' }, orders: { keyIds: ['ord-*'] } }));
    const token = randomBytes(32).toString('base64url');
    const env = {
      TEMPORAL_CODEC_AUTH_TOKENS: JSON.stringify([{ name: 'ops', token, namespaces: '*', rights: ['decode', 'encode'] }]),
      TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES: 'public',
    };
    // The reloader serve itself builds (createKeys), so the test fails if serve stops running the check.
    const reloaderOf = (allowUnauthenticated: boolean) => {
      const loaded = loadServeConfig({ host: '0.0.0.0', keysDir: dir, namespaceKeys: namespaces, allowUnauthenticated }, env);
      const lines: string[] = [];
      const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
      const reloader = createKeys(loaded, logger, new ServerMetrics()).reloader!;
      reloaders.push(reloader);
      return { reloader, logs: () => lines.map((line) => JSON.parse(line) as Record<string, any>) };
    };
    const refused = reloaderOf(false);
    const allowed = reloaderOf(true);
    // A new key file pub-2 holding orders' key: anyone could decode orders' payloads as "public".
    writeSecretDir(dir, { 'pub-1': pub, 'pub-2': ord, 'ord-1': ord, '.active-key-id': 'ord-1' });
    expect(refused.reloader.reload('SIGHUP')).toBe('rejected');
    expect(refused.reloader.keyRing.keyIds()).toEqual(['ord-1', 'pub-1']);
    const [problem] = refused.logs().find((l) => l.msg === 'key reload rejected: keeping the previous keys')!.problems;
    expect(problem).toContain('TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES ("public")');
    expect(problem).toContain('"public" opens key id "ord-1" (as "pub-2", the same key) of namespace "orders"');
    expect(allowed.reloader.reload('SIGHUP')).toBe('reloaded');
    expect(allowed.logs().find((l) => l.level === 'warn')?.msg).toContain(
      "anyone who can reach the server decodes other namespaces' payloads through TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES",
    );
  });
});
