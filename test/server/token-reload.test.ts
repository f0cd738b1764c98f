import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccessControl } from '../../src/server/auth/auth-config.js';
import { TokenReloader } from '../../src/server/auth/token-reload.js';
import { loadServeConfig, type ServeFlags } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logging.js';
import { logLines, postJson, startServer, type TestServer } from './helpers.js';

const KEY = `base64:${randomBytes(32).toString('base64')}`;
const OLD = randomBytes(32).toString('base64url');
const NEW = randomBytes(32).toString('base64url');
const BODY = { payloads: [] };

const entry = (name: string, token: string, rights = ['decode']) => ({ name, token, namespaces: ['default'], rights });

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server authorizing with the tokens file in a temporary directory, and the reloader `serve` would build. */
async function serverWithTokensFile(initial: unknown[], options: { watch?: boolean; flags?: ServeFlags } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'codec-tokens-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'tokens.json');
  writeFileSync(file, JSON.stringify(initial));
  const loaded = loadServeConfig({ authTokensFile: file, ...options.flags }, { TEMPORAL_ENCRYPTION_KEY_default: KEY });
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
  const access = createAccessControl(loaded.config.auth!, { logger });
  const reloader = new TokenReloader({
    initial: loaded.config.auth!.tokens,
    read: loaded.tokenSource!.read,
    apply: access.setTokens,
    logger,
    dir,
    debounceMs: 50,
    pollMs: 0,
  });
  if (options.watch) reloader.watch();
  cleanups.push(() => reloader.close());
  const server: TestServer = await startServer({}, { authorize: access.authorize });
  cleanups.push(() => server.close());
  const decodeWith = async (token: string) =>
    (await postJson(server, '/decode', BODY, { Authorization: `Bearer ${token}` })).status;
  const reloadLines = () =>
    lines.map((line) => JSON.parse(line)).filter((line) => /^token|^tokens/.test(line.msg));
  return { file, reloader, decodeWith, reloadLines, lines, server };
}

