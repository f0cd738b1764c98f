import { randomBytes } from 'node:crypto';
import { exportSPKI, importJWK, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { tokenDigest } from '../../src/server/auth/static-tokens.js';
import {
  AUDIENCE,
  codecHeaders,
  jwtSettings,
  makeSigningKey,
  PLAIN_BODY,
  signToken,
  startAuthServer,
  unsignedToken,
  useIdp,
} from './auth-helpers.js';
import { logLines, type TestServer } from './helpers.js';

const idps = useIdp();
const { servers } = idps;

async function jwtServer(overrides: Parameters<typeof jwtSettings>[1] = {}, extra: Parameters<typeof startAuthServer>[0] = {}) {
  const server = await startAuthServer({ jwt: jwtSettings(idps.idp, overrides), ...extra });
  servers.push(server);
  return server;
}

/** `namespace` null: no X-Namespace header. */
function decode(server: TestServer, token: string | undefined, namespace: string | null = 'default', path = '/decode') {
  return server.call({ path, headers: codecHeaders(token, namespace ?? undefined), body: PLAIN_BODY });
}

function encode(server: TestServer, token: string | undefined, namespace = 'default') {
  return server.call({ path: '/encode', headers: codecHeaders(token, namespace), body: PLAIN_BODY });
}

const READ_DEFAULT = { permissions: ['default:read'] };

describe('JWT verification: bad tokens get 401 with a message that says what is wrong, never a 5xx', () => {
  it('accepts a valid RS256 and a valid ES256 token', async () => {
    const server = await jwtServer();
    for (const key of [idps.idp.rsa, idps.idp.ec]) {
      const response = await decode(server, await signToken(idps.idp, READ_DEFAULT, { key }));
      expect(response.status, response.text).toBe(200);
    }
  });

  const cases: [string, () => Promise<string>, string, string][] = [
    [
      'an expired token',
      () => signToken(idps.idp, READ_DEFAULT, { expiresIn: -120 }),
      'Unauthorized: token expired',
      '^the bearer token has expired at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(exp\\); sign in again$',
    ],
    [
      'a token for another audience',
      () => signToken(idps.idp, READ_DEFAULT, { audience: 'some-other-app' }),
      'Unauthorized: invalid token',
      `^the bearer token was issued for another audience: its audience \\(aud\\) does not include "${AUDIENCE}"$`,
    ],
    [
      'a token from another issuer',
      () => signToken(idps.idp, READ_DEFAULT, { issuer: 'https://evil.example.com' }),
      'Unauthorized: invalid token',
      '^the bearer token was issued by another issuer: its issuer \\(iss\\) is not "http://127\\.0\\.0\\.1:\\d+"$',
    ],
    [
      'an unsigned token (alg none)',
      async () => unsignedToken({ ...READ_DEFAULT, iss: idps.idp.issuer, aud: AUDIENCE, sub: 'x', exp: Math.floor(Date.now() / 1000) + 300 }),
      'Unauthorized: invalid token',
      '^the bearer token is unsigned \\(alg "none"\\); accepted algorithms: RS256, ES256$',
    ],
    [
      'an HS256 token whose HMAC key is the public RSA key',
      async () => {
        const pem = await exportSPKI((await importJWK(idps.idp.rsa.publicJwk, 'RS256', { extractable: true })) as CryptoKey);
        return new SignJWT({ ...READ_DEFAULT, sub: 'mallory' })
          .setProtectedHeader({ alg: 'HS256', kid: idps.idp.rsa.kid })
          .setIssuer(idps.idp.issuer)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(pem));
      },
      'Unauthorized: invalid token',
      '^the bearer token is signed with HS256, which is not accepted; accepted algorithms: RS256, ES256$',
    ],
    [
      'a token whose kid the key set does not have',
      () => signToken(idps.idp, READ_DEFAULT, { kid: 'retired-key' }),
      'Unauthorized: invalid token',
      '^the bearer token names a signing key the identity provider does not have: no key in its key set matches \\(kid "retired-key", alg RS256\\)$',
    ],
    [
      'a token signed by another key under a known kid',
      async () => signToken(idps.idp, READ_DEFAULT, { key: { ...(await makeSigningKey('RS256', 'x')), kid: idps.idp.rsa.kid } }),
      'Unauthorized: invalid token',
      "^the bearer token has a signature that does not verify with the identity provider's key$",
    ],
    [
      'a token without an expiry',
      () => signToken(idps.idp, READ_DEFAULT, { noExp: true }),
      'Unauthorized: invalid token',
      '^the bearer token has no "exp" claim, which is required$',
    ],
    [
      'a token that is not valid yet',
      () => signToken(idps.idp, READ_DEFAULT, { notBefore: 3600 }),
      'Unauthorized: invalid token',
      '^the bearer token is not valid yet \\(nbf\\)$',
    ],
    [
      'a token that is not a JWT',
      async () => 'not-a-jwt',
      'Unauthorized: invalid token',
      '^the bearer token is not a well-formed signed JWT$',
    ],
    [
      'a JWT-shaped token that is not JSON',
      async () => 'abc.def.ghi',
      'Unauthorized: invalid token',
      '^the bearer token is not a well-formed signed JWT$',
    ],
  ];

  for (const [name, makeToken, statusText, message] of cases) {
    it(`refuses ${name}`, async () => {
      const server = await jwtServer();
      const token = await makeToken();
      const response = await decode(server, token);
      expect(response.status, response.text).toBe(401);
      expect(response.statusText).toBe(statusText);
      expect(response.json().error.code).toBe('unauthorized');
      expect(response.json().error.message).toMatch(new RegExp(message));
      expect(response.headers['www-authenticate']).toBe('Bearer realm="temporal-codec", error="invalid_token"');
      expect(response.text).not.toContain(token.slice(0, 40));
      expect(server.logs.join('\n')).not.toContain(token.split('.')[2] || token);
    });
  }

  it('refuses a request without a token with 401 and a challenge', async () => {
    const server = await jwtServer();
    const response = await decode(server, undefined);
    expect(response.status).toBe(401);
    expect(response.statusText).toBe('Unauthorized: a bearer token is required');
    expect(response.json().error.message).toBe('authentication is required: send Authorization: Bearer <token>');
    expect(response.headers['www-authenticate']).toBe('Bearer realm="temporal-codec"');
    const basic = await server.call({ headers: { ...codecHeaders(undefined, 'default'), Authorization: 'Basic dXNlcjpwYXNz' }, body: PLAIN_BODY });
    expect(basic.status).toBe(401);
    expect(basic.json().error.message).toBe('the Authorization header must be "Bearer <token>"');
  });

  it('counts refusals by reason in /metrics', async () => {
    const server = await jwtServer();
    await decode(server, undefined);
    await decode(server, await signToken(idps.idp, READ_DEFAULT, { expiresIn: -120 }));
    await decode(server, await signToken(idps.idp, { permissions: [] }));
    const text = await (server as TestServer & { metrics: { registry: { metrics(): Promise<string> } } }).metrics.registry.metrics();
    expect(text).toContain('temporal_codec_auth_refusals_total{reason="missing_token"} 1');
    expect(text).toContain('temporal_codec_auth_refusals_total{reason="expired_token"} 1');
    expect(text).toContain('temporal_codec_auth_refusals_total{reason="forbidden_namespace"} 1');
  });
});

