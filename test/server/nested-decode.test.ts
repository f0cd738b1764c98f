/**
 * `/decode` follows each payload's own markers in either nesting: Go's `zlib(encrypted(x))` (its codec list
 * `(zlib, encryption)` encrypts first) as well as ours, `encrypted(zlib(x))`. The Go-shaped payloads are built by hand
 * with node:crypto and node:zlib, exactly as the Go SDK lays them out.
 */
import { randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import { EncryptionCodec, KeyRing } from '../../src/index.js';
import { buildCodecSet, type NamespaceKeyMap } from '../../src/server/namespaces.js';
import { goEncrypted as goEncryptedWith, goPayload as goPayloadWith, goZlib } from '../helpers/go-payloads.js';
import { codecHeaders } from './auth-helpers.js';
import {
  KEY_DEFAULT,
  KEY_OLD,
  jsonPayload,
  payloadJson,
  postJson,
  startServer,
  testCodecs,
  type TestServer,
} from './helpers.js';

/** Go's payloads (test/helpers/go-payloads.ts) under the key `default` unless told otherwise. */
const goEncrypted = (payload: Payload, key: Uint8Array = KEY_DEFAULT, keyId = 'default'): Payload =>
  goEncryptedWith(payload, key, keyId);
const goPayload = (payload: Payload, key: Uint8Array = KEY_DEFAULT, keyId = 'default'): Payload =>
  goPayloadWith(payload, key, keyId);

/** The JSON values of the payloads of a /decode answer. */
function values(body: { payloads: { metadata: Record<string, string>; data?: string }[] }): unknown[] {
  return body.payloads.map((p) => {
    expect(Buffer.from(p.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    return JSON.parse(Buffer.from(p.data ?? '', 'base64').toString());
  });
}

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function server(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const started = await startServer(...args);
  servers.push(started);
  return started;
}

describe('/decode of nested payloads', () => {
  it("decodes Go's zlib(encrypted(x)) next to ours and plain payloads, counting every payload", async () => {
    const s = await server();
    const ours = testCodecs().encryption!.encryptPayload(testCodecs().compression.compressPayload(jsonPayload({ big: 'y'.repeat(5000) })));
    const payloads = [
      goPayload(jsonPayload({ from: 'go', n: 1 })),
      goPayload(jsonPayload({ from: 'go', key: 'old' }), KEY_OLD, 'old'),
      ours,
      jsonPayload('plain'),
    ].map(payloadJson);
    expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/zlib');

    const response = await postJson(s, '/decode', { payloads });
    expect(response.status, response.text).toBe(200);
    expect(values(response.json())).toEqual([{ from: 'go', n: 1 }, { from: 'go', key: 'old' }, { big: 'y'.repeat(5000) }, 'plain']);
  });

  it('charges what a padded inner layer inflates to against --max-decoded-bytes, not the small payload inside', async () => {
    const s = await server({ maxDecodedBytes: 1024 * 1024 });
    const padded = goEncrypted(jsonPayload('small'));
    padded.metadata!.pad = new Uint8Array(600_000);
    const one = await postJson(s, '/decode', { payloads: [payloadJson(goZlib(padded))] });
    expect(one.status, one.text).toBe(200);
    expect(values(one.json())).toEqual(['small']);
    // Two of them inflate 1.2 MB for a few hundred bytes of answer: refused, as two 600 KB plain payloads would be.
    const two = await postJson(s, '/decode', { payloads: [payloadJson(goZlib(padded)), payloadJson(goZlib(padded))] });
    expect(two.status).toBe(413);
    expect(two.json().error.code).toBe('decoded_too_large');
  });

  it('answers an inner layer under an unknown key with 422 decryption_failed naming the inner key id, not the data', async () => {
    const s = await server();
    const stranger = randomBytes(32);
    const payload = payloadJson(goPayload(jsonPayload({ ssn: '078-05-1120' }), stranger, 'retired'));
    const response = await postJson(s, '/decode', { payloads: [payload] });
    expect(response.status).toBe(422);
    expect(response.json()).toEqual({
      error: {
        code: 'decryption_failed',
        message:
          'payloads[0]: decryption operation failed for encryption-key-id "retired": the key is not configured, or ' +
          'the payload was altered or encrypted with a different key',
      },
    });
    for (const secret of [stranger.toString('base64'), KEY_DEFAULT.toString('base64'), '078-05-1120', payload.data!]) {
      expect(response.text.includes(secret)).toBe(false);
    }
  });

  it("counts a Go payload under the key id inside it, in the metrics and on the request line", async () => {
    const s = await server();
    const response = await postJson(s, '/decode', { payloads: [payloadJson(goPayload(jsonPayload(1), KEY_OLD, 'old'))] });
    expect(response.status, response.text).toBe(200);
    const text = await s.codecServer.metrics.registry.metrics();
    expect(text).toMatch(/temporal_codec_payloads_total\{operation="decode",namespace="[^"]*",key_id="old"\} 1/);
    expect(text).not.toMatch(/temporal_codec_payloads_total\{operation="decode",[^}]*key_id="none"\}/);
  });

  it("applies --max-decompressed-bytes to Go's binary/zlib layer", async () => {
    const s = await server({}, { codecs: testCodecs({ maxDecompressedBytes: 20_000 }) });
    const response = await postJson(s, '/decode', { payloads: [payloadJson(goPayload(jsonPayload('z'.repeat(50_000))))] });
    expect(response.status).toBe(422);
    expect(response.json().error).toEqual({
      code: 'decompressed_too_large',
      message:
        'payloads[0]: decompression failed: the binary/zlib payload inflates to more than 20000 bytes (maxDecompressedBytes)',
    });
  });
});

describe('/decode of nested payloads with namespace keys', () => {
  const ring = KeyRing.fromKeys({ default: KEY_DEFAULT, old: KEY_OLD }, 'default');
  const map: NamespaceKeyMap = new Map([
    ['current', { keyIds: ['default'] }],
    ['legacy', { keyIds: ['old'], activeKeyId: 'old' }],
  ]);

  it("decodes a Go payload of the namespace's key and refuses an inner key id of another namespace with 403", async () => {
    const { codecsFor } = buildCodecSet({}, ring, map);
    const s = await server({}, { codecsFor });
    const post = (namespace: string, payload: Payload) =>
      s.call({ path: '/decode', headers: codecHeaders(undefined, namespace), body: JSON.stringify({ payloads: [payloadJson(payload)] }) });

    const allowed = await post('legacy', goPayload(jsonPayload('legacy data'), KEY_OLD, 'old'));
    expect(allowed.status, allowed.text).toBe(200);
    expect(values(allowed.json())).toEqual(['legacy data']);

    // The outer layer is binary/zlib, which carries no key id: the restriction must reach the layer inside.
    for (const payload of [
      goPayload(jsonPayload('legacy data'), KEY_OLD, 'old'),
      goZlib(new EncryptionCodec({ keyRing: ring.withActiveKeyId('old') }).encryptPayload(jsonPayload('ours, inside zlib'))),
    ]) {
      const refused = await post('current', payload);
      expect(refused.status).toBe(403);
      expect(refused.statusText).toBe('Forbidden: key not allowed in this namespace');
      expect(refused.json().error).toEqual({
        code: 'forbidden',
        message:
          'a payload encrypted with key id "old" may not be decoded in namespace "current": that key id is not ' +
          "one of the namespace's keys",
      });
    }
  });
});
