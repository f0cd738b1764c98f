import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec, KeyRing } from '../../src/index.js';
import {
  call,
  type CallOptions,
  jsonPayload,
  KEY_DEFAULT,
  KEY_OLD,
  logLines,
  logOf,
  payloadJson,
  postJson,
  startServer,
  testCodecs,
  type TestServer,
} from './helpers.js';

const SECRET = 'medical-record-of-jane-doe-9981';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.secret-access-token.sig';
const ID_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.secret-id-token.sig';
const COOKIE = 'session=secret-session-cookie';
const PROXY_AUTH = 'Basic c2VjcmV0LXByb3h5LWNyZWRlbnRpYWw=';
// What identity-aware proxies and gateways add under their own names.
const PROXY_HEADERS = {
  'Cf-Access-Jwt-Assertion': 'eyJhbGciOiJSUzI1NiJ9.secret-cloudflare-assertion.sig',
  'X-Forwarded-Access-Token': 'secret-oauth2-proxy-token',
  'X-Api-Key': 'secret-gateway-api-key',
};

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('logs', () => {
  let server: TestServer;
  const plain = payloadJson(jsonPayload({ record: SECRET }));
  const encrypted = payloadJson(testCodecs().encryption!.encryptPayload(jsonPayload({ record: SECRET })));

  beforeAll(async () => {
    server = await startServer();
    const headers = {
      Authorization: `Bearer ${TOKEN}`,
      'Authorization-Extras': ID_TOKEN,
      Cookie: COOKIE,
      'Proxy-Authorization': PROXY_AUTH,
      'X-Namespace': 'clinic',
      ...PROXY_HEADERS,
    };
    await postJson(server, '/decode', { payloads: [encrypted, plain] }, { ...headers, 'X-Request-Id': 'decode-1' });
    const longAgent = { 'User-Agent': `ua-${'x'.repeat(1000)}`, 'X-Request-Id': 'long-ua' };
    await postJson(server, '/decode', { payloads: [plain] }, longAgent);
    await postJson(server, '/encode', { payloads: [plain] }, { ...headers, 'X-Request-Id': 'encode-1' });
    await postJson(server, '/decode', `{"payloads":[{"data":"${SECRET}!"}]}`, { ...headers, 'X-Request-Id': 'bad-1' });
    await postJson(server, '/decode', `{"payloads":[${JSON.stringify(plain)}`, { ...headers, 'X-Request-Id': 'bad-2' });
    const tampered = { ...encrypted, data: `AAAA${encrypted.data!.slice(4)}` };
    await postJson(server, '/decode', { payloads: [tampered] }, { ...headers, 'X-Request-Id': 'bad-3' });
    await tick();
  });
  afterAll(() => server.close());

  it('never hold payload bytes, plaintext or key material', () => {
    const all = server.logs.join('');
    expect(all.length).toBeGreaterThan(0);
    for (const forbidden of [
      SECRET,
      plain.data!,
      encrypted.data!,
      encrypted.data!.slice(8, 40),
      KEY_DEFAULT.toString('base64'),
      KEY_DEFAULT.toString('hex'),
      KEY_OLD.toString('base64'),
    ]) {
      expect(all).not.toContain(forbidden);
    }
  });

  it('redact Authorization, Authorization-Extras, Cookie and Proxy-Authorization, on every line', () => {
    const all = server.logs.join('');
    for (const credential of [TOKEN, ID_TOKEN, COOKIE, 'secret-session-cookie', PROXY_AUTH]) expect(all).not.toContain(credential);
    for (const id of ['decode-1', 'encode-1', 'bad-1', 'bad-2', 'bad-3']) {
      const { headers } = logOf(server, id)!.req;
      expect(headers.authorization).toBe('[Redacted]');
      expect(headers['authorization-extras']).toBe('[Redacted]');
      expect(headers.cookie).toBe('[Redacted]');
      expect(headers['proxy-authorization']).toBe('[Redacted]');
      expect(headers['x-namespace']).toBe('clinic');
    }
  });

  it('show only the request headers that say who called and what was sent, never a proxy\'s credentials', () => {
    const all = server.logs.join('');
    for (const value of Object.values(PROXY_HEADERS)) expect(all).not.toContain(value);
    const { headers } = logOf(server, 'decode-1')!.req;
    expect(Object.keys(headers).sort()).toEqual(
      [
        'authorization',
        'authorization-extras',
        'content-length',
        'content-type',
        'cookie',
        'host',
        'proxy-authorization',
        'x-namespace',
      ].sort(),
    );
    const longAgent = logOf(server, 'long-ua')!.req.headers['user-agent'] as string;
    expect(longAgent).toBe(`ua-${'x'.repeat(297)}...`);
  });

  it('write one line per request with its id, namespace, operation, counts, sizes, key ids and duration', () => {
    const line = logOf(server, 'decode-1')!;
    expect(line).toMatchObject({
      level: 'info',
      msg: 'request completed',
      requestId: 'decode-1',
      route: 'decode',
      namespace: 'clinic',
      operation: 'decode',
      payloads: 2,
      keyIds: ['default', 'none'],
      res: { statusCode: 200 },
    });
    expect(line.bytesIn).toBeGreaterThan(100);
    expect(line.bytesOut).toBeGreaterThan(50);
    expect(typeof line.durationMs).toBe('number');
    expect(logLines(server).filter((l) => l.requestId === 'decode-1')).toHaveLength(1);
    expect(logOf(server, 'encode-1')).toMatchObject({ operation: 'encode', payloads: 1, keyIds: ['default'] });
  });

  it('record the error code and message of a refused request, at info level', () => {
    expect(logOf(server, 'bad-1')).toMatchObject({
      level: 'info',
      res: { statusCode: 400 },
      error: { code: 'invalid_payloads', message: 'payloads[0].data: not valid base64' },
    });
    expect(logOf(server, 'bad-2')!.error.code).toBe('invalid_json');
    expect(logOf(server, 'bad-3')!.error.code).toBe('decryption_failed');
  });
});

