/** SIGHUP and key-directory changes in a real `temporal-codec serve` process, alone and as a cluster of workers. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call, jsonPayload, payloadJson } from './helpers.js';
import { keyFile, writeSecretDir } from './key-reload-helpers.js';
import { killSpawnedAfterEach, spawnServe } from './spawn-serve.js';

killSpawnedAfterEach();

const serve = (args: string[]) => spawnServe(['--port', '0', '--log-level', 'info', ...args]);

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const encodeBody = JSON.stringify({ payloads: [payloadJson(jsonPayload({ hello: 'world' }))] });
const keyIdOf = (text: string): string =>
  Buffer.from(JSON.parse(text).payloads[0].metadata['encryption-key-id'], 'base64').toString();

describe('key reload in the serve process', () => {
  for (const workers of [1, 2]) {
    it(`with --workers ${workers}: SIGHUP reloads in every worker without exiting, and a Secret update rotates the key`, async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'codec-serve-keys-')), 'keys');
      const k1 = keyFile();
      writeSecretDir(dir, { k1, '.active-key-id': 'k1' });
      const server = serve(['--workers', String(workers), '--keys-dir', dir]);
      const listening = await until('listening', () =>
        server.lines().find((l) => l.msg === 'codec server listening' && (workers === 1 || l.workers === workers)),
      );
      const port = Number(new URL(listening.url).port);
      const encode = () => call(port, { path: '/encode', headers: { 'Content-Type': 'application/json' }, body: encodeBody });
      expect(keyIdOf((await encode()).text)).toBe('k1');

      server.child.kill('SIGHUP');
      const unchanged = await until('every worker to answer SIGHUP', () => {
        const found = server.lines().filter((l) => l.msg === 'keys unchanged' && l.trigger === 'SIGHUP');
        return found.length === workers ? found : undefined;
      });
      expect(new Set(unchanged.map((l) => l.pid)).size).toBe(workers);
      if (workers > 1) expect(server.lines().some((l) => l.msg === 'SIGHUP: asking every worker to reload its keys and tokens')).toBe(true);
      expect(server.child.exitCode).toBeNull();
      expect((await encode()).status).toBe(200);

      writeSecretDir(dir, { k1, k2: keyFile(), '.active-key-id': 'k2' });
      const reloaded = await until('every worker to reload', () => {
        const found = server.lines().filter((l) => l.msg === 'keys reloaded');
        return new Set(found.map((l) => l.pid)).size === workers ? found : undefined;
      });
      expect(reloaded[0]).toMatchObject({ activeKeyId: 'k2', added: ['k2'] });
      for (let i = 0; i < 10; i++) expect(keyIdOf((await encode()).text)).toBe('k2');

      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    }, 90_000);
  }
});
