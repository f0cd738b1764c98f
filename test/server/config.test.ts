import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLoopback } from '../../src/server/config-source.js';
import { DEFAULT_SETTINGS, loadServeConfig, ServeConfigError, type ServeFlags } from '../../src/server/config.js';
import { parseDuration, parseSize } from '../../src/server/units.js';

const KEY = `base64:${Buffer.alloc(32, 1).toString('base64')}`;
const ENV = { TEMPORAL_ENCRYPTION_KEY_default: KEY };

/** The ServeConfigError these settings throw, or undefined when they load. */
function errorOf(flags: ServeFlags, env: Record<string, string> = ENV): ServeConfigError | undefined {
  try {
    loadServeConfig(flags, env);
  } catch (error) {
    if (error instanceof ServeConfigError) return error;
    throw error;
  }
  return undefined;
}

function problemsOf(flags: ServeFlags, env: Record<string, string> = ENV): readonly string[] {
  try {
    loadServeConfig(flags, env);
  } catch (error) {
    if (error instanceof ServeConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('serve configuration', () => {
  it('has safe defaults: loopback, port 8888, 4 MiB bodies, 1000 payloads, 5 s / 30 s timeouts, one worker per CPU', () => {
    const { config, keyRing } = loadServeConfig({}, ENV);
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8888,
      corsOrigins: [],
      bodyLimit: 4 * 1024 * 1024,
      maxPayloads: 1000,
      maxDecodedBytes: 128 * 1024 * 1024,
      headersTimeout: 5000,
      requestTimeout: 30000,
      keepAliveTimeout: 5000,
      connectionsCheckingInterval: 1000,
      shutdownTimeout: 8000,
      logLevel: 'info',
      workers: availableParallelism(),
      allowUnauthenticated: false,
      codec: {
        enableEncryption: true,
        encryptionKeyID: 'default',
        enableCompression: true,
        compressionThreshold: 1024,
        maxDecompressedBytes: 64 * 1024 * 1024,
      },
    });
    expect(config.tls).toBeUndefined();
    expect(keyRing?.activeKeyId).toBe('default');
    expect(DEFAULT_SETTINGS.headersTimeout).toBeLessThan(DEFAULT_SETTINGS.requestTimeout);
  });

  it('reads every setting from TEMPORAL_CODEC_* variables, and flags win over them', () => {
    const env = {
      TEMPORAL_ENCRYPTION_KEY_prod: KEY,
      TEMPORAL_CODEC_HOST: 'localhost',
      TEMPORAL_CODEC_PORT: '9000',
      TEMPORAL_CODEC_CORS_ORIGINS: 'https://a.example.com, http://localhost:8233',
      TEMPORAL_CODEC_BODY_LIMIT: '1MiB',
      TEMPORAL_CODEC_MAX_PAYLOADS: '50',
      TEMPORAL_CODEC_HEADERS_TIMEOUT: '2s',
      TEMPORAL_CODEC_REQUEST_TIMEOUT: '10s',
      TEMPORAL_CODEC_LOG_LEVEL: 'warn',
      TEMPORAL_CODEC_WORKERS: '3',
      TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'prod',
      TEMPORAL_CODEC_ENABLE_COMPRESSION: 'false',
      TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES: '1048576',
    };
    const fromEnv = loadServeConfig({}, env).config;
    expect(fromEnv).toMatchObject({
      host: 'localhost',
      port: 9000,
      corsOrigins: ['https://a.example.com', 'http://localhost:8233'],
      bodyLimit: 1024 * 1024,
      maxPayloads: 50,
      headersTimeout: 2000,
      requestTimeout: 10000,
      logLevel: 'warn',
      workers: 3,
      maxDecodedBytes: 2 * 1024 * 1024,
      codec: { encryptionKeyID: 'prod', enableCompression: false, maxDecompressedBytes: 1024 * 1024 },
    });
    const fromFlags = loadServeConfig(
      { port: '0', bodyLimit: '512k', workers: '1', logLevel: 'debug', maxDecompressedBytes: '2MiB', compressionThreshold: '2048' },
      env,
    ).config;
    expect(fromFlags).toMatchObject({ port: 0, bodyLimit: 512 * 1024, workers: 1, logLevel: 'debug' });
    expect(fromFlags.codec).toMatchObject({ maxDecompressedBytes: 2 * 1024 * 1024, compressionThreshold: 2048 });
  });

  it('turns compression off with --no-compression, and reads keys from --key-id and the keys directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-keys-'));
    writeFileSync(join(dir, 'filekey'), `${KEY}\n`);
    const { config, keyRing } = loadServeConfig({ compression: false, keyId: 'filekey', keysDir: dir }, {});
    expect(config.codec).toMatchObject({ enableCompression: false, encryptionKeyID: 'filekey', keysDir: dir });
    expect(keyRing?.has('filekey')).toBe(true);
  });

  it('reports every problem at once, naming flags and variables but never a key value', () => {
    const problems = problemsOf(
      { port: '70000', bodyLimit: 'lots', maxPayloads: '0', headersTimeout: '40s', logLevel: 'loud', workers: '0', corsOrigins: '*' },
      { TEMPORAL_ENCRYPTION_KEY_default: 'short-secret-value', TEMPORAL_CODEC_KEEP_ALIVE_TIMEOUT: 'never' },
    );
    expect(problems).toEqual([
      '--port must be a port number from 0 to 65535',
      '--cors-origins: "*" is not allowed; list the exact origins of the Web UI (credentials are allowed, so a wildcard would let any web site decode)',
      '--body-limit must be a size in bytes greater than 0 (e.g. 4194304, 4MiB, 512KiB)',
      '--max-payloads must be an integer greater than 0',
      'TEMPORAL_CODEC_KEEP_ALIVE_TIMEOUT must be a duration greater than 0 (e.g. 5s, 500ms; a bare number is milliseconds)',
      '--log-level must be one of fatal, error, warn, info, debug, trace, silent',
      '--workers must be an integer from 1 to 256',
      'the headers timeout (40000 ms) must not exceed the request timeout (30000 ms)',
      expect.stringMatching(/TEMPORAL_ENCRYPTION_KEY_default/),
    ]);
    expect(problems.join('\n')).not.toContain('short-secret-value');
  });

  it('refuses to listen off loopback without authentication unless told to', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'codec.internal']) {
      expect(problemsOf({ host })).toEqual([
        `refusing to listen on ${host} without authentication: an open codec server decrypts for anyone who can ` +
          'reach it. Configure tokens (--auth-tokens-file or TEMPORAL_CODEC_AUTH_TOKENS) or JWT verification ' +
          '(--oidc-issuer or --jwks-url), listen on 127.0.0.1, or pass --allow-unauthenticated ' +
          '(TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED=true) if a proxy in front of it authenticates every request',
      ]);
      expect(problemsOf({ host, allowUnauthenticated: true })).toEqual([]);
      expect(problemsOf({}, { ...ENV, TEMPORAL_CODEC_HOST: host, TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED: 'true' })).toEqual([]);
    }
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) expect(isLoopback(host)).toBe(true);
  });

  it('accepts only exact origins in --cors-origins', () => {
    expect(problemsOf({ corsOrigins: 'https://ui.example.com/, ftp://x.example.com,https://ok.example.com:8443' })).toEqual([
      '--cors-origins: "https://ui.example.com/" is not an origin; write scheme://host[:port] with no path or trailing slash (e.g. https://temporal.example.com)',
      '--cors-origins: "ftp://x.example.com" is not an origin; write scheme://host[:port] with no path or trailing slash (e.g. https://temporal.example.com)',
    ]);
  });

  it('needs --max-decoded-bytes to hold at least one payload of --max-decompressed-bytes', () => {
    expect(problemsOf({ maxDecompressedBytes: '8MiB', maxDecodedBytes: '4MiB' })).toEqual([
      '--max-decoded-bytes (4 MiB) must be at least --max-decompressed-bytes (8 MiB), or one allowed payload could never be decoded',
    ]);
  });

  it('needs both --tls-cert and --tls-key, readable and matching', () => {
    expect(problemsOf({ tlsCert: '/nonexistent/cert.pem' })).toEqual(['--tls-cert needs --tls-key as well']);
    expect(problemsOf({ tlsCert: '/nonexistent/cert.pem', tlsKey: '/nonexistent/key.pem' })).toEqual([
      '--tls-cert: /nonexistent/cert.pem cannot be read (ENOENT)',
      '--tls-key: /nonexistent/key.pem cannot be read (ENOENT)',
    ]);
  });

  it('reports a broken config file without loading keys that depend on it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-config-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'temporal:\n  security:\n    compressionThreshold: lots\n');
    expect(problemsOf({ config: file }, {})).toEqual([`${file}: temporal.security.compressionThreshold must be a non-negative integer`]);
  });
});