describe('metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it('count requests by route and status, payloads by namespace and key id, encryptions and decode failures', async () => {
    const plain = payloadJson(jsonPayload({ n: 1 }));
    const oldCodec = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ old: KEY_OLD }, 'old') });
    const fallbackOnly = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ 'some-id': KEY_DEFAULT }, 'some-id') });
    await postJson(server, '/encode', { payloads: [plain, plain, plain] }, { 'X-Namespace': 'billing' });
    await postJson(server, '/orders/decode', {
      payloads: [
        payloadJson(testCodecs().encryption!.encryptPayload(jsonPayload(1))),
        payloadJson(oldCodec.encryptPayload(jsonPayload(2))),
        plain,
      ],
    });
    // An id the ring has no key of its own for does not become a label (here it fails: no fallback key).
    await postJson(server, '/decode', { payloads: [payloadJson(fallbackOnly.encryptPayload(jsonPayload(3)))] });
    await postJson(server, '/decode', '{');
    await server.call({ method: 'GET', path: '/livez' });
    await server.call({ method: 'GET', path: '/no/such/thing' });
    await tick();

    const response = await server.call({ method: 'GET', path: '/metrics' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.text;
    expect(text).toContain('temporal_codec_http_requests_total{route="encode",status="200"} 1');
    expect(text).toContain('temporal_codec_http_requests_total{route="decode",status="200"} 1');
    expect(text).toContain('temporal_codec_http_requests_total{route="decode",status="422"} 1');
    expect(text).toContain('temporal_codec_http_requests_total{route="decode",status="400"} 1');
    expect(text).toContain('temporal_codec_http_requests_total{route="livez",status="200"} 1');
    expect(text).toContain('temporal_codec_http_requests_total{route="unknown",status="404"} 1');
    expect(text).toContain('temporal_codec_http_request_duration_seconds_count{route="decode"} 3');
    expect(text).toContain('temporal_codec_payloads_total{operation="encode",namespace="billing",key_id="default"} 3');
    expect(text).toContain('temporal_codec_payloads_total{operation="decode",namespace="orders",key_id="default"} 1');
    expect(text).toContain('temporal_codec_payloads_total{operation="decode",namespace="orders",key_id="old"} 1');
    expect(text).toContain('temporal_codec_payloads_total{operation="decode",namespace="orders",key_id="none"} 1');
    expect(text).toContain('temporal_codec_encryptions_total{key_id="default"} 3');
    expect(text).toContain('temporal_codec_decode_failures_total{reason="decryption_failed"} 1');
    expect(text).not.toContain('some-id');
    expect(text).toMatch(/2\^32/);
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('label a key id served by the fallback key as *', async () => {
    const fallbackRing = KeyRing.fromKeys({ default: KEY_DEFAULT }, 'default', KEY_OLD);
    const fallbackServer = await startServer({}, { codecs: testCodecs({}, fallbackRing) });
    try {
      const other = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ 'tenant-42': KEY_OLD }, 'tenant-42') });
      const response = await postJson(fallbackServer, '/decode', { payloads: [payloadJson(other.encryptPayload(jsonPayload(1)))] });
      expect(response.status).toBe(200);
      const text = (await fallbackServer.call({ method: 'GET', path: '/metrics' })).text;
      expect(text).toContain('temporal_codec_payloads_total{operation="decode",namespace="default",key_id="*"} 1');
      expect(text).not.toContain('tenant-42');
    } finally {
      await fallbackServer.close();
    }
  });
});

