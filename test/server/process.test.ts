import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, jsonPayload, payloadJson } from './helpers.js';
import { killSpawnedAfterEach, type SpawnedServe, spawnServe } from './spawn-serve.js';

const KEY = `base64:${randomBytes(32).toString('base64')}`;

type Spawned = SpawnedServe;
killSpawnedAfterEach();

/** `temporal-codec serve ...` from source, with the key `default` and only the variables given (plus PATH). */
function serve(args: string[], env: Record<string, string> = {}): Spawned {
  return spawnServe(args, { TEMPORAL_ENCRYPTION_KEY_default: KEY, ...env });
}

/** Waits for the "codec server listening" line and returns its port. */
async function listening(server: Spawned): Promise<number> {
  return Number(new URL((await listeningLine(server)).url).port);
}

/** Waits for the "codec server listening" line and returns it. */
async function listeningLine(server: Spawned): Promise<{ url: string; metricsUrl?: string }> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    for (const line of server.stdout().split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line);
      if (entry.msg === 'codec server listening') return entry;
    }
    if (server.child.exitCode !== null) throw new Error(`server exited: ${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('server did not start');
}

const encodeBody = JSON.stringify({ payloads: [payloadJson(jsonPayload({ hello: 'world' }))] });

describe('temporal-codec serve (spawned)', () => {
  it('serves, then on SIGTERM finishes an in-flight request and exits 0 within 10 s', async () => {
    const server = serve(['--port', '0', '--workers', '1']);
    const port = await listening(server);
    const encoded = await call(port, { path: '/encode', headers: { 'Content-Type': 'application/json' }, body: encodeBody });
    expect(encoded.status).toBe(200);

    // A request in flight when the signal comes: headers and half the body sent.
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${encoded.text.length}\r\n\r\n`);
    socket.write(encoded.text.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 100));

    const signalled = Date.now();
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.end(encoded.text.slice(20));
    const { code, at } = await server.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(10_000);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toContain(encodeBody.slice(0, 30));
    expect(server.stdout()).toContain('"msg":"codec server stopped"');
  }, 90_000);

  it('with --workers 2 forks a cluster, sums the workers\' metrics and stops all on SIGTERM within 10 s', async () => {
    const server = serve(['--port', '0', '--workers', '2']);
    const port = await listening(server);
    // New connections are spread over the workers.
    for (let i = 0; i < 6; i++) {
      const response = await call(port, { path: '/encode', headers: { 'Content-Type': 'application/json' }, body: encodeBody });
      expect(response.status).toBe(200);
    }
    const pids = new Set(server.stdout().split('\n').filter((l) => l.includes('"msg":"worker listening"')).map((l) => JSON.parse(l).pid));
    expect(pids.size).toBe(2);
    const served = server.stdout().split('\n').filter((l) => l.includes('"route":"encode"')).map((l) => JSON.parse(l).pid);
    expect(new Set(served)).toEqual(pids);
    const metrics = await call(port, { method: 'GET', path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('temporal_codec_http_requests_total{route="encode",status="200"} 6');
    expect(metrics.text).toContain('temporal_codec_encryptions_total{key_id="default"} 6');

    const signalled = Date.now();
    server.child.kill('SIGTERM');
    const { code, at } = await server.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(10_000);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 90_000);

  it('stops on SIGINT too', async () => {
    const server = serve(['--port', '0', '--workers', '1']);
    await listening(server);
    const signalled = Date.now();
    server.child.kill('SIGINT');
    const { code, at } = await server.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(10_000);
  }, 60_000);

  it('reports every configuration problem and exits 2 without listening when one is a malformed value', async () => {
    const server = serve(['--port', 'x', '--host', '0.0.0.0', '--cors-origins', '*'], { TEMPORAL_ENCRYPTION_KEY_default: 'too-short' });
    const { code } = await server.exited;
    expect(code).toBe(2);
    const stderr = server.stderr();
    expect(stderr).toMatch(/^temporal-codec: invalid configuration:\n/);
    expect(stderr).toContain('  - --port must be a port number from 0 to 65535');
    expect(stderr).toContain('  - --cors-origins: "*" is not allowed');
    expect(stderr).toContain('  - refusing to listen on 0.0.0.0 without authentication');
    expect(stderr).toContain('TEMPORAL_ENCRYPTION_KEY_default');
    expect(stderr).not.toContain('too-short');
    expect(server.stdout()).toBe('');
  }, 60_000);

  it('exits 2 on a usage error', async () => {
    const server = serve(['--no-such-flag']);
    expect((await server.exited).code).toBe(2);
    expect(server.stderr()).toContain("unknown option '--no-such-flag'");
  }, 60_000);

  it.each([
    ['codec', '1'],
    ['codec', '2'],
    ['metrics', '1'],
    ['metrics', '2'],
  ] as const)('exits 1 with a clear message when the %s port is taken (--workers %s)', async (which, workers) => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const ports = which === 'codec' ? ['--port', String(port)] : ['--port', '0', '--metrics-port', String(port)];
      const server = serve([...ports, '--workers', workers]);
      expect((await server.exited).code).toBe(1);
      expect(server.stdout()).toContain(`"msg":"cannot listen on 127.0.0.1:${port}:`);
      expect(server.stdout()).not.toContain('"msg":"codec server listening"');
      expect(server.stderr()).toContain(
        workers === '1'
          ? `temporal-codec: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`
          : `temporal-codec: a worker exited with code 1 before listening${which === 'metrics' ? ' on both its ports' : ''}; see the log`,
      );
    } finally {
      blocker.close();
    }
  }, 60_000);

  it.each(['1', '2'])('with --metrics-port serves /metrics there and not on the codec port (--workers %s)', async (workers) => {
    const server = serve(['--port', '0', '--metrics-port', '0', '--workers', workers]);
    const line = await listeningLine(server);
    const port = Number(new URL(line.url).port);
    const metricsPort = Number(new URL(line.metricsUrl!).port);
    expect(line.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metricsPort).not.toBe(port);
    for (let i = 0; i < 4; i++) {
      const response = await call(port, { path: '/encode', headers: { 'Content-Type': 'application/json' }, body: encodeBody });
      expect(response.status).toBe(200);
    }
    const metrics = await call(metricsPort, { method: 'GET', path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('temporal_codec_http_requests_total{route="encode",status="200"} 4');
    expect((await call(port, { method: 'GET', path: '/metrics' })).status).toBe(404);
    expect((await call(metricsPort, { method: 'GET', path: '/readyz' })).status).toBe(200);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 90_000);

  it('reloads the tokens file on SIGHUP in every worker (--workers 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-tokens-'));
    const file = join(dir, 'tokens.yaml');
    const [before, after] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
    const list = (name: string, token: string) => `- name: ${name}\n  token: ${token}\n  namespaces: "*"\n  rights: [decode]\n`;
    writeFileSync(file, list('ci', before));
    try {
      const server = serve(['--port', '0', '--workers', '2', '--auth-tokens-file', file]);
      const port = await listening(server);
      const decodeWith = async (token: string) =>
        (await call(port, {
          path: '/decode',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: '{"payloads":[]}',
          agent: false,
        })).status;
      expect(await decodeWith(before)).toBe(200);
      const lines = (msg: string) =>
        server.stdout().split('\n').filter((line) => line.includes(`"msg":"${msg}"`)).map((line) => JSON.parse(line));
      const waitFor = async (msg: string, count: number) => {
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && lines(msg).length < count) await new Promise((resolve) => setTimeout(resolve, 50));
        return lines(msg);
      };
      writeFileSync(file, list('ci-2026', after));
      // Each worker reloads, whichever comes first: the SIGHUP or its watch of the directory.
      server.child.kill('SIGHUP');
      expect(await waitFor('tokens reloaded', 2)).toHaveLength(2);
      // New connections, spread over both workers.
      for (let i = 0; i < 4; i++) {
        expect(await decodeWith(after)).toBe(200);
        expect(await decodeWith(before)).toBe(401);
      }
      // SIGHUP alone reads the file again in each worker (the file has not changed since: no watch event).
      server.child.kill('SIGHUP');
      const unchanged = await waitFor('tokens unchanged', 2);
      expect(unchanged.map((line) => line.trigger)).toEqual(['SIGHUP', 'SIGHUP']);
      expect(new Set(unchanged.map((line) => line.pid)).size).toBe(2);
      expect(server.stdout()).not.toContain(after);
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('stops with a clear message, not a hung worker, when a crashed worker cannot start on a file broken since', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-tokens-'));
    const file = join(dir, 'tokens.yaml');
    writeFileSync(file, `- name: ci\n  token: ${randomBytes(32).toString('hex')}\n  namespaces: "*"\n  rights: [decode]\n`);
    try {
      const server = serve(['--port', '0', '--workers', '2', '--auth-tokens-file', file]);
      await listening(server);
      writeFileSync(file, '- name: ci\n  token: [');
      server.child.kill('SIGHUP');
      const deadline = Date.now() + 10_000;
      const rejected = () => server.stdout().split('\n').filter((line) => line.includes('"msg":"token reload rejected')).length;
      while (Date.now() < deadline && rejected() < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(rejected()).toBe(2);
      const workers = server.stdout().split('\n').filter((line) => line.includes('"msg":"worker listening"')).map((line) => JSON.parse(line).pid);
      process.kill(workers[0], 'SIGKILL');
      const { code } = await server.exited;
      expect(code).toBe(1);
      expect(server.stderr()).toContain('is not valid YAML or JSON');
      expect(server.stderr()).toContain('temporal-codec: a worker exited with code 1 before listening; see the log');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
