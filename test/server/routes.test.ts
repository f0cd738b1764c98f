import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporal } from '@temporalio/proto';
import { EncryptionCodec, CompressionCodec, KeyRing } from '../../src/index.js';
import { b64, jsonPayload, KEY_OLD, payloadJson, postJson, startServer, testCodecs, testKeyRing, type TestServer } from './helpers.js';

const ENCRYPTED = b64('binary/encrypted');
const ZLIB = b64('binary/zlib');

describe('codec routes', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  const plain = [jsonPayload({ order: 1 }), jsonPayload('two'), jsonPayload({ big: 'x'.repeat(5000) })].map(payloadJson);

  it.each(['/encode', '//encode', '/default/encode', '/api/codec/prod/encode', '/encode?preserveStorageRefs=true'])(
    'encodes at %s, one binary/encrypted payload out per payload in, in order',
    async (path) => {
      const response = await postJson(server, path, { payloads: plain });
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/json');
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers.etag).toBeUndefined();
      const { payloads } = response.json();
      expect(payloads).toHaveLength(3);
      for (const payload of payloads) {
        expect(payload.metadata.encoding).toBe(ENCRYPTED);
        expect(Buffer.from(payload.metadata['encryption-key-id'], 'base64').toString()).toBe('default');
      }
    },
  );

  it.each(['/decode', '//decode', '/my-namespace/decode', '/decode?preserveStorageRefs=true', '//decode?preserveStorageRefs=true'])(
    'decodes at %s what /encode made, same count and order',
    async (path) => {
      const encoded = (await postJson(server, '/encode', { payloads: plain })).json();
      const response = await postJson(server, path, encoded, { 'X-Namespace': 'default' });
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({ payloads: plain });
    },
  );

  it('compresses a large payload before encrypting it, and decode undoes both', async () => {
    const codecs = testCodecs();
    const encoded = (await postJson(server, '/encode', { payloads: [plain[2]] })).json().payloads[0];
    const inner = codecs.encryption!.decryptPayload({
      metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from('default') },
      data: Buffer.from(encoded.data, 'base64'),
    });
    expect(Buffer.from(inner.metadata!.encoding!).toString()).toBe('binary/zlib');
  });

  it('passes through, unchanged, payloads the codec did not make (plain JSON, another codec, null, externalPayloads)', async () => {
    const foreign = [
      plain[0],
      { metadata: { encoding: b64('binary/snappy') }, data: b64('not ours') },
      { metadata: { encoding: b64('binary/null') } },
      { metadata: { encoding: b64('json/plain') }, data: b64('1'), externalPayloads: [{ sizeBytes: '1024' }] },
      {},
    ];
    const response = await postJson(server, '/decode', { payloads: foreign });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ payloads: foreign });
  });

  it('decodes an empty list to an empty list', async () => {
    const response = await postJson(server, '/decode', { payloads: [] });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ payloads: [] });
  });

  it('decodes payloads of a decrypt-only key by their own key id', async () => {
    const old = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ old: KEY_OLD }, 'old') });
    const payload = old.encryptPayload(jsonPayload({ rotated: true }));
    const response = await postJson(server, '/decode', { payloads: [payloadJson(payload)] });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ payloads: [payloadJson(jsonPayload({ rotated: true }))] });
  });

  it('decompresses a binary/zlib payload that is not encrypted, by its own marker', async () => {
    const inner = temporal.api.common.v1.Payload.encode(jsonPayload({ z: 1 })).finish();
    const zlib = { metadata: { encoding: ZLIB }, data: deflateSync(inner).toString('base64') };
    const response = await postJson(server, '/decode', { payloads: [zlib] });
    expect(response.json()).toEqual({ payloads: [payloadJson(jsonPayload({ z: 1 }))] });
  });

  it('answers an unknown path with 404 JSON', async () => {
    const response = await server.call({ method: 'GET', path: '/nope' });
    expect(response.status).toBe(404);
    expect(response.statusText).toBe('Not Found');
    expect(response.json().error.code).toBe('not_found');
    expect(response.json().error.message).toMatch(/POST <prefix>\/encode/);
    expect((await postJson(server, '/decode/', { payloads: [] })).status).toBe(404);
    expect((await postJson(server, '/decoder', { payloads: [] })).status).toBe(404);
  });

  it.each(['/download', '/default/download', '//download?preserveStorageRefs=true'])(
    'answers %s with 404 and a message that external-storage downloads are not supported',
    async (path) => {
      for (const method of ['GET', 'POST']) {
        const response = await server.call({ method, path, headers: { 'Content-Type': 'application/json' }, body: '{}' });
        expect(response.status).toBe(404);
        expect(response.statusText).toBe('Not Found: external storage downloads are not supported');
        expect(response.json().error.code).toBe('download_not_supported');
        expect(response.json().error.message).toMatch(/external-storage downloads/);
      }
    },
  );

  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD'])('answers %s on a codec route with 405 and Allow: POST, OPTIONS', async (method) => {
    for (const path of ['/decode', '/ns/encode']) {
      const response = await server.call({ method, path });
      expect(response.status).toBe(405);
      expect(response.statusText).toBe('Method Not Allowed');
      expect(response.headers.allow).toBe('POST, OPTIONS');
      if (method !== 'HEAD') expect(response.json().error.code).toBe('method_not_allowed');
    }
  });

  it('answers OPTIONS on a codec route with 204 and Allow even without CORS configured', async () => {
    const response = await server.call({ method: 'OPTIONS', path: '/decode' });
    expect(response.status).toBe(204);
    expect(response.headers.allow).toBe('POST, OPTIONS');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('serves /livez and /readyz', async () => {
    const live = await server.call({ method: 'GET', path: '/livez' });
    expect([live.status, live.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await server.call({ method: 'GET', path: '/readyz' });
    expect([ready.status, ready.json()]).toEqual([200, { status: 'ready' }]);
    const post = await server.call({ method: 'POST', path: '/livez' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('emits X-Request-Id, honouring a well-formed one from the caller', async () => {
    const given = await server.call({ method: 'GET', path: '/livez', headers: { 'X-Request-Id': 'trace-abc.123' } });
    expect(given.headers['x-request-id']).toBe('trace-abc.123');
    const made = await server.call({ method: 'GET', path: '/livez', headers: { 'X-Request-Id': 'bad id with spaces\t!' } });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('codec options on the server', () => {
  it('with compression off still inflates binary/zlib payloads on decode and does not compress on encode', async () => {
    const server = await startServer({}, { codecs: testCodecs({ enableCompression: false }) });
    try {
      const big = payloadJson(jsonPayload('y'.repeat(10_000)));
      const encoded = (await postJson(server, '/encode', { payloads: [big] })).json();
      const codecs = testCodecs();
      const inner = codecs.encryption!.decryptPayload({
        metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from('default') },
        data: Buffer.from(encoded.payloads[0].data, 'base64'),
      });
      expect(Buffer.from(inner.metadata!.encoding!).toString()).toBe('json/plain');
      const compressed = new CompressionCodec().compressPayload(jsonPayload('y'.repeat(10_000)));
      const response = await postJson(server, '/decode', { payloads: [payloadJson(compressed)] });
      expect(response.json()).toEqual({ payloads: [big] });
    } finally {
      await server.close();
    }
  });

  it('with encryption off compresses only, and passes binary/encrypted payloads through on decode', async () => {
    const server = await startServer({}, { codecs: testCodecs({ enableEncryption: false }) });
    try {
      const big = payloadJson(jsonPayload('z'.repeat(10_000)));
      const encoded = (await postJson(server, '/encode', { payloads: [big] })).json();
      expect(encoded.payloads[0].metadata.encoding).toBe(ZLIB);
      const encrypted = payloadJson(testCodecs().encryption!.encryptPayload(jsonPayload(1)));
      expect((await postJson(server, '/decode', { payloads: [encrypted] })).json()).toEqual({ payloads: [encrypted] });
    } finally {
      await server.close();
    }
  });

  it('encrypts with the active key id of the ring', async () => {
    const server = await startServer({}, { codecs: testCodecs({}, testKeyRing('old')) });
    try {
      const encoded = (await postJson(server, '/encode', { payloads: [payloadJson(jsonPayload(1))] })).json();
      expect(Buffer.from(encoded.payloads[0].metadata['encryption-key-id'], 'base64').toString()).toBe('old');
    } finally {
      await server.close();
    }
  });
});

describe('namespace seams', () => {
  it('gives authorize the namespace from X-Namespace, else from the path, else "default", and the operation, before the body is read', async () => {
    const seen: [string | undefined, string][] = [];
    const server = await startServer(
      {},
      {
        authorize: (_req, namespace, operation) => {
          seen.push([namespace, operation]);
        },
      },
    );
    try {
      await postJson(server, '/decode', { payloads: [] }, { 'X-Namespace': 'billing' });
      await postJson(server, '/orders/encode', { payloads: [] });
      await postJson(server, '//decode', { payloads: [] });
      await postJson(server, '/orders/decode', { payloads: [] }, { 'X-Namespace': 'billing' });
      expect(seen).toEqual([
        ['billing', 'decode'],
        ['orders', 'encode'],
        ['default', 'decode'],
        ['billing', 'decode'],
      ]);
    } finally {
      await server.close();
    }
  });

  it('answers the HttpError an async authorize hook throws, without reading the body', async () => {
    const { HttpError } = await import('../../src/server/errors.js');
    const server = await startServer(
      {},
      {
        authorize: async (_req, namespace) => {
          if (namespace !== 'allowed') throw new HttpError('forbidden', `no access to namespace ${namespace}`);
        },
      },
    );
    try {
      const refused = await postJson(server, '/decode', { payloads: [] }, { 'X-Namespace': 'secret' });
      expect(refused.status).toBe(403);
      expect(refused.json()).toEqual({ error: { code: 'forbidden', message: 'no access to namespace secret' } });
      expect(refused.headers.connection).toBe('close');
      expect((await postJson(server, '/decode', { payloads: [] }, { 'X-Namespace': 'allowed' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('looks codecs up by namespace; a namespace without codecs gets 404 unknown_namespace', async () => {
    const codecs = testCodecs();
    const server = await startServer({}, { codecsFor: (namespace) => (namespace === 'known' ? codecs : undefined) });
    try {
      expect((await postJson(server, '/known/decode', { payloads: [] })).status).toBe(200);
      const response = await postJson(server, '/other/decode', { payloads: [] });
      expect(response.status).toBe(404);
      expect(response.json()).toEqual({ error: { code: 'unknown_namespace', message: 'no codec is configured for namespace "other"' } });
    } finally {
      await server.close();
    }
  });
});
