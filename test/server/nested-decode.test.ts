/**
 * `/decode` follows each payload's own markers in either nesting: Go's `zlib(encrypted(x))` (its codec list
 * `(zlib, encryption)` encrypts first) as well as ours, `encrypted(zlib(x))`. The Go-shaped payloads are built by hand
 * with node:crypto and node:zlib, exactly as the Go SDK lays them out.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { Payload } from '@temporalio/common';
import protoModule from '@temporalio/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { EncryptionCodec, KeyRing } from '../../src/index.js';
import { buildCodecSet, type NamespaceKeyMap } from '../../src/server/namespaces.js';
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

const PayloadMessage = protoModule.temporal.api.common.v1.Payload;
const utf8 = new TextEncoder();

function serialize(payload: Payload): Uint8Array {
  return PayloadMessage.encode(payload as protoModule.temporal.api.common.v1.IPayload).finish();
}

/** Go's encryption codec: nonce || AES-256-GCM(serialized payload) || tag, the key id in the metadata. */
function goEncrypted(payload: Payload, key: Uint8Array = KEY_DEFAULT, keyId = 'default'): Payload {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(serialize(payload)), cipher.final()]);
  return {
    metadata: { encoding: utf8.encode('binary/encrypted'), 'encryption-key-id': utf8.encode(keyId) },
    data: Buffer.concat([nonce, body, cipher.getAuthTag()]),
  };
}

/** Go's ZlibCodec: a zlib stream of the serialized payload. */
function goZlib(payload: Payload): Payload {
  return { metadata: { encoding: utf8.encode('binary/zlib') }, data: deflateSync(serialize(payload)) };
}

/** What `NewCodecDataConverter(parent, NewZlibCodec{AlwaysEncode: true}, &EncryptionCodec)` writes. */
function goPayload(payload: Payload, key: Uint8Array = KEY_DEFAULT, keyId = 'default'): Payload {
  return goZlib(goEncrypted(payload, key, keyId));
}

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

  it('answers a payload nesting more than 4 layers with 422 decompression_failed', async () => {
    const s = await server();
    const atLimit = goZlib(goEncrypted(goZlib(goEncrypted(jsonPayload('deep')))));
    const ok = await postJson(s, '/decode', { payloads: [payloadJson(atLimit)] });
    expect(ok.status, ok.text).toBe(200);
    expect(values(ok.json())).toEqual(['deep']);

    const response = await postJson(s, '/decode', { payloads: [payloadJson(jsonPayload(1)), payloadJson(goZlib(atLimit))] });
    expect(response.status).toBe(422);
    expect(response.statusText).toBe('Unprocessable Entity: decompression failed');
    expect(response.json()).toEqual({
      error: {
        code: 'decompression_failed',
        message: 'payloads[1]: decompression failed: the payload nests more than 4 binary/zlib and binary/encrypted layers',
      },
    });
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

  it('applies --max-decompressed-bytes to an inner binary/zlib layer', async () => {
    const s = await server({}, { codecs: testCodecs({ maxDecompressedBytes: 20_000 }) });
    const inner = goZlib(jsonPayload('z'.repeat(50_000)));
    const response = await postJson(s, '/decode', { payloads: [payloadJson(goPayload(inner))] });
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
