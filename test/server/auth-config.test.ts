import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tokenDigest } from '../../src/server/auth/static-tokens.js';
import { type LoadedServeConfig, loadServeConfig, ServeConfigError, type ServeFlags } from '../../src/server/config.js';
import { call, jsonPayload, payloadJson } from './helpers.js';

const KEY_ENV = { TEMPORAL_ENCRYPTION_KEY_default: `base64:${Buffer.alloc(32, 7).toString('base64')}` };
const TOKEN = randomBytes(32).toString('base64url');
const TOKENS_JSON = JSON.stringify([{ name: 'ci', token: TOKEN, namespaces: ['staging'], rights: ['decode'] }]);

function load(flags: ServeFlags, env: Record<string, string> = {}): { loaded?: LoadedServeConfig; problems: readonly string[] } {
  try {
    return { loaded: loadServeConfig(flags, { ...KEY_ENV, ...env }), problems: [] };
  } catch (error) {
    if (error instanceof ServeConfigError) return { problems: error.problems };
    throw error;
  }
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'codec-auth-')), name);
  writeFileSync(path, text);
  return path;
}

describe('authentication settings', () => {
  it('lets a server with tokens listen off loopback without --allow-unauthenticated, warning about plain http', () => {
    const file = tempFile('tokens.yaml', `- name: ops\n  token: ${TOKEN}\n  namespaces: "*"\n  rights: [decode, encode]\n`);
    for (const [flags, env] of [
      [{ host: '0.0.0.0', authTokensFile: file }, {}],
      [{ host: '0.0.0.0' }, { TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON }],
      [{ host: '10.1.2.3' }, { TEMPORAL_CODEC_OIDC_ISSUER: 'https://idp.example.com/', TEMPORAL_CODEC_JWT_AUDIENCE: 'temporal-ui' }],
    ] as const) {
      const { loaded, problems } = load(flags, env);
      expect(problems).toEqual([]);
      expect(loaded!.config.auth).toBeDefined();
      expect(loaded!.warnings).toContain(
        `tokens reach ${flags.host} over plain http: serve https (--tls-cert, --tls-key) unless a proxy in front terminates TLS`,
      );
    }
    expect(load({ host: '0.0.0.0', authTokensFile: file, allowUnauthenticated: true }).loaded!.warnings).toContain(
      '--allow-unauthenticated has no effect: authentication is configured and every request needs it',
    );
  });

  it('keeps digests of the tokens, never the tokens, and reads file and variable together', () => {
    const file = tempFile('tokens.json', JSON.stringify({ tokens: [{ name: 'ops', tokenSha256: tokenDigest('x'.repeat(40)).toString('hex'), namespaces: '*', rights: ['encode'] }] }));
    const { loaded } = load({ authTokensFile: file }, { TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON });
    const auth = loaded!.config.auth!;
    expect(auth.tokens.map((t) => t.name)).toEqual(['ops', 'ci']);
    expect(auth.tokens[1]!.digest).toEqual(tokenDigest(TOKEN));
    expect(JSON.stringify(loaded!.config)).not.toContain(TOKEN);
  });

  it('reads the JWT settings, the issuer defaulting to --oidc-issuer', () => {
    const { loaded } = load({
      oidcIssuer: 'https://idp.example.com/realms/temporal',
      jwtAudience: 'temporal-ui, temporal-cli',
      jwtAlgorithms: 'ES384,EdDSA',
      jwtPermissionsClaim: 'https://temporal.example.com/permissions',
      jwtTokenSource: 'either',
      jwksTimeout: '1500ms',
    });
    expect(loaded!.config.auth!.jwt).toMatchObject({
      oidcIssuer: 'https://idp.example.com/realms/temporal',
      issuer: 'https://idp.example.com/realms/temporal',
      audience: ['temporal-ui', 'temporal-cli'],
      algorithms: ['ES384', 'EdDSA'],
      permissionsClaim: 'https://temporal.example.com/permissions',
      tokenSource: 'either',
      fetchTimeout: 1500,
      cacheMaxAge: 600_000,
      cooldown: 30_000,
    });
    expect(load({ jwksUrl: 'http://127.0.0.1:9000/jwks', jwtIssuer: 'local', jwtAudience: 'a' }).loaded!.config.auth!.jwt).toMatchObject({
      jwksUrl: 'http://127.0.0.1:9000/jwks',
      issuer: 'local',
      algorithms: ['RS256', 'ES256'],
      permissionsClaim: 'permissions',
      tokenSource: 'access',
      fetchTimeout: 3000,
    });
  });

  it('lists every JWT problem at once', () => {
    expect(load({ jwksUrl: 'http://idp.example.com/jwks', oidcIssuer: 'https://idp.example.com', jwtAlgorithms: 'RS256,HS256,none,XX1' }).problems).toEqual([
      'give one of --jwks-url and --oidc-issuer, not both',
      '--jwks-url must be an https URL (http only on loopback): keys fetched in clear text could be replaced',
      '--jwt-audience (TEMPORAL_CODEC_JWT_AUDIENCE) is required with JWT verification: without it, a token the identity provider issued for any of its applications would be accepted',
      '--jwt-algorithms: "HS256" is not accepted (HMAC algorithms are refused: with a public key set, anyone holding the public key could sign tokens)',
      '--jwt-algorithms: "none" is not accepted (unsigned tokens are never accepted)',
      '--jwt-algorithms: "XX1" is not accepted (use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519)',
    ]);
    expect(load({ jwksUrl: 'https://idp.example.com/jwks', jwtAudience: 'a', jwtTokenSource: 'cookie' }).problems).toEqual([
      '--jwt-issuer (TEMPORAL_CODEC_JWT_ISSUER) is required with --jwks-url',
      '--jwt-token-source must be one of access, id, either',
    ]);
    expect(load({ jwtAudience: 'a' }, { TEMPORAL_CODEC_JWT_ISSUER: 'x' }).problems).toEqual([
      'TEMPORAL_CODEC_JWT_ISSUER, --jwt-audience need --jwks-url or --oidc-issuer',
    ]);
  });

  it('reports token-list problems with the rest, never quoting a token', () => {
    const weak = 'password123';
    const { problems } = load(
      { host: '0.0.0.0', authTokensFile: '/nonexistent/tokens.yaml', port: '-1' },
      { TEMPORAL_CODEC_AUTH_TOKENS: JSON.stringify([{ name: 'a', token: weak, namespaces: ['x'], rights: ['decode'] }]) },
    );
    expect(problems).toEqual([
      '--port must be a port number from 0 to 65535',
      '--auth-tokens-file: /nonexistent/tokens.yaml cannot be read (ENOENT)',
      'TEMPORAL_CODEC_AUTH_TOKENS: tokens[0] ("a").token must be at least 32 printable characters without spaces (make one with `openssl rand -base64 32`)',
    ]);
    expect(problems.join('\n')).not.toContain(weak);
    const twice = JSON.stringify([
      { name: 'a', token: TOKEN, namespaces: ['x'], rights: ['decode'] },
      { name: 'a', token: TOKEN, namespaces: ['y'], rights: ['decode'] },
    ]);
    expect(load({}, { TEMPORAL_CODEC_AUTH_TOKENS: twice }).problems).toEqual([
      'two tokens are named "a"',
      'tokens "a" and "a" are the same token',
    ]);
    expect(load({}, { TEMPORAL_CODEC_AUTH_TOKENS: '[]' }).problems).toEqual(['TEMPORAL_CODEC_AUTH_TOKENS: no tokens are listed']);
  });

  it('allows anonymous decoding only of listed namespaces, and only besides real authentication', () => {
    expect(load({ anonymousDecodeNamespaces: 'playground' }).problems).toEqual([
      '--anonymous-decode-namespaces needs authentication for everything else: configure tokens or JWT verification',
    ]);
    expect(load({ anonymousDecodeNamespaces: 'a,*' }, { TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON }).problems).toEqual([
      '--anonymous-decode-namespaces: "*" is not allowed; list the namespaces whose payloads anyone may decode',
    ]);
    expect(load({ anonymousDecodeNamespaces: 'a, b' }, { TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON }).loaded!.config.auth!.anonymousDecode).toEqual(['a', 'b']);
  });
});

