import { createCipheriv, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, jsonPayload, KEY_DEFAULT, payloadJson, postJson, startServer, testCodecs, type TestServer } from './helpers.js';

const codecs = testCodecs();
const validEncrypted = payloadJson(codecs.encryption!.encryptPayload(jsonPayload({ fuzz: 'seed'.repeat(400) })));
const validCompressed = payloadJson(codecs.compression.compressPayload(jsonPayload({ fuzz: 'z'.repeat(4000) })));

/** AES-GCM under the server's real key around bytes that are not a Payload: decrypts, then fails to parse. */
function encryptRaw(plaintext: Uint8Array): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', KEY_DEFAULT, nonce, { authTagLength: 16 });
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

// Header values the Node client accepts: printable ASCII and tab, no CR/LF.
const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
const base64Text = fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('base64'));
const junkText = fc.oneof(fc.string({ maxLength: 40 }), base64Text, fc.constantFrom('', '=', '====', 'A', 'AA=A', '-_', '%%'));
const metadataValue = fc.oneof(base64Text, junkText, fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }));

const payloadLike = fc.oneof(
  fc.record(
    {
      metadata: fc.oneof(
        fc.dictionary(fc.oneof(fc.constantFrom('encoding', 'encryption-key-id', '__proto__', 'constructor'), fc.string({ maxLength: 12 })), metadataValue, { maxKeys: 4 }),
        fc.constant(null),
        fc.string({ maxLength: 5 }),
        fc.array(fc.integer(), { maxLength: 2 }),
      ),
      data: fc.oneof(base64Text, junkText, fc.integer(), fc.constant(null), fc.object({ maxDepth: 1 })),
      externalPayloads: fc.oneof(fc.constant(undefined), fc.array(fc.oneof(fc.record({ sizeBytes: fc.oneof(fc.integer(), junkText) }), fc.integer()), { maxLength: 2 })),
      extra: fc.anything({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ),
  // Codec markers around bytes that are not what the marker promises.
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('default') }, data: Buffer.from(bytes).toString('base64') })),
  fc.tuple(fc.string({ maxLength: 20 }), fc.uint8Array({ minLength: 28, maxLength: 100 })).map(([keyId, bytes]) => ({ metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64(keyId) }, data: Buffer.from(bytes).toString('base64') })),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('default') }, data: encryptRaw(bytes) })),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ metadata: { encoding: b64('binary/zlib') }, data: Buffer.from(bytes).toString('base64') })),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ metadata: { encoding: b64('binary/zlib') }, data: deflateSync(bytes).toString('base64') })),
  // Valid payloads with one byte flipped or cut short.
  fc.tuple(fc.constantFrom(validEncrypted, validCompressed), fc.nat(), fc.boolean()).map(([payload, at, cut]) => {
    const data = Buffer.from(payload.data!, 'base64');
    const i = at % data.length;
    if (cut) return { ...payload, data: data.subarray(0, i).toString('base64') };
    data[i]! ^= 1 << at % 8;
    return { ...payload, data: data.toString('base64') };
  }),
  fc.constantFrom(validEncrypted, validCompressed),
);

const body = fc.oneof(
  { weight: 6, arbitrary: fc.array(payloadLike, { maxLength: 6 }).map((payloads) => JSON.stringify({ payloads })) },
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc.array(payloadLike, { maxLength: 6 }).map((payloads) => JSON.stringify({ payloads })),
  fc.array(payloadLike, { maxLength: 3 }).map((payloads) => JSON.stringify({ payloads, other: 1 })),
  fc.tuple(fc.array(payloadLike, { minLength: 1, maxLength: 3 }), fc.nat()).map(([payloads, cut]) => {
    const text = JSON.stringify({ payloads });
    return text.slice(0, cut % text.length);
  }),
  fc.integer({ min: 1, max: 40 }).map((kib) => `{"payloads":[{"data":"${'A'.repeat(kib * 1024)}"}]}`),
  fc.constant(`{"payloads":[${Array(30).fill('{}').join(',')}]}`),
  // Members carried through on /decode, nested up to 7000 deep (about 14 KB): writing the answer must never fail.
  fc.tuple(fc.integer({ min: 1, max: 7000 }), fc.boolean(), fc.boolean()).map(([depth, arrays, inPayload]) => {
    const nested = arrays ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return inPayload
      ? `{"payloads":[{"data":"AA==","future":${nested}}]}`
      : `{"payloads":[{"externalPayloads":[{"sizeBytes":"1","x":${nested}}]}]}`;
  }),
);

