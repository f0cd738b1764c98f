import { connect } from 'node:net';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec, KeyRing } from '../../src/index.js';
import { b64, jsonPayload, KEY_DEFAULT, KEY_OLD, logOf, payloadJson, postJson, startServer, testCodecs, type TestServer } from './helpers.js';

const SECRET = 'top-secret-customer-record-4711';
const secretPayload = payloadJson(jsonPayload({ ssn: SECRET }));
const encryptedSecret = payloadJson(testCodecs().encryption!.encryptPayload(jsonPayload({ ssn: SECRET })));

/** A body must name the problem and hold neither payload bytes nor key material. */
function expectSafeError(text: string): void {
  for (const forbidden of [
    SECRET,
    secretPayload.data!,
    encryptedSecret.data!,
    KEY_DEFAULT.toString('base64'),
    KEY_DEFAULT.toString('hex'),
    KEY_OLD.toString('base64'),
  ]) {
    expect(text).not.toContain(forbidden);
  }
  expect(text).not.toMatch(/\n\s+at /); // no stack trace
}

describe('errors', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ bodyLimit: 64 * 1024, maxPayloads: 5 });
  });
  afterAll(() => server.close());

  const json = { 'Content-Type': 'application/json' };

  it('answers an unknown payload member with 400 on /encode (it cannot be stored) and carries it through /decode', async () => {
    const body = '{"payloads": [{"datum": "AA=="}]}';
    const encoded = await server.call({ path: '/ns/encode', headers: json, body });
    expect(encoded.status).toBe(400);
    expect(encoded.json()).toEqual({ error: { code: 'invalid_payloads', message: 'payloads[0].datum: unknown field' } });
    const decoded = await server.call({ path: '/decode', headers: json, body });
    expect(decoded.status).toBe(200);
    expect(decoded.json()).toEqual({ payloads: [{ datum: 'AA==' }] });
  });

  it.each([
    ['malformed JSON', `{"payloads": [${JSON.stringify(secretPayload)}`, 'invalid_json', 'the request body is not valid JSON'],
    ['an empty body', '', 'invalid_json', 'the request body is empty; send {"payloads": [...]}'],
    ['a JSON array', `[${JSON.stringify(secretPayload)}]`, 'invalid_payloads', 'expected an object of the form {"payloads": [...]}'],
    ['payloads not an array', '{"payloads": {"0": {}}}', 'invalid_payloads', 'expected an object of the form {"payloads": [...]}'],
    ['a payload that is not an object', '{"payloads": [1]}', 'invalid_payloads', 'payloads[0]: expected an object'],
    ['bad base64 in data', `{"payloads": [{"data": "${SECRET}!!"}]}`, 'invalid_payloads', 'payloads[0].data: not valid base64'],
    ['bad base64 in metadata', '{"payloads": [{}, {"metadata": {"encoding": "%%%"}}]}', 'invalid_payloads', 'payloads[1].metadata.encoding: not valid base64'],
    ['too many payloads', JSON.stringify({ payloads: Array(6).fill(secretPayload) }), 'too_many_payloads', '6 payloads in one request; at most 5 are allowed (--max-payloads)'],
  ])('answers %s with 400', async (_name, body, code, message) => {
    for (const path of ['/decode', '/ns/encode']) {
      const response = await server.call({ path, headers: json, body });
      expect(response.status).toBe(400);
      expect(response.statusText).toMatch(/^Bad Request/);
      expect(response.json()).toEqual({ error: { code, message } });
      expectSafeError(response.text);
    }
  });

  it.each([
    ['no Content-Type', {}, 'Content-Type must be application/json; the request has none'],
    ['text/plain', { 'Content-Type': 'text/plain' }, 'Content-Type must be application/json, not "text/plain"'],
    ['a form', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'Content-Type must be application/json, not "application/x-www-form-urlencoded"'],
    ['a non-UTF-8 charset', { 'Content-Type': 'application/json; charset=latin1' }, 'charset "latin1" is not supported; JSON is UTF-8'],
    ['a gzip body', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, 'Content-Encoding "gzip" is not supported; send the body uncompressed'],
  ])('answers %s with 415', async (_name, headers, message) => {
    const response = await server.call({ path: '/decode', headers, body: JSON.stringify({ payloads: [secretPayload] }) });
    expect(response.status).toBe(415);
    expect(response.statusText).toBe('Unsupported Media Type: send application/json');
    expect(response.json()).toEqual({ error: { code: 'unsupported_media_type', message } });
  });

  it('accepts application/json with a UTF-8 charset, in any case', async () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/json; charset=utf8']) {
      const response = await server.call({ path: '/decode', headers: { 'Content-Type': type }, body: '{"payloads":[]}' });
      expect(response.status).toBe(200);
    }
  });

  it('refuses a declared Content-Length over the limit with 413 before reading the body, and closes the connection', async () => {
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => {
        socket.write('POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"payl');
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 413 Payload Too Large: request body\r\n/);
    expect(response).toMatch(/\r\nConnection: close\r\n/i);
    expect(response).toContain('{"error":{"code":"body_too_large","message":"the request body is 10000000 bytes; the limit is 64 KiB (--body-limit)"}}');
  });

  it('stops a chunked body at the limit with 413 while it streams, and keeps serving', async () => {
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => {
        socket.write('POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
        const chunk = Buffer.alloc(16 * 1024, 'a');
        let sent = 0;
        const pump = (): void => {
          // Keep sending until the server answers and closes; far past the 64 KiB limit.
          if (socket.destroyed || sent > 10 * 1024 * 1024) return;
          sent += chunk.length;
          socket.write(`${chunk.length.toString(16)}\r\n`);
          socket.write(chunk);
          socket.write('\r\n', () => setImmediate(pump));
        };
        pump();
      });
      let text = '';
      socket.on('data', (data) => (text += data.toString()));
      socket.on('end', () => resolve(text));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text || 'socket error'));
      void reject;
    });
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toContain('"code":"body_too_large","message":"the request body is larger than 64 KiB (--body-limit)"');
    expect((await server.call({ method: 'GET', path: '/livez' })).status).toBe(200);
  });

  /** Writes `request` on a fresh connection and resolves with everything the server sends until it closes. */
  function rawExchange(request: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write(request));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
  }

  it('answers an Expect other than 100-continue with a JSON 417 and closes the connection', async () => {
    const response = await rawExchange(
      'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 200-ok\r\nContent-Length: 15\r\n\r\n{"payloads":[]}',
    );
    expect(response).toMatch(/^HTTP\/1\.1 417 Expectation Failed\r\n/);
    expect(response).toMatch(/\r\nContent-Type: application\/json\r\n/i);
    expect(response).toMatch(/\r\nConnection: close\r\n/i);
    expect(response).toContain('{"error":{"code":"expectation_failed","message":"the only Expect this server supports is 100-continue"}}');
  });

  it('answers an HTTP/1.1 request without Host with a JSON 400, and an HTTP/1.0 one without Host normally', async () => {
    const missing = await rawExchange('GET /livez HTTP/1.1\r\n\r\n');
    expect(missing).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(missing).toMatch(/\r\nX-Request-Id: /i);
    expect(missing).toContain('{"error":{"code":"bad_request","message":"an HTTP/1.1 request needs a Host header"}}');
    const old = await rawExchange('GET /livez HTTP/1.0\r\n\r\n');
    expect(old).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('answers a payload encrypted under an unknown key id with 422, naming the index and key id, not the data', async () => {
    const stranger = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ retired: Buffer.alloc(32, 7) }, 'retired') });
    const payloads = [encryptedSecret, payloadJson(stranger.encryptPayload(jsonPayload({ ssn: SECRET })))];
    const response = await postJson(server, '/decode', { payloads });
    expect(response.status).toBe(422);
    expect(response.statusText).toBe('Unprocessable Entity: decryption failed');
    expect(response.json()).toEqual({
      error: {
        code: 'decryption_failed',
        message:
          'payloads[1]: decryption operation failed for encryption-key-id "retired": the key is not configured, or ' +
          'the payload was altered or encrypted with a different key',
      },
    });
    expectSafeError(response.text);
  });

  it('answers a tampered ciphertext with the same 422 as an unknown key', async () => {
    const data = Buffer.from(encryptedSecret.data!, 'base64');
    data[20]! ^= 1;
    const response = await postJson(server, '/decode', { payloads: [{ ...encryptedSecret, data: data.toString('base64') }] });
    expect(response.status).toBe(422);
    expect(response.json().error.message).toBe(
      'payloads[0]: decryption operation failed for encryption-key-id "default": the key is not configured, or the ' +
        'payload was altered or encrypted with a different key',
    );
    expectSafeError(response.text);
  });

  it('answers a broken zlib stream with 422 decompression_failed', async () => {
    const broken = { metadata: { encoding: b64('binary/zlib') }, data: deflateSync(Buffer.from(SECRET)).subarray(0, 8).toString('base64') };
    const response = await postJson(server, '/decode', { payloads: [secretPayload, broken] });
    expect(response.status).toBe(422);
    expect(response.statusText).toBe('Unprocessable Entity: decompression failed');
    expect(response.json()).toEqual({
      error: { code: 'decompression_failed', message: 'payloads[1]: decompression failed: the binary/zlib payload is not a valid zlib stream' },
    });
  });

  it('answers a 500 for a bug with a plain message and the request id, logging the stack with that id', async () => {
    const broken = await startServer(
      {},
      {
        codecsFor: () => {
          throw new Error(`bug holding ${SECRET}`);
        },
      },
    );
    try {
      const response = await postJson(broken, '/decode', { payloads: [secretPayload] }, { 'X-Request-Id': 'req-500' });
      expect(response.status).toBe(500);
      expect(response.statusText).toBe('Internal Server Error');
      expect(response.json()).toEqual({ error: { code: 'internal', message: 'internal error (request id req-500)' } });
      expectSafeError(response.text);
      await new Promise((resolve) => setImmediate(resolve));
      const line = logOf(broken, 'req-500')!;
      expect(line.level).toBe('error');
      expect(line.err.message).toBe(`bug holding ${SECRET}`);
      expect(line.err.stack).toMatch(/\n\s+at /);
      expect(line.error).toEqual({ code: 'internal', message: 'internal error (request id req-500)' });
      expect((await broken.call({ method: 'GET', path: '/livez' })).status).toBe(200);
    } finally {
      await broken.close();
    }
  });
});