describe('rights from the permissions claim (Temporal format "<namespace>:<role>")', () => {
  it('lets read decode but not encode, and write do both, in its namespace only', async () => {
    const server = await jwtServer();
    const reader = await signToken(idps.idp, { permissions: ['default:read', 'production:write'] });
    expect((await decode(server, reader, 'default')).status).toBe(200);
    const refused = await encode(server, reader, 'default');
    expect(refused.status).toBe(403);
    expect(refused.statusText).toBe('Forbidden: not allowed in this namespace');
    expect(refused.json().error).toEqual({
      code: 'forbidden',
      message:
        'alice@example.com may not encode in namespace "default": encode needs the write or admin role on namespace ' +
        '"default" (e.g. "default:write" in the "permissions" claim)',
    });
    expect((await encode(server, reader, 'production')).status).toBe(200);
    expect((await decode(server, reader, 'production')).status).toBe(200);
    const other = await decode(server, reader, 'staging');
    expect(other.status).toBe(403);
    expect(other.json().error.message).toBe(
      'alice@example.com may not decode in namespace "staging": decode needs the read, write or admin role on ' +
        'namespace "staging" (e.g. "staging:read" in the "permissions" claim)',
    );
  });

  it('gives the worker role neither right, admin both, and system roles every namespace', async () => {
    const server = await jwtServer();
    const worker = await signToken(idps.idp, { permissions: ['default:worker'] });
    expect((await decode(server, worker)).status).toBe(403);
    const admin = await signToken(idps.idp, { permissions: ['default:ADMIN'] });
    expect((await encode(server, admin)).status).toBe(200);
    const system = await signToken(idps.idp, { permissions: ['system:admin'] });
    for (const namespace of ['default', 'production', 'anything-else']) {
      expect((await decode(server, system, namespace)).status).toBe(200);
      expect((await encode(server, system, namespace)).status).toBe(200);
    }
    const systemReader = await signToken(idps.idp, { permissions: ['temporal-system:read'] });
    expect((await decode(server, systemReader, 'production')).status).toBe(200);
    expect((await encode(server, systemReader, 'production')).status).toBe(403);
  });

  it('says so when the token has no permissions claim, and reads a configured claim name', async () => {
    const server = await jwtServer({ permissionsClaim: 'https://temporal.example.com/permissions' });
    const without = await decode(server, await signToken(idps.idp, READ_DEFAULT));
    expect(without.status).toBe(403);
    expect(without.json().error.message).toBe(
      'alice@example.com may not decode in namespace "default": decode needs the read, write or admin role on ' +
        'namespace "default" and the token has no "https://temporal.example.com/permissions" claim',
    );
    const custom = await signToken(idps.idp, { 'https://temporal.example.com/permissions': ['default:read'] });
    expect((await decode(server, custom)).status).toBe(200);
  });

  it('takes the namespace from X-Namespace, else the path prefix, else "default"', async () => {
    const server = await jwtServer();
    const token = await signToken(idps.idp, { permissions: ['production:read'] });
    expect((await decode(server, token, null, '/production/decode')).status).toBe(200);
    expect((await decode(server, token, null, '/staging/decode')).status).toBe(403);
    // The header wins over the path, for rights as for keys.
    expect((await decode(server, token, 'staging', '/production/decode')).status).toBe(403);
    const none = await decode(server, token, null, '/decode');
    expect(none.status).toBe(403);
    expect(none.json().error.message).toMatch(/^alice@example.com may not decode in namespace "default"/);
    const defaultReader = await signToken(idps.idp, READ_DEFAULT);
    expect((await decode(server, defaultReader, null, '/decode')).status).toBe(200);
  });

  it('logs the subject and never the token', async () => {
    const server = await jwtServer();
    const token = await signToken(idps.idp, READ_DEFAULT, { subject: 'bob@example.com' });
    const response = await decode(server, token);
    const line = logLines(server).find((l) => l.requestId === response.headers['x-request-id'] && l.res);
    expect(line?.principal).toEqual({ kind: 'jwt', name: 'bob@example.com' });
    expect(line?.req.headers.authorization).toBe('[Redacted]');
    expect(server.logs.join('\n')).not.toContain(token.split('.')[1]);
  });
});