const path = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('/decode', '/encode', '//decode', '/ns/decode', '/decode?preserveStorageRefs=true') },
  fc.constantFrom('/decode', '/encode', '//decode', '/ns/decode', '/a/b/encode', '/decode?preserveStorageRefs=true', '/download', '/livez', '/readyz', '/metrics', '/', '/%E0%A4%A/decode', '/decode/'),
  fc.webPath(),
  fc.tuple(fc.webSegment(), fc.constantFrom('/encode', '/decode', '/download')).map(([segment, route]) => `/${segment}${route}`),
);

const request = fc.record({
  method: fc.oneof({ weight: 20, arbitrary: fc.constant('POST') }, fc.constantFrom('GET', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'HEAD')),
  path,
  contentType: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
    fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON', 'text/plain', 'application/json;;;', 'application/json; charset'),
    headerText,
    fc.constant(undefined),
  ),
  namespace: fc.option(headerText),
  requestId: fc.option(headerText),
  origin: fc.option(fc.oneof(fc.constantFrom('https://ui.example.com', 'null'), headerText)),
  authorization: fc.option(headerText),
  contentEncoding: fc.oneof({ weight: 15, arbitrary: fc.constant(null) }, fc.constantFrom('identity', 'gzip', 'br', 'x')),
  body,
});

describe('malformed requests', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ bodyLimit: 16 * 1024, maxPayloads: 20, corsOrigins: ['https://ui.example.com'] });
  });
  afterAll(() => server.close());

  it('never get a 5xx from 10,000 random bodies and headers, and the server keeps serving', async () => {
    const statuses = new Map<number, number>();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        runs++;
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['Content-Type'] = r.contentType;
        if (r.namespace !== null) headers['X-Namespace'] = r.namespace;
        if (r.requestId !== null) headers['X-Request-Id'] = r.requestId;
        if (r.origin !== null) headers.Origin = r.origin;
        if (r.authorization !== null) headers.Authorization = r.authorization;
        if (r.contentEncoding !== null) headers['Content-Encoding'] = r.contentEncoding;
        const response = await server.call({ method: r.method, path: r.path, headers, body: r.body });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (runs === 10_000) console.log([...statuses].sort());
        expect(response.status).toBeLessThan(500);
        if (response.status >= 400 && r.method !== 'HEAD') {
          expect(response.headers['content-type']).toBe('application/json');
          expect(Object.keys(response.json())).toEqual(['error']);
          expect(response.statusText).not.toBe('');
        }
      }),
      { numRuns: 10_000, endOnFailure: true },
    );
    expect(runs).toBeGreaterThanOrEqual(10_000);
    // The mix reached every kind of answer, so the property tested something.
    for (const status of [200, 400, 404, 405, 413, 415, 422]) expect(statuses.get(status) ?? 0).toBeGreaterThan(0);
    expect(await postJson(server, '/decode', { payloads: [validEncrypted] }).then((r) => r.status)).toBe(200);
    expect((await server.call({ method: 'GET', path: '/livez' })).status).toBe(200);
  }, 180_000);

  it('answers malformed HTTP with a 4xx JSON error or a close, never a 5xx', async () => {
    const line = fc.oneof(
      fc.string({ unit: 'binary-ascii', maxLength: 200 }),
      fc.constantFrom(
        'GET / HTTP/9.9\r\n\r\n',
        'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
        'POST /decode HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
        'POST /decode HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
        `GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        'GET /livez HTTP/1.1\r\nHo st: x\r\n\r\n',
        'GET /livez HTTP/1.1\r\n\r\n',
        '\u0000\u0001\u0002\r\n\r\n',
      ),
    );
    await fc.assert(
      fc.asyncProperty(line, async (raw) => {
        const answer = await new Promise<string>((resolve) => {
          let text = '';
          const socket = connect(server.port, '127.0.0.1', () => socket.end(raw, 'latin1'));
          socket.setTimeout(2000, () => socket.destroy());
          socket.on('data', (chunk) => (text += chunk.toString('latin1')));
          socket.on('close', () => resolve(text));
          socket.on('error', () => {});
        });
        const status = /^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1];
        if (status) expect(Number(status)).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    expect((await server.call({ method: 'GET', path: '/livez' })).status).toBe(200);
  }, 60_000);
});