describe('metrics on a port of their own (separateMetrics, serve --metrics-port)', () => {
  let server: TestServer;
  let metricsPort: number;
  const onMetricsPort = (options: CallOptions) => call(metricsPort, { agent: false, ...options });
  beforeAll(async () => {
    server = await startServer({ separateMetrics: true, corsOrigins: ['http://localhost:8233'] });
    const metricsServer = server.codecServer.metricsServer!;
    await new Promise<void>((resolve) => metricsServer.listen(0, '127.0.0.1', resolve));
    metricsPort = (metricsServer.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  it('serve /metrics, /livez and /readyz there, and /metrics no longer on the codec port', async () => {
    await postJson(server, '/decode', { payloads: [payloadJson(jsonPayload({ n: 1 }))] }, { 'X-Namespace': 'billing' });
    await tick();
    const scraped = await onMetricsPort({ method: 'GET', path: '/metrics' });
    expect(scraped.status).toBe(200);
    expect(scraped.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    // One registry: the codec port's requests are counted, and the metrics port's own requests too.
    expect(scraped.text).toContain('temporal_codec_payloads_total{operation="decode",namespace="billing",key_id="none"} 1');
    expect((await onMetricsPort({ method: 'GET', path: '/livez' })).json()).toEqual({ status: 'ok' });
    expect((await onMetricsPort({ method: 'GET', path: '/readyz' })).status).toBe(200);

    const hidden = await server.call({ method: 'GET', path: '/metrics' });
    expect(hidden.status).toBe(404);
    // The 404 of any unknown path: nothing says where metrics are, and no series of route "metrics" grows.
    expect(hidden.json().error.message).toBe(
      'no such endpoint: the codec server serves POST <prefix>/encode and POST <prefix>/decode',
    );
    expect(hidden.text).not.toContain('temporal_codec');
    expect((await server.call({ method: 'POST', path: '/metrics' })).status).toBe(404);
    await tick();
    const after = (await onMetricsPort({ method: 'GET', path: '/metrics' })).text;
    expect(after).not.toContain('temporal_codec_http_requests_total{route="metrics",status="404"}');
    expect(after).toContain('temporal_codec_http_requests_total{route="unknown",status="404"} 2');
    // Health stays on the codec port, for probes that use it.
    expect((await server.call({ method: 'GET', path: '/livez' })).status).toBe(200);
  });

  it('serve nothing else there: no codec routes, no CORS, unknown routes labelled unknown', async () => {
    const unknown404 = async () => {
      const text = (await onMetricsPort({ method: 'GET', path: '/metrics' })).text;
      return Number(/temporal_codec_http_requests_total\{route="unknown",status="404"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await unknown404();
    const origin = { Origin: 'http://localhost:8233', 'Content-Type': 'application/json' };
    const body = JSON.stringify({ payloads: [payloadJson(jsonPayload({ n: 2 }))] });
    const decode = await onMetricsPort({ method: 'POST', path: '/decode', headers: origin, body });
    expect(decode.status).toBe(404);
    expect(decode.json().error.message).toContain('the metrics port serves GET /livez, /readyz and /metrics');
    expect(decode.headers['access-control-allow-origin']).toBeUndefined();
    expect(decode.headers['x-request-id']).toBeDefined();
    expect((await onMetricsPort({ method: 'POST', path: '/metrics' })).status).toBe(405);
    await tick();
    expect(await unknown404()).toBe(before + 1);
    const text = (await onMetricsPort({ method: 'GET', path: '/metrics' })).text;
    expect(text).not.toMatch(/route="decode",status="404"/);
    expect(logLines(server).some((line) => line.route === 'unknown' && line.res?.statusCode === 404)).toBe(true);
  });
});

describe('the metrics server at shutdown', () => {
  it('answers /readyz with 503 while draining, then closes with the codec server', async () => {
    const server = await startServer({ separateMetrics: true, shutdownDelay: 300 });
    const metricsServer = server.codecServer.metricsServer!;
    await new Promise<void>((resolve) => metricsServer.listen(0, '127.0.0.1', resolve));
    const port = (metricsServer.address() as AddressInfo).port;
    const closing = server.close();
    const during = await call(port, { method: 'GET', path: '/readyz', agent: false });
    expect(during.status).toBe(503);
    await closing;
    expect(metricsServer.listening).toBe(false);
  });

  it('is absent without separateMetrics, and /metrics is on the codec port', async () => {
    const server = await startServer();
    try {
      expect(server.codecServer.metricsServer).toBeUndefined();
      expect((await server.call({ method: 'GET', path: '/metrics' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
