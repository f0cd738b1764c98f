import * as crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseStaticTokens, type StaticToken, StaticTokens, tokenDigest } from '../../src/server/auth/static-tokens.js';
import { codecHeaders, PLAIN_BODY, startAuthServer } from './auth-helpers.js';
import { logLines, type TestServer } from './helpers.js';

// The real timingSafeEqual, watched: the compare must see two SHA-256 digests, never the tokens.
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const CI = randomBytes(32).toString('base64url');
const OPS = randomBytes(32).toString('hex');
const TOKENS: StaticToken[] = [
  { name: 'ci-bot', digest: tokenDigest(CI), namespaces: new Set(['staging', 'default']), rights: new Set(['decode']) },
  { name: 'ops', digest: tokenDigest(OPS), namespaces: '*', rights: new Set(['decode', 'encode']) },
];

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function tokenServer(extra: Parameters<typeof startAuthServer>[0] = {}) {
  const server = await startAuthServer({ tokens: TOKENS, ...extra });
  servers.push(server);
  return server;
}

function parse(text: string): { tokens: StaticToken[]; problems: string[] } {
  const problems: string[] = [];
  const tokens = parseStaticTokens(text, 'tokens.yaml', problems);
  return { tokens, problems };
}

describe('the token list', () => {
  it('reads YAML or JSON, a list or {tokens: [...]}, with token or tokenSha256', () => {
    const sha = tokenDigest(OPS).toString('hex');
    const yaml = `- name: ci-bot\n  token: ${CI}\n  namespaces: [staging]\n  rights: [decode]\n` +
      `- name: ops\n  tokenSha256: ${sha.toUpperCase()}\n  namespaces: "*"\n  rights: [decode, encode]\n`;
    const json = JSON.stringify({ tokens: [{ name: 'ci-bot', token: CI, namespaces: ['staging'], rights: ['decode'] }] });
    for (const text of [yaml, json]) {
      const { tokens, problems } = parse(text);
      expect(problems).toEqual([]);
      expect(tokens[0]).toEqual({ name: 'ci-bot', digest: tokenDigest(CI), namespaces: new Set(['staging']), rights: new Set(['decode']) });
    }
    expect(parse(yaml).tokens[1]).toEqual({ name: 'ops', digest: tokenDigest(OPS), namespaces: '*', rights: new Set(['decode', 'encode']) });
  });

  it('lists every problem, naming the entry and never a token', () => {
    const secret = 'short-secret-token';
    const { problems } = parse(JSON.stringify([
      { name: 'has space', token: CI, namespaces: ['a'], rights: ['decode'] },
      { name: 'short', token: secret, namespaces: ['a'], rights: ['decode'] },
      { name: 'both', token: CI, tokenSha256: 'ab', namespaces: ['a'], rights: ['decode'] },
      { name: 'sha', tokenSha256: 'xyz', namespaces: [], rights: ['read'] },
      { name: 'typo', token: OPS, namespace: ['a'], rights: ['decode'] },
      'not an object',
    ]));
    expect(problems).toEqual([
      'tokens.yaml: tokens[0].name must be 1-64 letters, digits or . _ @ : + -',
      'tokens.yaml: tokens[1] ("short").token must be at least 32 printable characters without spaces (make one with `openssl rand -base64 32`)',
      'tokens.yaml: tokens[2] ("both") needs exactly one of "token" and "tokenSha256"',
      'tokens.yaml: tokens[3] ("sha").tokenSha256 must be 64 hex digits (`printf %s "$TOKEN" | sha256sum`)',
      'tokens.yaml: tokens[3] ("sha").namespaces must be "*" or a non-empty list of namespace names',
      'tokens.yaml: tokens[3] ("sha").rights must be a non-empty list of decode, encode',
      'tokens.yaml: tokens[4] ("typo") has an unknown field "namespace"',
      'tokens.yaml: tokens[4] ("typo").namespaces must be "*" or a non-empty list of namespace names',
      'tokens.yaml: tokens[5] must be an object {name, token or tokenSha256, namespaces, rights}',
    ]);
    expect(problems.join('\n')).not.toContain(secret);
    expect(problems.join('\n')).not.toContain(CI);
  });

  it('reports a syntax error by line, without the parser quoting the text', () => {
    const { problems } = parse(`- name: a\n  token: ${CI}\n  rights: [decode\n`);
    expect(problems).toEqual([expect.stringMatching(/^tokens\.yaml is not valid YAML or JSON( \(line \d+\))?$/)]);
    expect(parse(`{"tokens": [{"token": "${CI}"`).problems.join()).not.toContain(CI);
  });
});

