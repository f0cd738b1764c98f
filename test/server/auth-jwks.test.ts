/**
 * The identity provider's key set: fetched once per cache period however many requests arrive, and an endpoint that
 * hangs or fails costs one bounded wait, then fast 503s, while everything else keeps being served.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tokenDigest } from '../../src/server/auth/static-tokens.js';
import { codecHeaders, jwtSettings, PLAIN_BODY, signToken, startAuthServer, useIdp } from './auth-helpers.js';
import type { TestServer } from './helpers.js';

const idps = useIdp();
const { servers } = idps;

const READ = { permissions: ['default:read'] };
const STATIC_TOKEN = randomBytes(32).toString('base64url');

async function jwtServer(overrides: Parameters<typeof jwtSettings>[1] = {}) {
  const server = await startAuthServer({
    jwt: jwtSettings(idps.idp, overrides),
    tokens: [{ name: 'service', digest: tokenDigest(STATIC_TOKEN), namespaces: '*', rights: new Set(['decode']) }],
  });
  servers.push(server);
  return server;
}

function decode(server: TestServer, token: string) {
  return server.call({ headers: codecHeaders(token, 'default'), body: PLAIN_BODY });
}

/** `total` requests, `concurrency` at a time; resolves with their statuses. */
async function load(total: number, concurrency: number, send: (i: number) => Promise<{ status: number }>): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) statuses.push((await send(next++)).status);
    }),
  );
  return statuses;
}

describe('the key set is cached', () => {
  it('fetches the JWKS once for 400 requests, 40 at a time, with RS256 and ES256 tokens', async () => {
    const server = await jwtServer();
    const tokens = await Promise.all([signToken(idps.idp, READ), signToken(idps.idp, READ, { key: idps.idp.ec })]);
    const before = idps.idp.jwksFetches;
    const statuses = await load(400, 40, (i) => decode(server, tokens[i % 2]!));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(idps.idp.jwksFetches - before).toBe(1);
  });

  it('fetches again at most once per cache period under a steady load', async () => {
    const cacheMaxAge = 300;
    const server = await jwtServer({ cacheMaxAge, cooldown: cacheMaxAge });
    const token = await signToken(idps.idp, READ);
    const before = idps.idp.jwksFetches;
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 1_500) {
      const statuses = await load(20, 10, () => decode(server, token));
      expect(statuses.every((s) => s === 200)).toBe(true);
      sent += 20;
    }
    const periods = Math.ceil((Date.now() - started) / cacheMaxAge);
    const fetches = idps.idp.jwksFetches - before;
    expect(fetches).toBeGreaterThanOrEqual(2);
    expect(fetches).toBeLessThanOrEqual(periods + 1);
    expect(sent).toBeGreaterThan(10 * fetches);
  });

  it('refetches for unknown key ids at most once per cooldown, however many arrive', async () => {
    const server = await jwtServer({ cooldown: 60_000 });
    await decode(server, await signToken(idps.idp, READ));
    const before = idps.idp.jwksFetches;
    const forged = await Promise.all(Array.from({ length: 50 }, (_, i) => signToken(idps.idp, READ, { kid: `unknown-${i}` })));
    const statuses = await load(50, 10, (i) => decode(server, forged[i]!));
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect(idps.idp.jwksFetches - before).toBeLessThanOrEqual(1);
  });

  it('finds the key set through OIDC discovery, fetching the discovery document once', async () => {
    const server = await jwtServer({ jwksUrl: undefined, oidcIssuer: `${idps.idp.url}/` });
    const token = await signToken(idps.idp, READ);
    const [discoveryBefore, jwksBefore] = [idps.idp.discoveryFetches, idps.idp.jwksFetches];
    const statuses = await load(100, 20, () => decode(server, token));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(idps.idp.discoveryFetches - discoveryBefore).toBe(1);
    expect(idps.idp.jwksFetches - jwksBefore).toBe(1);
  });

  it('refuses a discovery document of another issuer with 503 and a message naming it', async () => {
    const server = await jwtServer({ jwksUrl: undefined, oidcIssuer: idps.idp.url });
    idps.idp.issuer = 'https://impostor.example.com';
    const response = await decode(server, await signToken(idps.idp, READ, { issuer: idps.idp.url }));
    expect(response.status).toBe(503);
    expect(response.json().error.message).toBe(
      `the bearer token could not be verified: the identity provider's key set is unavailable (the OIDC discovery ` +
        `document of ${idps.idp.url} (OIDC discovery) cannot be fetched: the discovery document at ` +
        `${idps.idp.url}/.well-known/openid-configuration is for another issuer (https://impostor.example.com)); retry later`,
    );
  });
});