describe('usage problems (a malformed value) and configuration that cannot run', () => {
  const cases: [string, ServeFlags, Record<string, string>, string][] = [
    ['--port abc', { port: 'abc' }, ENV, '--port must be a port number from 0 to 65535'],
    ['TEMPORAL_CODEC_PORT=abc', {}, { ...ENV, TEMPORAL_CODEC_PORT: 'abc' }, 'TEMPORAL_CODEC_PORT must be a port number from 0 to 65535'],
    ['--workers abc', { workers: 'abc' }, ENV, '--workers must be an integer from 1 to 256'],
    ['--log-level loud', { logLevel: 'loud' }, ENV, '--log-level must be one of fatal, error, warn, info, debug, trace, silent'],
    ['--request-timeout soon', { requestTimeout: 'soon' }, ENV, '--request-timeout must be a duration greater than 0 (e.g. 5s, 500ms; a bare number is milliseconds)'],
    ['--body-limit 0', { bodyLimit: '0' }, ENV, '--body-limit must be a size in bytes greater than 0 (e.g. 4194304, 4MiB, 512KiB)'],
    ['TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED=maybe', {}, { ...ENV, TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED: 'maybe' }, 'TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED must be true or false'],
    ['--cors-origins with a path', { corsOrigins: 'https://ok.example.com,https://bad.example.com/' }, ENV, '--cors-origins: "https://bad.example.com/" is not an origin; write scheme://host[:port] with no path or trailing slash (e.g. https://temporal.example.com)'],
    ['--compression-threshold lots', { compressionThreshold: 'lots' }, ENV, '--compression-threshold must be a size in bytes (e.g. 1024, 4KiB)'],
    ['TEMPORAL_CODEC_COMPRESSION_THRESHOLD=lots', {}, { ...ENV, TEMPORAL_CODEC_COMPRESSION_THRESHOLD: 'lots' }, 'TEMPORAL_CODEC_COMPRESSION_THRESHOLD must be a non-negative integer'],
    ['TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES=0', {}, { ...ENV, TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES: '0' }, 'TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES must be an integer greater than 0'],
    ['--jwt-token-source cookie', { jwksUrl: 'https://idp.example.com/jwks', jwtIssuer: 'x', jwtAudience: 'a', jwtTokenSource: 'cookie' }, ENV, '--jwt-token-source must be one of access, id, either'],
    ['--jwt-algorithms HS256', { jwksUrl: 'https://idp.example.com/jwks', jwtIssuer: 'x', jwtAudience: 'a', jwtAlgorithms: 'HS256' }, ENV, '--jwt-algorithms: "HS256" is not accepted (HMAC algorithms are refused: with a public key set, anyone holding the public key could sign tokens)'],
    ['--jwks-url over http', { host: '0.0.0.0', jwksUrl: 'http://idp.example.com/jwks', jwtIssuer: 'x', jwtAudience: 'a' }, ENV, '--jwks-url must be an https URL (http only on loopback): keys fetched in clear text could be replaced'],
    ['--anonymous-decode-namespaces "*"', { jwksUrl: 'https://idp.example.com/jwks', jwtIssuer: 'x', jwtAudience: 'a', anonymousDecodeNamespaces: '*' }, ENV, '--anonymous-decode-namespaces: "*" is not allowed; list the namespaces whose payloads anyone may decode'],
  ];

  it.each(cases)('counts %s as a usage problem', (_, flags, env, problem) => {
    const error = errorOf(flags, env);
    expect(error?.problems).toEqual([problem]);
    expect(error?.usage).toBe(true);
  });

  it('counts well-formed settings that cannot run as no usage problem', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'codec-config-')), 'config.yaml');
    writeFileSync(file, 'temporal:\n  security:\n    maxDecompressedBytes: 0\n');
    const cannotRun: [ServeFlags, Record<string, string>][] = [
      [{}, {}], // no key for the active key id
      [{ host: '0.0.0.0' }, ENV],
      [{ tlsCert: '/nonexistent/cert.pem', tlsKey: '/nonexistent/key.pem' }, ENV],
      [{ tlsCert: '/nonexistent/cert.pem' }, ENV],
      [{ requestTimeout: '2s', headersTimeout: '3s' }, ENV],
      [{ config: '/nonexistent/config.yaml' }, ENV],
      [{ config: file }, ENV],
    ];
    for (const [flags, env] of cannotRun) {
      const error = errorOf(flags, env);
      expect(error?.problems.length).toBeGreaterThan(0);
      expect(error?.usage).toBe(false);
    }
    expect(errorOf({ config: file }, ENV)?.problems).toEqual([
      `${file}: temporal.security.maxDecompressedBytes must be an integer greater than 0`,
    ]);
  });

  it('is a usage error when any one problem is a malformed value', () => {
    const error = errorOf({ port: 'abc', host: '0.0.0.0' }, {});
    expect(error?.problems).toEqual([
      '--port must be a port number from 0 to 65535',
      expect.stringMatching(/^refusing to listen on 0\.0\.0\.0 without authentication/),
      expect.stringMatching(/TEMPORAL_ENCRYPTION_KEY_default/),
    ]);
    expect(error?.usage).toBe(true);
  });

  it('reports a malformed variable and a broken config file together', () => {
    const error = errorOf({ config: '/nonexistent/config.yaml' }, { ...ENV, TEMPORAL_CODEC_ENABLE_COMPRESSION: 'maybe' });
    expect(error?.problems).toEqual([
      'config file /nonexistent/config.yaml cannot be read (ENOENT)',
      'TEMPORAL_CODEC_ENABLE_COMPRESSION must be true or false',
    ]);
    expect(error?.usage).toBe(true);
  });
});

