import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { jsonPayload, logLines, logOf, payloadJson, startServer, type TestServer } from './helpers.js';

const UI = 'http://localhost:8233';

/** A raw connection that collects what the server sends and resolves `closed` when it closes. */
function rawConnection(
  port: number,
  allowHalfOpen = false,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let text = '';
    // Half-open, the client can go on sending its body after the server's answer and FIN.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen });
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** Status line, headers (lower-case names) and body of one raw HTTP/1.1 response. */
function parseResponse(raw: string): { statusLine: string; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusLine: statusLine!, headers, body: raw.slice(end + 4) };
}

async function requestCounts(server: TestServer): Promise<string[]> {
  const text = await server.codecServer.metrics.registry.metrics();
  return text.split('\n').filter((line) => line.startsWith('temporal_codec_http_requests_total{'));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually<T>(read: () => T | undefined): Promise<T | undefined> {
  for (let i = 0; i < 100; i++) {
    const value = read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/** Timeouts short enough for a test: headers in 200 ms, the whole request in 400 ms, checked every 50 ms. */
const SHORT_TIMEOUTS = { headersTimeout: 200, requestTimeout: 400, connectionsCheckingInterval: 50 };

/**
 * After a request answered 408 mid-body has closed: no payload was decoded, the request is counted once (408 under
 * its route) and has one log line, which is returned.
 */
async function expectOneTimeoutNothingDecoded(server: TestServer, requestId: string): Promise<Record<string, unknown>[]> {
  await sleep(50);
  const text = await server.codecServer.metrics.registry.metrics();
  expect(text).not.toContain('temporal_codec_payloads_total{');
  expect(await requestCounts(server)).toEqual(['temporal_codec_http_requests_total{route="decode",status="408"} 1']);
  const lines = logLines(server).filter((line) => line.requestId === requestId);
  expect(lines).toHaveLength(1);
  return lines;
}

describe('a request Node refuses (timed out, malformed)', () => {
  it('timing out mid-body is answered 408 through its response: CORS, Vary and request id headers, counted and logged once as 408', async () => {
    const server = await startServer({ corsOrigins: [UI], ...SHORT_TIMEOUTS });
    try {
      const { socket, received, closed } = await rawConnection(server.port);
      socket.write(
        'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n' +
          `Origin: ${UI}\r\nX-Namespace: billing\r\nX-Request-Id: slow-body-1\r\n\r\n{"pay`,
      );
      await closed;
      const { statusLine, headers, body } = parseResponse(received());
      expect(statusLine).toBe('HTTP/1.1 408 Request Timeout');
      expect(headers).toMatchObject({
        'access-control-allow-origin': UI,
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': 'X-Request-Id',
        vary: 'Origin',
        'x-request-id': 'slow-body-1',
        'content-type': 'application/json',
        connection: 'close',
      });
      expect(JSON.parse(body)).toEqual({
        error: { code: 'request_timeout', message: 'the request was not received in time' },
      });

      const line = await eventually(() => logOf(server, 'slow-body-1'));
      expect(line).toMatchObject({
        msg: 'request completed',
        res: { statusCode: 408 },
        route: 'decode',
        namespace: 'billing',
        error: { code: 'request_timeout', message: 'the request was not received in time' },
      });
      expect(server.logs.filter((l) => l.includes('slow-body-1'))).toHaveLength(1);
      expect(await requestCounts(server)).toEqual(['temporal_codec_http_requests_total{route="decode",status="408"} 1']);
      expect((await server.call({ method: 'GET', path: '/livez' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('timing out mid-body does not decode a body that arrives after its 408', async () => {
    const server = await startServer(SHORT_TIMEOUTS);
    try {
      const body = JSON.stringify({ payloads: [payloadJson(jsonPayload({ late: true }))] });
      const { socket, received, closed } = await rawConnection(server.port, true);
      socket.write(
        'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${body.length}\r\nX-Request-Id: late-body-1\r\n\r\n${body.slice(0, 5)}`,
      );
      await eventually(() => (received().includes('request_timeout') ? true : undefined));
      expect(received()).toMatch(/^HTTP\/1\.1 408 /);
      socket.end(body.slice(5));
      await closed;
      await expectOneTimeoutNothingDecoded(server, 'late-body-1');
    } finally {
      await server.close();
    }
  });

  it('timing out while its token is being verified is answered 408 once, and its body is not read when the verdict comes', async () => {
    let verdict: () => void = () => {};
    const authorize = () => new Promise<void>((resolve) => (verdict = resolve));
    const server = await startServer({ corsOrigins: [UI], ...SHORT_TIMEOUTS }, { authorize });
    try {
      const body = JSON.stringify({ payloads: [payloadJson(jsonPayload({ late: true }))] });
      const { socket, received, closed } = await rawConnection(server.port, true);
      socket.write(
        'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${body.length}\r\nOrigin: ${UI}\r\nX-Request-Id: slow-auth-1\r\n\r\n${body.slice(0, 5)}`,
      );
      await eventually(() => (received().includes('request_timeout') ? true : undefined));
      const { statusLine, headers } = parseResponse(received());
      expect(statusLine).toBe('HTTP/1.1 408 Request Timeout');
      expect(headers).toMatchObject({ 'access-control-allow-origin': UI, vary: 'Origin', 'x-request-id': 'slow-auth-1' });
      verdict();
      await sleep(20);
      socket.end(body.slice(5));
      await closed;
      const [line] = await expectOneTimeoutNothingDecoded(server, 'slow-auth-1');
      expect(line).toMatchObject({ level: 'info', res: { statusCode: 408 }, error: { code: 'request_timeout' } });
      expect(logLines(server).filter((line) => line.level === 'error')).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('malformed mid-body is answered 400 through its response, with CORS headers, counted and logged once', async () => {
    const server = await startServer({ corsOrigins: [UI] });
    try {
      const { socket, received, closed } = await rawConnection(server.port);
      socket.write(
        'POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n' +
          `Origin: ${UI}\r\nX-Request-Id: bad-chunk-1\r\n\r\n5\r\n{"pay\r\nzz\r\n`,
      );
      await closed;
      const { statusLine, headers, body } = parseResponse(received());
      expect(statusLine).toBe('HTTP/1.1 400 Bad Request');
      expect(headers).toMatchObject({ 'access-control-allow-origin': UI, vary: 'Origin', 'x-request-id': 'bad-chunk-1' });
      expect(JSON.parse(body)).toEqual({ error: { code: 'bad_request', message: 'the request is not valid HTTP/1.1' } });
      const line = await eventually(() => logOf(server, 'bad-chunk-1'));
      expect(line).toMatchObject({ msg: 'request completed', res: { statusCode: 400 }, error: { code: 'bad_request' } });
      expect(await requestCounts(server)).toEqual(['temporal_codec_http_requests_total{route="decode",status="400"} 1']);
    } finally {
      await server.close();
    }
  });

  it('timing out before its headers are complete is answered 408 on the socket, counted once under route "unknown"', async () => {
    const server = await startServer({ corsOrigins: [UI], ...SHORT_TIMEOUTS });
    try {
      const { socket, received, closed } = await rawConnection(server.port);
      socket.write(`POST /decode HTTP/1.1\r\nHost: x\r\nOrigin: ${UI}\r\n`);
      await closed;
      const { statusLine, headers, body } = parseResponse(received());
      expect(statusLine).toBe('HTTP/1.1 408 Request Timeout');
      // The headers were never parsed: the origin is not known, so no CORS headers.
      expect(headers['access-control-allow-origin']).toBeUndefined();
      expect(JSON.parse(body)).toEqual({
        error: { code: 'request_timeout', message: 'the request was not received in time' },
      });
      expect(await requestCounts(server)).toEqual(['temporal_codec_http_requests_total{route="unknown",status="408"} 1']);
    } finally {
      await server.close();
    }
  });
});