describe('an identity provider that is down', () => {
  it('answers 503 within the fetch timeout when the JWKS hangs, then fails fast without refetching, and keeps serving', async () => {
    const server = await jwtServer({ fetchTimeout: 500, retryAfter: 3_000 });
    const token = await signToken(idps.idp, READ);
    idps.idp.mode = 'hang';
    // Bounded by the fetch timeout: without it this request would hang past the test's own timeout.
    const first = decode(server, token);
    // While that request waits for the key set, the server answers everything else.
    const livez = await server.call({ method: 'GET', path: '/livez' });
    expect(livez.status).toBe(200);
    expect((await decode(server, STATIC_TOKEN)).status).toBe(200);
    const response = await first;
    expect(response.status).toBe(503);
    expect(response.statusText).toBe('Service Unavailable: token keys unavailable');
    expect(response.headers['retry-after']).toBe('3');
    expect(response.json().error).toEqual({
      code: 'unavailable',
      message:
        `the bearer token could not be verified: the identity provider's key set is unavailable (the key set of ` +
        `${idps.idp.jwksUrl} cannot be fetched: timed out after 500 ms); retry later`,
    });
    expect(idps.idp.jwksFetches).toBeGreaterThanOrEqual(1);

    // Within the retry window nothing waits on the endpoint again: no new fetch reaches it (one would hang).
    const fetches = idps.idp.jwksFetches;
    const statuses = await load(30, 10, () => decode(server, token));
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(idps.idp.jwksFetches).toBe(fetches);
    expect((await decode(server, STATIC_TOKEN)).status).toBe(200);
  });

  it('answers 503 when the JWKS fails, and recovers once it is back after the retry window', async () => {
    const server = await jwtServer({ retryAfter: 300 });
    const token = await signToken(idps.idp, READ);
    idps.idp.mode = 'error';
    const failed = await decode(server, token);
    expect(failed.status).toBe(503);
    expect(failed.json().error.message).toContain('Expected 200 OK from the JSON Web Key Set HTTP response');
    idps.idp.mode = 'ok';
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await decode(server, token)).status).toBe(200);
  });

  it('keeps verifying with the keys it fetched before, when the key set expires during an outage', async () => {
    const server = await jwtServer({ cacheMaxAge: 200, retryAfter: 5_000 });
    const token = await signToken(idps.idp, READ);
    expect((await decode(server, token)).status).toBe(200);
    idps.idp.mode = 'error';
    await new Promise((resolve) => setTimeout(resolve, 250));
    const fetches = idps.idp.jwksFetches;
    const statuses = await load(20, 5, () => decode(server, token));
    expect(new Set(statuses)).toEqual(new Set([200]));
    // One attempt found the endpoint down; the rest used the fetched keys without asking again.
    expect(idps.idp.jwksFetches - fetches).toBe(1);
    const forged = await decode(server, await signToken(idps.idp, READ, { kid: 'unknown' }));
    expect(forged.status).toBe(401);
  });

  it('gives up on stale keys after staleIfError', async () => {
    const server = await jwtServer({ cacheMaxAge: 100, staleIfError: 100, retryAfter: 50 });
    const token = await signToken(idps.idp, READ);
    expect((await decode(server, token)).status).toBe(200);
    idps.idp.mode = 'error';
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await decode(server, token)).status).toBe(503);
  });
});