describe('headers and request timeouts', () => {
  it('serves metrics on a port of their own with --metrics-port or its variable, and on the codec port without', () => {
    expect(loadServeConfig({}, ENV).config).toMatchObject({ separateMetrics: false });
    expect(loadServeConfig({}, ENV).config.metricsPort).toBeUndefined();
    expect(loadServeConfig({ metricsPort: '9464' }, ENV).config).toMatchObject({ separateMetrics: true, metricsPort: 9464 });
    const fromEnv = loadServeConfig({}, { ...ENV, TEMPORAL_CODEC_METRICS_PORT: '0' }).config;
    expect(fromEnv).toMatchObject({ separateMetrics: true, metricsPort: 0 });
    expect(loadServeConfig({ metricsPort: '9464' }, { ...ENV, TEMPORAL_CODEC_METRICS_PORT: '9999' }).config.metricsPort).toBe(9464);

    const malformed = errorOf({ metricsPort: 'metrics' });
    expect(malformed?.usage).toBe(true);
    expect(malformed?.problems).toEqual(['--metrics-port must be a port number from 0 to 65535']);
    expect(errorOf({}, { ...ENV, TEMPORAL_CODEC_METRICS_PORT: '70000' })?.problems).toEqual([
      'TEMPORAL_CODEC_METRICS_PORT must be a port number from 0 to 65535',
    ]);
    const same = errorOf({ port: '9000', metricsPort: '9000' });
    expect(same?.usage).toBe(false);
    expect(same?.problems).toEqual(['--metrics-port is 9000, the codec port too: give the metrics server a port of its own']);
    // A malformed --port is reported alone, not also as the metrics port's twin.
    expect(errorOf({ port: 'abc', metricsPort: '8888' })?.problems).toEqual(['--port must be a port number from 0 to 65535']);
    // Both 0: two free ports, never the same one.
    expect(loadServeConfig({ port: '0', metricsPort: '0' }, ENV).config.separateMetrics).toBe(true);
  });

  it('lowers the default headers timeout to a shorter request timeout', () => {
    expect(loadServeConfig({ requestTimeout: '2s' }, ENV).config).toMatchObject({ headersTimeout: 2000, requestTimeout: 2000 });
    expect(loadServeConfig({}, { ...ENV, TEMPORAL_CODEC_REQUEST_TIMEOUT: '1500' }).config).toMatchObject({
      headersTimeout: 1500,
      requestTimeout: 1500,
    });
    expect(loadServeConfig({ requestTimeout: '10s' }, ENV).config).toMatchObject({ headersTimeout: 5000, requestTimeout: 10000 });
  });

  it('keeps a headers timeout that is given, and refuses one above the request timeout', () => {
    expect(loadServeConfig({ requestTimeout: '2s', headersTimeout: '1s' }, ENV).config).toMatchObject({
      headersTimeout: 1000,
      requestTimeout: 2000,
    });
    expect(problemsOf({ requestTimeout: '2s', headersTimeout: '3s' })).toEqual([
      'the headers timeout (3000 ms) must not exceed the request timeout (2000 ms)',
    ]);
    expect(problemsOf({ requestTimeout: '2s' }, { ...ENV, TEMPORAL_CODEC_HEADERS_TIMEOUT: '5s' })).toEqual([
      'the headers timeout (5000 ms) must not exceed the request timeout (2000 ms)',
    ]);
  });
});

