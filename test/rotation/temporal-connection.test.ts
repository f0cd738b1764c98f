/**
 * How `scan` finds its Temporal server: @temporalio/envconfig's profile and TEMPORAL_* variables, then the flags.
 * (The CLI's connection helper lives in src/cli; its tests sit with the scan that is its only user.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as envconfig from '@temporalio/envconfig';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import {
  type ConnectionFlags,
  connectTemporal,
  loadTemporalModules,
  resolveConnection,
} from '../../src/cli/temporal-connection.js';
import { tempDir } from '../helpers/keys.js';

let dir: string;
let remove: () => void;
beforeEach(() => {
  ({ dir, remove } = tempDir('connection'));
});
afterEach(() => remove());

/** No config file unless a test writes one: the user's own temporal.toml must not leak in. */
const baseEnv = (): Record<string, string> => ({ HOME: dir, XDG_CONFIG_HOME: join(dir, 'config') });
const resolve = (flags: ConnectionFlags, env: Record<string, string> = {}) =>
  resolveConnection(flags, { ...baseEnv(), ...env }, envconfig);

const CERT = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIBfake\n-----END PRIVATE KEY-----\n';

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function toml(): string {
  return file(
    'temporal.toml',
    [
      '[profile.default]',
      'address = "default.example:7233"',
      'namespace = "from-default-profile"',
      '',
      '[profile.prod]',
      'address = "prod.tmprl.cloud:7233"',
      'namespace = "prod.a1b2c"',
      'api_key = "profile-api-key"',
      '[profile.prod.grpc_meta]',
      'x-team = "payments"',
    ].join('\n'),
  );
}

describe('resolveConnection', () => {
  it('defaults to localhost:7233 and the default namespace, without TLS', () => {
    expect(resolve({})).toEqual({
      address: 'localhost:7233',
      namespace: 'default',
      connectionOptions: { address: 'localhost:7233' },
    });
  });

  it('reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_API_KEY (which turns TLS on), as Temporal\'s tools do', () => {
    const resolved = resolve({}, { TEMPORAL_ADDRESS: 'env.example:7233', TEMPORAL_NAMESPACE: 'env-ns', TEMPORAL_API_KEY: 'env-key' });
    expect(resolved).toEqual({
      address: 'env.example:7233',
      namespace: 'env-ns',
      connectionOptions: { address: 'env.example:7233', apiKey: 'env-key', tls: true },
    });
  });

  it('reads a profile of the config file, the environment over it, and the flags over both', () => {
    const configFile = toml();
    expect(resolve({ configFile })).toMatchObject({ address: 'default.example:7233', namespace: 'from-default-profile' });
    expect(resolve({ configFile, profile: 'prod' })).toEqual({
      address: 'prod.tmprl.cloud:7233',
      namespace: 'prod.a1b2c',
      connectionOptions: {
        address: 'prod.tmprl.cloud:7233',
        apiKey: 'profile-api-key',
        tls: true,
        metadata: { 'x-team': 'payments' },
      },
    });
    expect(resolve({ profile: 'prod' }, { TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_NAMESPACE: 'env-ns' })).toMatchObject({
      address: 'prod.tmprl.cloud:7233',
      namespace: 'env-ns',
    });
    expect(resolve({}, { TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'prod' })).toMatchObject({ namespace: 'prod.a1b2c' });
    const flags = { configFile, profile: 'prod', address: 'flag.example:7233', namespace: 'flag-ns', apiKey: 'flag-key' };
    expect(resolve(flags, { TEMPORAL_ADDRESS: 'env.example:7233' })).toMatchObject({
      address: 'flag.example:7233',
      namespace: 'flag-ns',
      connectionOptions: { apiKey: 'flag-key', tls: true },
    });
  });

  it('reads the API key from --api-key-file, and refuses it together with --api-key', () => {
    const keyFile = file('api-key', 'file-api-key\n');
    expect(resolve({ apiKeyFile: keyFile }).connectionOptions).toMatchObject({ apiKey: 'file-api-key', tls: true });
    expect(() => resolve({ apiKeyFile: keyFile, apiKey: 'x' })).toThrow('--api-key and --api-key-file are exclusive: give one');
    expect(() => resolve({ apiKeyFile: join(dir, 'absent') })).toThrow(`cannot read --api-key-file ${join(dir, 'absent')}: ENOENT`);
    expect(() => resolve({ apiKeyFile: file('empty', '\n') })).toThrow(`--api-key-file ${join(dir, 'empty')} is empty`);
  });

  it('turns TLS off with --no-tls even with an API key, and on with --tls', () => {
    expect(resolve({ apiKey: 'k', tls: false }).connectionOptions).toEqual({ address: 'localhost:7233', apiKey: 'k', tls: false });
    expect(resolve({ tls: true }).connectionOptions.tls).toEqual({
      serverNameOverride: undefined,
      serverRootCACertificate: undefined,
      clientCertPair: undefined,
    });
    expect(resolve({}, { TEMPORAL_TLS: 'true' }).connectionOptions.tls).toMatchObject({ clientCertPair: undefined });
  });

  it('loads mTLS files from the flags, and PEM from TEMPORAL_TLS_CLIENT_CERT_DATA / _KEY_DATA', () => {
    const tlsCertPath = file('client.pem', CERT);
    const tlsKeyPath = file('client.key', KEY);
    const tlsCaPath = file('ca.pem', CERT);
    const tls = resolve({ tlsCertPath, tlsKeyPath, tlsCaPath, tlsServerName: 'frontend.internal' }).connectionOptions.tls;
    expect(tls).toEqual({
      serverNameOverride: 'frontend.internal',
      serverRootCACertificate: Uint8Array.from(Buffer.from(CERT)),
      clientCertPair: { crt: Uint8Array.from(Buffer.from(CERT)), key: Uint8Array.from(Buffer.from(KEY)) },
    });
    const fromEnv = resolve({}, { TEMPORAL_TLS_CLIENT_CERT_DATA: CERT, TEMPORAL_TLS_CLIENT_KEY_DATA: KEY }).connectionOptions.tls;
    expect(fromEnv).toMatchObject({
      clientCertPair: { crt: Uint8Array.from(Buffer.from(CERT)), key: Uint8Array.from(Buffer.from(KEY)) },
    });
  });

  it('refuses half an mTLS pair and contradictory TLS flags, which would otherwise quietly connect without them', () => {
    const tlsCertPath = file('client.pem', CERT);
    expect(() => resolve({ tlsCertPath })).toThrow('mTLS needs both the client certificate and its key');
    expect(() => resolve({}, { TEMPORAL_TLS_CLIENT_KEY_DATA: KEY })).toThrow('mTLS needs both the client certificate and its key');
    expect(() => resolve({ tls: false, tlsCaPath: tlsCertPath })).toThrow('--no-tls contradicts the --tls-* flags');
  });

  it('fails with one line naming the file or profile, never the file\'s content', () => {
    expect(() => resolve({ configFile: join(dir, 'absent.toml') })).toThrow(`cannot read --config-file ${join(dir, 'absent.toml')}: ENOENT`);
    expect(() => resolve({ configFile: toml(), profile: 'staging' })).toThrow(
      "cannot load the Temporal connection profile: Profile 'staging' not found in config data",
    );
    const broken = file('broken.toml', '[profile.default]\napi_key = "secret-api-key-123\n');
    let message = '';
    try {
      resolve({ configFile: broken });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^cannot load the Temporal connection profile: /);
    expect(message).not.toContain('secret-api-key');
    expect(message).not.toContain('\n');
    expect(() => resolve({ tlsCertPath: join(dir, 'no.pem'), tlsKeyPath: join(dir, 'no.key') })).toThrow(
      /^cannot load the TLS files: ENOENT/,
    );
  });
});