describe('namespace limits without namespace keys', () => {
  const NAMESPACE_KEYS = JSON.stringify({ dev: { keyIds: ['default'] } });
  const warningOf = (limits: string) =>
    'namespace limits do not isolate payloads without namespace keys (--namespace-keys or a namespaces section in ' +
    '--config): every namespace shares one key ring, so a caller allowed to decode in one namespace decodes any ' +
    `namespace's payloads by sending that namespace in X-Namespace. Limited to some namespaces here: ${limits}`;
  const isolationWarnings = (loaded: LoadedServeConfig | undefined) =>
    loaded!.warnings.filter((warning) => warning.startsWith('namespace limits do not isolate'));

  it('refuses anonymous decoding off loopback, where it would open every namespace, unless --allow-unauthenticated', () => {
    const tokens = { TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON };
    for (const [flags, env, source] of [
      [{ host: '0.0.0.0', anonymousDecodeNamespaces: 'dev' }, tokens, '--anonymous-decode-namespaces'],
      [{ host: '10.1.2.3' }, { ...tokens, TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES: 'dev' }, 'TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES'],
    ] as const) {
      expect(load(flags, env).problems).toEqual([
        `refusing to listen on ${flags.host} with ${source} ("dev") and no namespace keys: every namespace shares one ` +
          `key ring, so anyone who can reach the server decodes any namespace's payloads by sending "X-Namespace: dev". ` +
          'Give each namespace its own keys (--namespace-keys or a namespaces section in --config), or pass ' +
          '--allow-unauthenticated (TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED=true) to accept that anyone who can reach it ' +
          "decodes every namespace's payloads",
      ]);
    }
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'dev, playground' };
    const allowed = load({ ...flags, allowUnauthenticated: true }, tokens);
    expect(allowed.problems).toEqual([]);
    // Here the flag does have an effect: no "has no effect" warning, the isolation warning instead.
    expect(allowed.loaded!.warnings).not.toContain(
      '--allow-unauthenticated has no effect: authentication is configured and every request needs it',
    );
    expect(isolationWarnings(allowed.loaded)).toEqual([
      warningOf('token "ci"; --anonymous-decode-namespaces ("dev", "playground")'),
    ]);
    const mapped = load({ ...flags, namespaceKeys: tempFile('namespaces.json', NAMESPACE_KEYS) }, tokens);
    expect(mapped.problems).toEqual([]);
    expect(isolationWarnings(mapped.loaded)).toEqual([]);
    // On loopback only local callers can reach it: allowed, with the warning.
    const local = load({ anonymousDecodeNamespaces: 'dev' }, tokens);
    expect(local.problems).toEqual([]);
    expect(isolationWarnings(local.loaded)).toEqual([warningOf('token "ci"; --anonymous-decode-namespaces ("dev")')]);
  });

  it('warns once that tokens or JWT permissions limited to some namespaces do not isolate their payloads', () => {
    const jwt = { TEMPORAL_CODEC_OIDC_ISSUER: 'https://idp.example.com/', TEMPORAL_CODEC_JWT_AUDIENCE: 'temporal-ui' };
    const tokens = JSON.stringify([
      { name: 'ci', token: TOKEN, namespaces: ['nsb'], rights: ['decode'] },
      { name: 'ops', token: randomBytes(32).toString('base64url'), namespaces: '*', rights: ['decode', 'encode'] },
      { name: 'qa', token: randomBytes(32).toString('base64url'), namespaces: ['nsa', 'nsb'], rights: ['decode'] },
    ]);
    const limited = load({ host: '0.0.0.0' }, { TEMPORAL_CODEC_AUTH_TOKENS: tokens, ...jwt });
    expect(limited.problems).toEqual([]);
    expect(isolationWarnings(limited.loaded)).toEqual([warningOf('tokens "ci", "qa"; JWT permissions')]);
    expect(isolationWarnings(load({}, jwt).loaded)).toEqual([warningOf('JWT permissions')]);
    // Tokens for every namespace limit nothing; namespace keys isolate; without encryption there is nothing to isolate.
    const everywhere = JSON.stringify([{ name: 'ops', token: TOKEN, namespaces: '*', rights: ['decode'] }]);
    expect(isolationWarnings(load({}, { TEMPORAL_CODEC_AUTH_TOKENS: everywhere }).loaded)).toEqual([]);
    const namespaceKeys = tempFile('namespaces.json', NAMESPACE_KEYS);
    expect(isolationWarnings(load({ namespaceKeys }, { TEMPORAL_CODEC_AUTH_TOKENS: tokens, ...jwt }).loaded)).toEqual([]);
    const plain = { TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON, TEMPORAL_CODEC_ENABLE_ENCRYPTION: 'false' };
    expect(isolationWarnings(load({}, plain).loaded)).toEqual([]);
  });
});

describe('temporal-codec serve with tokens (spawned)', () => {
  // Listens on loopback only, as every test server does: that tokens let it start off loopback is the config tests' job.
  it('starts with tokens configured, names them in its log, and enforces them', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/bin.ts', 'serve', '--host', '127.0.0.1', '--port', '0', '--workers', '1'],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { PATH: process.env.PATH ?? '', ...KEY_ENV, TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    try {
      const deadline = Date.now() + 60_000;
      let listening: Record<string, any> | undefined;
      while (!listening && Date.now() < deadline && child.exitCode === null) {
        listening = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.msg === 'codec server listening');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(listening, stdout).toMatchObject({ authentication: { tokens: ['ci'] } });
      const port = Number(new URL(listening!.url).port);
      const body = JSON.stringify({ payloads: [payloadJson(jsonPayload(1))] });
      const headers = { 'Content-Type': 'application/json', 'X-Namespace': 'staging' };
      expect((await call(port, { headers, body })).status).toBe(401);
      expect((await call(port, { headers: { ...headers, Authorization: `Bearer ${TOKEN}` }, body })).status).toBe(200);
      expect(stdout).not.toContain(TOKEN);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});