describe('decompression limits', () => {
  it('answers a 200 MiB zlib bomb, encrypted, with 422 and keeps serving', async () => {
    const server = await startServer();
    try {
      const bomb = deflateSync(Buffer.alloc(200 * 1024 * 1024));
      const payload = testCodecs().encryption!.encryptPayload({ metadata: { encoding: Buffer.from('binary/zlib') }, data: bomb });
      const response = await postJson(server, '/decode', { payloads: [payloadJson(payload)] });
      expect(response.status).toBe(422);
      expect(response.statusText).toBe('Unprocessable Entity: payload inflates past the limit');
      expect(response.json()).toEqual({
        error: {
          code: 'decompressed_too_large',
          message: 'payloads[0]: decompression failed: the binary/zlib payload inflates to more than 67108864 bytes (maxDecompressedBytes)',
        },
      });
      expect((await postJson(server, '/decode', { payloads: [secretPayload] })).status).toBe(200);
    } finally {
      await server.close();
    }
  }, 30_000);

  it('caps what all payloads of one request inflate to together with 413 decoded_too_large', async () => {
    const codecs = testCodecs({ maxDecompressedBytes: 1024 * 1024 });
    const server = await startServer({ maxDecodedBytes: 2 * 1024 * 1024 }, { codecs });
    try {
      // Each inflates to just under the per-payload cap; three of them pass the per-request cap.
      const payload = codecs.compression.compressPayload(jsonPayload('a'.repeat(1000 * 1000)));
      const one = payloadJson(payload);
      expect((await postJson(server, '/decode', { payloads: [one, one] })).status).toBe(200);
      const response = await postJson(server, '/decode', { payloads: [one, one, one] });
      expect(response.status).toBe(413);
      expect(response.statusText).toBe('Payload Too Large: decoded payloads');
      expect(response.json()).toEqual({
        error: {
          code: 'decoded_too_large',
          message: 'the decoded payloads exceed 2 MiB in total (--max-decoded-bytes); send fewer payloads per request',
        },
      });
    } finally {
      await server.close();
    }
  });
});
