import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tokenDigest } from '../../src/server/auth/static-tokens.js';
import { loadKeyRing } from '../../src/keys/load-key-ring.js';
import {
  type LoadedServeConfig,
  loadServeConfig,
  reloadedKeyRingProblems,
  ServeConfigError,
  type ServeFlags,
} from '../../src/server/config.js';
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
    expect(load({ jwtTokenSource: 'id' }).problems).toEqual(['--jwt-token-source needs --jwks-url or --oidc-issuer']);
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
    // With JWT verification the list may be empty: it lets no one in by itself.
    const jwt = { jwksUrl: 'https://idp.example.com/jwks', jwtIssuer: 'https://idp.example.com/', jwtAudience: 'ui' };
    expect(load(jwt, { TEMPORAL_CODEC_AUTH_TOKENS: '[]' }).problems).toEqual([]);
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

describe('anonymous decoding with namespace keys', () => {
  const key = () => `base64:${randomBytes(32).toString('base64')}`;
  const RING_ENV = {
    TEMPORAL_CODEC_AUTH_TOKENS: TOKENS_JSON,
    'TEMPORAL_ENCRYPTION_KEY_prod-2025': key(),
    'TEMPORAL_ENCRYPTION_KEY_prod-2026': key(),
    'TEMPORAL_ENCRYPTION_KEY_pub-1': key(),
  };
  const mapFile = (map: Record<string, { keyIds: string[]; activeKeyId?: string }>) =>
    tempFile('namespaces.json', JSON.stringify(map));
  const refusal = (host: string, source: string, anonymous: string, shared: string) =>
    `refusing to listen on ${host} with ${source} (${anonymous}) and namespace keys it shares with other namespaces: ` +
    "anyone who can reach the server decodes those namespaces' payloads by sending an anonymous namespace in " +
    `X-Namespace. Shared: ${shared}. Give each anonymous namespace keys of its own that no other namespace opens ` +
    '(--namespace-keys or a namespaces section in --config), or pass --allow-unauthenticated ' +
    '(TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED=true) to accept that anyone who can reach it decodes those payloads';
  const NO_EFFECT = '--allow-unauthenticated has no effect: authentication is configured and every request needs it';
  const EVERY_OTHER = 'every namespace without an entry of its own (the "*" entry)';
  const STAR = { '*': { keyIds: ['*'] } };
  const OVERLAP = {
    public: { keyIds: ['prod*'], activeKeyId: 'prod-2025' },
    orders: { keyIds: ['prod-2026'], activeKeyId: 'prod-2026' },
  };

  it('refuses off loopback an anonymous namespace served by the "*" entry, which every unlisted namespace uses', () => {
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public', namespaceKeys: mapFile(STAR) };
    expect(load(flags, RING_ENV).problems).toEqual([
      refusal(
        '0.0.0.0',
        '--anonymous-decode-namespaces',
        '"public"',
        `"public" (through the "*" entry) opens key ids "default", "prod-2025", "prod-2026", "pub-1" of ${EVERY_OTHER}`,
      ),
    ]);
  });

  it("refuses off loopback an anonymous namespace whose key ids or patterns open another namespace's keys", () => {
    // public's prod* opens orders' prod-2026; prod-2025 is public's alone.
    const env = { ...RING_ENV, TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES: 'public' };
    expect(load({ host: '10.1.2.3', namespaceKeys: mapFile(OVERLAP) }, env).problems).toEqual([
      refusal(
        '10.1.2.3',
        'TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES',
        '"public"',
        '"public" opens key id "prod-2026" of namespace "orders"',
      ),
    ]);
    // The other way round: the "*" entry's pattern opens the anonymous namespace's own key.
    const star = {
      public: { keyIds: ['pub-1'], activeKeyId: 'pub-1' },
      '*': { keyIds: ['p*'], activeKeyId: 'prod-2026' },
    };
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public', namespaceKeys: mapFile(star) };
    expect(load(flags, RING_ENV).problems).toEqual([
      refusal('0.0.0.0', '--anonymous-decode-namespaces', '"public"', `"public" opens key id "pub-1" of ${EVERY_OTHER}`),
    ]);
  });

  it('counts one key under two key ids as shared, since the key id in a payload is not authenticated', () => {
    const shared = key();
    const map = {
      public: { keyIds: ['pub-x'], activeKeyId: 'pub-x' },
      orders: { keyIds: ['ord-x'], activeKeyId: 'ord-x' },
    };
    const env = { ...RING_ENV, 'TEMPORAL_ENCRYPTION_KEY_pub-x': shared, 'TEMPORAL_ENCRYPTION_KEY_ord-x': shared };
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public', namespaceKeys: mapFile(map) };
    expect(load(flags, env).problems).toEqual([
      refusal(
        '0.0.0.0',
        '--anonymous-decode-namespaces',
        '"public"',
        '"public" opens key id "ord-x" (as "pub-x", the same key) of namespace "orders"',
      ),
    ]);
    // The same key under a ring id that no entry names: workers may be encrypting with it.
    const { orders: _orders, ...onlyPublic } = map;
    expect(load({ ...flags, namespaceKeys: mapFile(onlyPublic) }, env).problems).toEqual([
      refusal(
        '0.0.0.0',
        '--anonymous-decode-namespaces',
        '"public"',
        '"public" opens key id "ord-x" (as "pub-x", the same key), which no namespace entry names (workers may encrypt with it)',
      ),
    ]);
  });

  // Review: relabelling a payload written under any id the fallback serves (a worker's billing-2026) decoded it.
  it('counts a key id served by the TEMPORAL_ENCRYPTION_KEY fallback as shared with every key id it serves', () => {
    const map = {
      public: { keyIds: ['public'], activeKeyId: 'public' },
      orders: { keyIds: ['prod*'], activeKeyId: 'prod-2026' },
    };
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public', namespaceKeys: mapFile(map) };
    expect(load(flags, { ...RING_ENV, TEMPORAL_ENCRYPTION_KEY: key() }).problems).toEqual([
      refusal(
        '0.0.0.0',
        '--anonymous-decode-namespaces',
        '"public"',
        '"public" opens key id "public" with the TEMPORAL_ENCRYPTION_KEY fallback, which serves every key id without a ' +
          'key of its own, whoever encrypts with it',
      ),
    ]);
  });

  // Review: a prefix named the active id, whose key was an alias's (ORD_1 for ord-1), so the check missed it.
  it("counts the active key id of another namespace's entry when only a prefix names it and an alias holds its key", () => {
    const map = {
      public: { keyIds: ['ORD_1'], activeKeyId: 'ORD_1' },
      orders: { keyIds: ['ord-*'], activeKeyId: 'ord-1' },
    };
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public', namespaceKeys: mapFile(map) };
    expect(load(flags, { ...RING_ENV, TEMPORAL_ENCRYPTION_KEY_ORD_1: key() }).problems).toEqual([
      refusal(
        '0.0.0.0',
        '--anonymous-decode-namespaces',
        '"public"',
        '"public" opens key id "ord-1" (as "ORD_1", the same key) of namespace "orders"',
      ),
    ]);
  });

  it('starts off loopback when no namespace closed to anonymous callers opens an anonymous namespace\'s keys', () => {
    const map = {
      public: { keyIds: ['pub-1'], activeKeyId: 'pub-1' },
      // Shares pub-1 only with another anonymous namespace, whose payloads anyone may decode anyway.
      sandbox: { keyIds: ['pub-1', 'default'], activeKeyId: 'default' },
      orders: { keyIds: ['prod*'], activeKeyId: 'prod-2026' },
      '*': { keyIds: ['prod-2025'], activeKeyId: 'prod-2025' },
    };
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public, sandbox', namespaceKeys: mapFile(map) };
    expect(load(flags, RING_ENV).problems).toEqual([]);
    // Without a "*" entry, a namespace without an entry has no keys at all (404): nothing to share.
    const { '*': _other, ...listed } = map;
    const anonymousDecodeNamespaces = 'public, sandbox, playground';
    expect(load({ ...flags, anonymousDecodeNamespaces, namespaceKeys: mapFile(listed) }, RING_ENV).problems).toEqual([]);
  });

  it('starts on loopback with shared keys, as before: only local callers can reach it', () => {
    for (const map of [STAR, OVERLAP]) {
      const { loaded, problems } = load({ anonymousDecodeNamespaces: 'public', namespaceKeys: mapFile(map) }, RING_ENV);
      expect(problems).toEqual([]);
      expect(loaded!.warnings).toEqual([]);
    }
  });

  it('starts off loopback with shared keys given --allow-unauthenticated, warning what anyone decodes', () => {
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public', allowUnauthenticated: true };
    const allowed = load({ ...flags, namespaceKeys: mapFile(OVERLAP) }, RING_ENV);
    expect(allowed.problems).toEqual([]);
    expect(allowed.loaded!.warnings).not.toContain(NO_EFFECT);
    expect(allowed.loaded!.warnings).toContain(
      "anyone who can reach the server decodes other namespaces' payloads through --anonymous-decode-namespaces, " +
        'as --allow-unauthenticated allows. Shared: "public" opens key id "prod-2026" of namespace "orders"',
    );
    // Keys of its own: the flag allows nothing that authentication would refuse.
    const own = {
      public: { keyIds: ['pub-1'], activeKeyId: 'pub-1' },
      orders: { keyIds: ['prod*'], activeKeyId: 'prod-2026' },
    };
    expect(load({ ...flags, namespaceKeys: mapFile(own) }, RING_ENV).loaded!.warnings).toContain(NO_EFFECT);
  });

  it('rejects a reloaded key set that gives an anonymous namespace a key another namespace opens', () => {
    const own = {
      public: { keyIds: ['pub*'], activeKeyId: 'pub-1' },
      orders: { keyIds: ['prod*'], activeKeyId: 'prod-2026' },
    };
    const flags = { host: '0.0.0.0', anonymousDecodeNamespaces: 'public', namespaceKeys: mapFile(own) };
    const { loaded, problems } = load(flags, RING_ENV);
    expect(problems).toEqual([]);
    const config = loaded!.config;
    const ringOf = (env: Record<string, string>) => loadKeyRing({ env: { ...KEY_ENV, ...env } });
    expect(reloadedKeyRingProblems(config, ringOf(RING_ENV))).toEqual([]);
    // A new key file pub-2 holding orders' prod-2026 key: anyone could then decode orders' payloads as "public".
    const reloaded = ringOf({ ...RING_ENV, 'TEMPORAL_ENCRYPTION_KEY_pub-2': RING_ENV['TEMPORAL_ENCRYPTION_KEY_prod-2026'] });
    expect(reloadedKeyRingProblems(config, reloaded)).toEqual([
      refusal('0.0.0.0', '--anonymous-decode-namespaces', '"public"', '"public" opens key id "prod-2026" (as "pub-2", the same key) of namespace "orders"')
        .replace('refusing to listen on 0.0.0.0', "refusing keys that would open other namespaces' payloads to anonymous callers on 0.0.0.0"),
    ]);
    // With --allow-unauthenticated the operator accepted that; on loopback only local callers reach it.
    for (const other of [{ allowUnauthenticated: true }, { host: '127.0.0.1' }]) {
      expect(reloadedKeyRingProblems({ ...config, ...other }, reloaded)).toEqual([]);
    }
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