describe('loading the optional peer dependencies', () => {
  const notFound = (name: string) => () =>
    Promise.reject(Object.assign(new Error(`Cannot find package '${name}' imported from /app/cli.js`), { code: 'ERR_MODULE_NOT_FOUND' }));
  const io: CliIo = { env: {}, stdout: () => {}, stderr: () => {}, readInput: async () => '' };

  it('loads @temporalio/client and @temporalio/envconfig when they are installed', async () => {
    const modules = await loadTemporalModules();
    expect(typeof modules.client.Connection.connect).toBe('function');
    expect(typeof modules.envconfig.loadClientConfigProfile).toBe('function');
  });

  it('says in one line what to install when one is missing', async () => {
    for (const missing of ['@temporalio/client', '@temporalio/envconfig'] as const) {
      const importers = {
        client: missing === '@temporalio/client' ? notFound(missing) : () => import('@temporalio/client'),
        envconfig: missing === '@temporalio/envconfig' ? notFound(missing) : () => import('@temporalio/envconfig'),
      };
      await expect(connectTemporal({}, io, importers)).rejects.toMatchObject({
        exitCode: 1,
        message:
          `this command needs ${missing}, an optional peer dependency that is not installed: ` +
          'npm install @temporalio/client @temporalio/envconfig',
      });
    }
  });

  it('lets any other loading error through', async () => {
    const broken = { client: () => Promise.reject(new SyntaxError('Unexpected token')), envconfig: () => import('@temporalio/envconfig') };
    await expect(loadTemporalModules(broken)).rejects.toThrow(SyntaxError);
  });

  it('fails with one line naming the address when nothing answers there', async () => {
    await expect(connectTemporal({ address: '127.0.0.1:1' }, { ...io, env: { HOME: dir } })).rejects.toMatchObject({
      exitCode: 1,
      message: expect.stringMatching(/^cannot connect to Temporal at 127\.0\.0\.1:1: [^\n]+$/),
    });
  }, 30_000);
});