describe('units', () => {
  it('parses sizes in bytes with binary multiples', () => {
    expect([parseSize('4194304'), parseSize('4MiB'), parseSize('4mb'), parseSize('512 KiB'), parseSize('1g'), parseSize('1.5k')]).toEqual([
      4194304, 4194304, 4194304, 524288, 1073741824, 1536,
    ]);
    expect([parseSize(''), parseSize('-1'), parseSize('4 tb'), parseSize('lots')]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('parses durations, a bare number being milliseconds', () => {
    expect([parseDuration('5s'), parseDuration('500ms'), parseDuration('1m'), parseDuration('250'), parseDuration('0.5s')]).toEqual([
      5000, 500, 60000, 250, 500,
    ]);
    expect(parseDuration('soon')).toBeUndefined();
  });
});

describe('TLS', () => {
  it('serves https with --tls-cert and --tls-key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    } catch {
      console.warn('openssl is not available: skipping the https round trip');
      return;
    }
    const { config } = loadServeConfig({ tlsCert: cert, tlsKey: key }, ENV);
    expect(config.tls?.cert.toString()).toContain('BEGIN CERTIFICATE');
    const { startServer } = await import('./helpers.js');
    const { request } = await import('node:https');
    const server = await startServer({ tls: config.tls! });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: server.port, path: '/livez', rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(server.codecServer.server.constructor.name).toBe('Server');
      expect('setSecureContext' in server.codecServer.server).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('reports a certificate and key that do not match', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-tls-'));
    const make = (name: string) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=x', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
    };
    try {
      make('a');
      make('b');
    } catch {
      return;
    }
    const problems = problemsOf({ tlsCert: join(dir, 'a.crt'), tlsKey: join(dir, 'b.key') });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^--tls-cert and --tls-key are not a usable certificate and key \(.*\)$/);
  });
});
