/**
 * A local identity provider for the auth tests: a JWKS and an OIDC discovery document on 127.0.0.1 whose fetches are
 * counted and which can be told to hang or fail, and tokens signed here with jose.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { createLogger } from '../../src/server/logging.js';
import { type AuthSettings, createAccessControl } from '../../src/server/auth/auth-config.js';
import { DEFAULT_ISSUER_KEYS, type IssuerKeysSettings } from '../../src/server/auth/issuer-keys.js';
import { DEFAULT_CLOCK_TOLERANCE_S, type JwtRules } from '../../src/server/auth/jwt.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { startServer, type TestServer } from './helpers.js';

export type IdpMode = 'ok' | 'hang' | 'error' | 'slow';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface Idp {
  url: string;
  issuer: string;
  jwksUrl: string;
  /** GET /jwks requests received (including those left hanging). */
  jwksFetches: number;
  discoveryFetches: number;
  mode: IdpMode;
  /** The keys the JWKS publishes. */
  published: SigningKey[];
  rsa: SigningKey;
  ec: SigningKey;
  close(): Promise<void>;
}

export async function makeSigningKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export async function startIdp(): Promise<Idp> {
  const [rsa, ec] = await Promise.all([makeSigningKey('RS256', 'rsa-1'), makeSigningKey('ES256', 'ec-1')]);
  const hanging = new Set<ServerResponse>();
  const idp: Idp = {
    url: '',
    issuer: '',
    jwksUrl: '',
    jwksFetches: 0,
    discoveryFetches: 0,
    mode: 'ok',
    published: [rsa, ec],
    rsa,
    ec,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (body: unknown): void => {
      if (idp.mode === 'hang') {
        hanging.add(res);
        return;
      }
      if (idp.mode === 'error') {
        res.writeHead(500).end('down');
        return;
      }
      const write = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (idp.mode === 'slow') setTimeout(write, 100);
      else write();
    };
    if (req.url === '/jwks') {
      idp.jwksFetches++;
      send({ keys: idp.published.map((key) => key.publicJwk) });
    } else if (req.url === '/.well-known/openid-configuration') {
      idp.discoveryFetches++;
      send({ issuer: idp.issuer, jwks_uri: idp.jwksUrl, id_token_signing_alg_values_supported: ['RS256', 'ES256'] });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  idp.url = `http://127.0.0.1:${port}`;
  idp.issuer = idp.url;
  idp.jwksUrl = `${idp.url}/jwks`;
  return idp;
}

export const AUDIENCE = 'temporal-codec-test';

export interface TokenOptions {
  key?: SigningKey;
  /** Seconds from now; negative for an expired token. Default 300. */
  expiresIn?: number;
  noExp?: boolean;
  issuer?: string;
  audience?: string | string[];
  kid?: string;
  subject?: string;
  notBefore?: number;
}

/** A JWT signed with one of the IdP's keys (or `key`), claims default to the IdP's issuer and the test audience. */
export async function signToken(idp: Idp, claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
  const key = options.key ?? idp.rsa;
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
    .setIssuedAt(now)
    .setIssuer(options.issuer ?? idp.issuer)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject(options.subject ?? 'alice@example.com');
  if (!options.noExp) jwt = jwt.setExpirationTime(now + (options.expiresIn ?? 300));
  if (options.notBefore !== undefined) jwt = jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(key.privateKey);
}

/** An unsigned token (`alg: none`), which jose will not make. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

export function jwtSettings(idp: Idp, overrides: Partial<JwtRules & IssuerKeysSettings> = {}): JwtRules & IssuerKeysSettings {
  return {
    ...DEFAULT_ISSUER_KEYS,
    jwksUrl: idp.jwksUrl,
    issuer: idp.issuer,
    audience: [AUDIENCE],
    algorithms: ['RS256', 'ES256'],
    permissionsClaim: 'permissions',
    tokenSource: 'access',
    clockTolerance: DEFAULT_CLOCK_TOLERANCE_S,
    ...overrides,
  };
}

/** A codec server in this process with the access control of `auth`, as `temporal-codec serve` builds it. */
export async function startAuthServer(
  auth: Partial<AuthSettings>,
  deps: Parameters<typeof startServer>[1] = {},
): Promise<TestServer & { metrics: ServerMetrics }> {
  const metrics = new ServerMetrics({ defaultMetrics: false });
  const logs: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
  const access = createAccessControl({ tokens: [], anonymousDecode: [], ...auth }, { logger, registry: metrics.registry });
  // The server and the access control log to one array (startServer's own logger is replaced by `logger`).
  const server = await startServer({}, { logger, metrics, authorize: access.authorize, ...deps });
  return Object.assign(server, { logs, metrics });
}

/** A decode request's body with one json/plain payload (passes through any codec). */
export const PLAIN_BODY = JSON.stringify({
  payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"a":1}').toString('base64') }],
});

export function codecHeaders(token: string | undefined, namespace?: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    ...(namespace !== undefined ? { 'X-Namespace': namespace } : {}),
    ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}),
    ...extra,
  };
}

/**
 * For a test file: one identity provider for all its tests (reset to answering normally after each), and the servers
 * a test starts, closed after it.
 */
export function useIdp(): { readonly idp: Idp; servers: TestServer[] } {
  let idp: Idp | undefined;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    idp = await startIdp();
  });
  afterAll(() => idp?.close());
  afterEach(async () => {
    idp!.mode = 'ok';
    idp!.issuer = idp!.url;
    for (const server of servers.splice(0)) await server.close();
  });
  return {
    get idp() {
      return idp!;
    },
    servers,
  };
}