describe('which header the token comes from (--jwt-token-source)', () => {
  it('id reads the ID token in Authorization-Extras (with or without "Bearer ")', async () => {
    const server = await jwtServer({ tokenSource: 'id' });
    const id = await signToken(idps.idp, READ_DEFAULT);
    const access = await signToken(idps.idp, { permissions: ['system:admin'] });
    const extras = (value: string) => server.call({ headers: codecHeaders(access, 'default', { 'Authorization-Extras': value }), body: PLAIN_BODY });
    expect((await extras(id)).status).toBe(200);
    expect((await extras(`Bearer ${id}`)).status).toBe(200);
    // The access token alone is not read.
    const accessOnly = await decode(server, access);
    expect(accessOnly.status).toBe(401);
    expect(accessOnly.json().error.message).toBe(
      'the bearer token is not accepted; this server reads JWTs from the ID token in Authorization-Extras',
    );
    const bad = await extras(await signToken(idps.idp, READ_DEFAULT, { expiresIn: -120 }));
    expect(bad.json().error.message).toMatch(/^the ID token \(Authorization-Extras\) has expired/);
  });

  it('either takes the access token, else the ID token, and reports the access token when both fail', async () => {
    const server = await jwtServer({ tokenSource: 'either' });
    const good = await signToken(idps.idp, READ_DEFAULT);
    const expired = await signToken(idps.idp, READ_DEFAULT, { expiresIn: -120 });
    const call = (access: string | undefined, id?: string) =>
      server.call({ headers: codecHeaders(access, 'default', id ? { 'Authorization-Extras': id } : {}), body: PLAIN_BODY });
    expect((await call(good)).status).toBe(200);
    expect((await call(undefined, good)).status).toBe(200);
    expect((await call(expired, good)).status).toBe(200);
    const both = await call(expired, expired);
    expect(both.status).toBe(401);
    expect(both.json().error.message).toMatch(/^the bearer token has expired/);
  });
});

describe('static tokens and JWTs together', () => {
  it('checks static tokens first and JWTs otherwise', async () => {
    const token = randomBytes(32).toString('base64url');
    const server = await jwtServer({}, { tokens: [{ name: 'ci', digest: tokenDigest(token), namespaces: '*', rights: new Set(['decode']) }] });
    expect((await decode(server, token, 'anything')).status).toBe(200);
    expect((await decode(server, await signToken(idps.idp, READ_DEFAULT))).status).toBe(200);
    const neither = await decode(server, 'opaque-token-that-matches-nothing');
    expect(neither.status).toBe(401);
    expect(neither.json().error.message).toBe('the bearer token is not one of the configured tokens nor a JWT');
  });
});