describe('token reload', () => {
  it('puts a rewritten tokens file in use on SIGHUP: a removed token is refused, an added one accepted', async () => {
    const { file, reloader, decodeWith, reloadLines } = await serverWithTokensFile([entry('ci', OLD)]);
    expect(await decodeWith(OLD)).toBe(200);
    expect(await decodeWith(NEW)).toBe(401);

    writeFileSync(file, JSON.stringify([entry('ci-2026', NEW)]));
    expect(reloader.reload('SIGHUP')).toBe('reloaded');
    expect(await decodeWith(OLD)).toBe(401);
    expect(await decodeWith(NEW)).toBe(200);
    expect(reloadLines()).toEqual([
      expect.objectContaining({ msg: 'tokens reloaded', trigger: 'SIGHUP', tokens: ['ci-2026'], added: ['ci-2026'], removed: ['ci'] }),
    ]);
    expect(reloader.reload('SIGHUP')).toBe('unchanged');
  });

  it('counts a change of rights or namespaces as a change, and the same list as none', async () => {
    const { file, reloader, decodeWith } = await serverWithTokensFile([entry('ci', OLD)]);
    writeFileSync(file, JSON.stringify([{ ...entry('ci', OLD), namespaces: ['staging'] }]));
    expect(reloader.reload('SIGHUP')).toBe('reloaded');
    expect(await decodeWith(OLD)).toBe(403);
    writeFileSync(file, JSON.stringify({ tokens: [{ ...entry('ci', OLD), namespaces: ['staging'] }] }));
    expect(reloader.reload('SIGHUP')).toBe('unchanged');
  });

  it.each([
    ['malformed', '[{"name": "ci", "token": '],
    ['without tokens', '[]'],
    ['with a duplicate', JSON.stringify([entry('a', NEW), entry('b', NEW)])],
    ['with a short token', JSON.stringify([entry('ci', 'short-secret-token')])],
  ])('keeps the tokens in use when the new file is %s, and never logs a token', async (_what, text) => {
    const { file, reloader, decodeWith, reloadLines, lines } = await serverWithTokensFile([entry('ci', OLD)]);
    writeFileSync(file, text);
    expect(reloader.reload('SIGHUP')).toBe('rejected');
    expect(await decodeWith(OLD)).toBe(200);
    const [rejected] = reloadLines();
    expect(rejected).toMatchObject({ level: 'error', msg: 'token reload rejected: keeping the previous tokens', trigger: 'SIGHUP' });
    expect(rejected.problems.length).toBeGreaterThan(0);
    for (const secret of [OLD, NEW, 'short-secret-token']) expect(lines.join('')).not.toContain(secret);
    // The same problem found again by a poll is not an error line again; an operator's SIGHUP always gets one.
    expect(reloader.reload('poll')).toBe('rejected');
    expect(reloadLines()[1]).toMatchObject({ level: 'debug' });
    expect(reloader.reload('SIGHUP')).toBe('rejected');
    expect(reloadLines()[2]).toMatchObject({ level: 'error' });
  });

  it('never shows a token put in a field name by mistake', async () => {
    const { file, reloader, reloadLines, lines } = await serverWithTokensFile([entry('ci', OLD)]);
    writeFileSync(file, `- name: ci\n  token=${NEW}: x\n  namespaces: [default]\n  rights: [decode]\n`);
    expect(reloader.reload('SIGHUP')).toBe('rejected');
    expect(reloadLines()[0].problems.join('\n')).toContain('has an unknown field (not shown');
    expect(lines.join('')).not.toContain(NEW.slice(0, 12));
  });

  it('revokes every static token with an empty list when JWTs also let callers in', async () => {
    const jwt: ServeFlags = { jwksUrl: 'https://idp.example.com/jwks', jwtIssuer: 'https://idp.example.com/', jwtAudience: 'temporal-ui' };
    const { file, reloader, decodeWith } = await serverWithTokensFile([entry('ci', OLD)], { flags: jwt });
    expect(await decodeWith(OLD)).toBe(200);
    writeFileSync(file, '[]');
    expect(reloader.reload('SIGHUP')).toBe('reloaded');
    expect(await decodeWith(OLD)).toBe(401);
  });

  it('keeps the tokens in use when the file is gone', async () => {
    const { file, reloader, decodeWith, reloadLines } = await serverWithTokensFile([entry('ci', OLD)]);
    rmSync(file);
    expect(reloader.reload('SIGHUP')).toBe('rejected');
    expect(await decodeWith(OLD)).toBe(200);
    expect(reloadLines()[0].problems[0]).toMatch(/cannot be read \(ENOENT\)/);
  });

  it('reloads when the file changes, with watch()', async () => {
    const { file, decodeWith, reloadLines } = await serverWithTokensFile([entry('ci', OLD)], { watch: true });
    writeFileSync(file, JSON.stringify([entry('ci', NEW)]));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await decodeWith(NEW)) !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await decodeWith(NEW)).toBe(200);
    expect(await decodeWith(OLD)).toBe(401);
    expect(reloadLines()[0]).toMatchObject({ msg: 'tokens reloaded', trigger: 'tokens directory changed' });
  });

  it('warns, as start-up does, when a reloaded token is limited to namespaces that share the key ring', async () => {
    const { file, reloader, lines } = await serverWithTokensFile([{ ...entry('ops', OLD), namespaces: '*' }]);
    const warned = () => lines.filter((line) => line.includes('namespace limits do not isolate payloads')).length;
    writeFileSync(file, JSON.stringify([{ ...entry('ops', OLD), namespaces: '*' }, entry('ci', NEW)]));
    expect(reloader.reload('SIGHUP')).toBe('reloaded');
    expect(warned()).toBe(1);
    expect(lines.find((line) => line.includes('namespace limits'))).toContain('token \\"ci\\"');
  });

  it('has no token source without a tokens file (tokens from the variable only)', () => {
    const env = { TEMPORAL_ENCRYPTION_KEY_default: KEY, TEMPORAL_CODEC_AUTH_TOKENS: JSON.stringify([entry('ci', OLD)]) };
    expect(loadServeConfig({}, env).tokenSource).toBeUndefined();
  });
});

describe('a request line after a token reload', () => {
  it('names the new token, never the token itself', async () => {
    const { file, reloader, server } = await serverWithTokensFile([entry('ci', OLD)]);
    writeFileSync(file, JSON.stringify([entry('ci-2026', NEW)]));
    reloader.reload('SIGHUP');
    await postJson(server, '/decode', BODY, { Authorization: `Bearer ${NEW}`, 'X-Request-Id': 'after-reload' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const line = logLines(server).find((l) => l.requestId === 'after-reload');
    expect(line?.principal).toEqual({ kind: 'token', name: 'ci-2026' });
    expect(server.logs.join('')).not.toContain(NEW);
  });
});