describe('comparing tokens', () => {
  it('hashes the presented token and compares 32-byte digests with timingSafeEqual, against every entry', () => {
    const tokens = new StaticTokens(TOKENS);
    const compare = vi.mocked(crypto.timingSafeEqual);
    for (const presented of ['x', CI.slice(0, -1), `${CI}x`, 'y'.repeat(10_000), CI, OPS]) {
      compare.mockClear();
      const found = tokens.identify(presented);
      expect(found?.name).toBe(presented === CI ? 'ci-bot' : presented === OPS ? 'ops' : undefined);
      // No early exit: a match on the first entry is compared with the second too.
      expect(compare).toHaveBeenCalledTimes(TOKENS.length);
      for (const [a, b] of compare.mock.calls) {
        expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
        expect(Buffer.from(a as Buffer).toString('utf8')).not.toContain(presented.slice(0, 8));
      }
    }
  });
});

describe('static tokens on the server', () => {
  const call = (server: TestServer, token: string | undefined, namespace: string | null, path = '/decode') =>
    server.call({ path, headers: codecHeaders(token, namespace ?? undefined), body: PLAIN_BODY });

  it('lets a token decode in its namespaces and refuses other namespaces and rights with 403', async () => {
    const server = await tokenServer();
    expect((await call(server, CI, 'staging')).status).toBe(200);
    const production = await call(server, CI, 'production');
    expect(production.status).toBe(403);
    expect(production.json().error).toEqual({
      code: 'forbidden',
      message: 'token "ci-bot" may not decode in namespace "production": it needs "decode" in its rights and "production" (or "*") in its namespaces',
    });
    const encode = await call(server, CI, 'staging', '/encode');
    expect(encode.status).toBe(403);
    expect(encode.json().error.message).toBe(
      'token "ci-bot" may not encode in namespace "staging": it needs "encode" in its rights and "staging" (or "*") in its namespaces',
    );
    expect((await call(server, OPS, 'anything', '/encode')).status).toBe(200);
  });

  it('uses the path prefix when there is no X-Namespace, and "default" when there is neither', async () => {
    const server = await tokenServer();
    expect((await call(server, CI, null, '/staging/decode')).status).toBe(200);
    expect((await call(server, CI, null, '/production/decode')).status).toBe(403);
    expect((await call(server, CI, null, '/decode')).status).toBe(200);
    const only = await startAuthServer({ tokens: [{ ...TOKENS[0]!, namespaces: new Set(['staging']) }] });
    servers.push(only);
    const none = await call(only, CI, null, '/decode');
    expect(none.status).toBe(403);
    expect(none.json().error.message).toMatch(/^token "ci-bot" may not decode in namespace "default"/);
  });

  it('refuses unknown tokens of any length with 401, never a 5xx', async () => {
    const server = await tokenServer();
    for (const token of ['x', CI.slice(0, -1), `${CI}x`, 'z'.repeat(8_000)]) {
      const response = await call(server, token, 'staging');
      expect(response.status).toBe(401);
      expect(response.json().error.message).toBe('the bearer token is not one of the configured tokens');
    }
  });

  it("logs the token's name on the request's line and never the token", async () => {
    const server = await tokenServer();
    const allowed = await call(server, CI, 'staging');
    const refused = await call(server, CI, 'production');
    const lines = logLines(server);
    const line = (id: unknown) => lines.find((l) => l.requestId === id && l.res);
    expect(line(allowed.headers['x-request-id'])?.principal).toEqual({ kind: 'token', name: 'ci-bot' });
    expect(line(refused.headers['x-request-id'])).toMatchObject({
      principal: { kind: 'token', name: 'ci-bot' },
      error: { code: 'forbidden' },
      res: { statusCode: 403 },
    });
    expect(server.logs.join('\n')).not.toContain(CI);
  });

  it('lets anyone decode, not encode, in the anonymous-decode namespaces; a bad token is still refused', async () => {
    const server = await tokenServer({ anonymousDecode: ['playground'] });
    expect((await call(server, undefined, 'playground')).status).toBe(200);
    const encode = await call(server, undefined, 'playground', '/encode');
    expect(encode.status).toBe(401);
    expect((await call(server, undefined, 'staging')).status).toBe(401);
    expect((await call(server, 'wrong-token', 'playground')).status).toBe(401);
    // A token without rights there may decode there too: the namespace is open to every caller.
    expect((await call(server, CI, 'playground')).status).toBe(200);
    expect((await call(server, CI, 'playground', '/encode')).status).toBe(403);
  });
});
