import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError } from '../../src/server/errors.js';
import { postJson, startServer, type TestServer } from './helpers.js';

const UI = 'https://temporal.example.com';
const LOCAL_UI = 'http://localhost:8233';
const EVIL = 'https://evil.example.net';

const preflight = (origin: string, path = '/decode') => ({
  method: 'OPTIONS',
  path,
  headers: {
    Origin: origin,
    'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'content-type,x-namespace,authorization,authorization-extras',
  },
});

describe('CORS', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Every codec request is refused by "auth": preflight must still pass, since browsers send it without credentials.
    server = await startServer(
      { corsOrigins: [UI, LOCAL_UI], corsMaxAge: 600 },
      {
        authorize: (req) => {
          if (req.headers.authorization !== 'Bearer good') throw new HttpError('unauthorized', 'a valid bearer token is required');
        },
      },
    );
  });
  afterAll(() => server.close());

  it.each(['/decode', '//decode', '/default/encode', '/decode?preserveStorageRefs=true'])(
    'answers a preflight from an allowed origin at %s with 204 before authentication',
    async (path) => {
      const response = await server.call(preflight(UI, path));
      expect(response.status).toBe(204);
      expect(response.text).toBe('');
      expect(response.headers['access-control-allow-origin']).toBe(UI);
      expect(response.headers['access-control-allow-credentials']).toBe('true');
      expect(response.headers['access-control-allow-methods']).toBe('POST');
      expect(response.headers['access-control-allow-headers']).toBe('Content-Type,X-Namespace,Authorization,Authorization-Extras');
      expect(response.headers['access-control-max-age']).toBe('600');
      expect(response.headers.vary).toBe('Origin');
    },
  );

  it('echoes each allowed origin, never *', async () => {
    const response = await server.call(preflight(LOCAL_UI));
    expect(response.headers['access-control-allow-origin']).toBe(LOCAL_UI);
  });

  it('grants nothing to another origin, on preflight or request', async () => {
    for (const origin of [EVIL, `${UI}.evil.net`, 'null', UI.toUpperCase(), `${UI}/`]) {
      const pre = await server.call(preflight(origin));
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
      expect(pre.headers['access-control-allow-headers']).toBeUndefined();
      expect(pre.headers.vary).toBe('Origin');
      const actual = await postJson(server, '/decode', { payloads: [] }, { Origin: origin, Authorization: 'Bearer good' });
      expect(actual.status).toBe(200);
      expect(actual.headers['access-control-allow-origin']).toBeUndefined();
      expect(actual.headers['access-control-allow-credentials']).toBeUndefined();
    }
  });

  it('grants an allowed origin on the actual request, success or error, and exposes X-Request-Id', async () => {
    const ok = await postJson(server, '/decode', { payloads: [] }, { Origin: UI, Authorization: 'Bearer good' });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(UI);
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    expect(ok.headers['access-control-expose-headers']).toBe('X-Request-Id');
    expect(ok.headers.vary).toBe('Origin');
    // Error bodies must be readable by the UI too, or it only sees a network error.
    const refused = await postJson(server, '/decode', { payloads: [] }, { Origin: UI });
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(UI);
    expect(refused.json()).toEqual({ error: { code: 'unauthorized', message: 'a valid bearer token is required' } });
    const bad = await server.call({ path: '/decode', headers: { Origin: UI, Authorization: 'Bearer good', 'Content-Type': 'application/json' }, body: '{' });
    expect(bad.status).toBe(400);
    expect(bad.headers['access-control-allow-origin']).toBe(UI);
  });

  it('sends no CORS headers at all when no origin is configured', async () => {
    const plain = await startServer();
    try {
      const pre = await plain.call(preflight(UI));
      expect(pre.status).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      const actual = await postJson(plain, '/decode', { payloads: [] }, { Origin: UI });
      expect(actual.headers['access-control-allow-origin']).toBeUndefined();
      expect(actual.headers.vary).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});
