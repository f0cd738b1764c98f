import type { IncomingMessage } from 'node:http';
import type { AuthorizeHook, CodecOperation } from '../codec-route.js';
import { contextOf } from '../logging.js';
import { AuthError } from './auth-error.js';
import type { JwtPrincipal, JwtVerifier } from './jwt.js';
import { ROLE_NEEDED } from './permissions.js';
import type { StaticPrincipal, StaticTokens } from './static-tokens.js';

/** The ways a caller can prove who it is; at least one of `staticTokens` and `jwt`. */
export interface Authenticators {
  staticTokens?: StaticTokens;
  jwt?: JwtVerifier;
  /** Namespaces whose payloads may be decoded with no token at all (never encoded). */
  anonymousDecode?: ReadonlySet<string>;
}

interface AnonymousPrincipal {
  kind: 'anonymous';
  name: 'anonymous';
}

type Principal = StaticPrincipal | JwtPrincipal | AnonymousPrincipal;

const JWT_SHAPE = /^[\w-]+\.[\w-]*\.[\w-]*$/;

/**
 * The codec server's access control, as the `authorize` hook of `createCodecServer`: who the caller is (a static
 * token, else a JWT from the configured header) and whether that caller may `decode` (read) or `encode` (write) in
 * the request's namespace (the server names a request without one `default`). Refuses with 401
 * (no or bad token), 403 (a good token without the right) or 503 (the identity provider's keys cannot be fetched).
 * The caller's name, never its token, goes on the request's log line; the server counts refusals by reason.
 */
export function createAuthorizer(auth: Authenticators): AuthorizeHook {
  if (!auth.staticTokens?.size && !auth.jwt) throw new Error('createAuthorizer needs static tokens or a JWT verifier');
  // `auth.staticTokens` is read per request: a token reload replaces it (see createAccessControl).
  const { jwt, anonymousDecode } = auth;
  const tokenSource = jwt?.rules.tokenSource;
  const acceptsAccess = tokenSource === 'access' || tokenSource === 'either';
  const acceptsId = tokenSource === 'id' || tokenSource === 'either';

  const permit = (req: IncomingMessage, principal: Principal, namespace: string, operation: CodecOperation): void => {
    const context = contextOf(req);
    if (context) context.fields.principal = { kind: principal.kind, name: principal.name };
    // Anonymous callers get here only for a decode in one of their namespaces, which is open to every caller.
    if (principal.kind === 'anonymous' || principal.grants.allows(namespace, operation)) return;
    if (operation === 'decode' && anonymousDecode?.has(namespace)) return;
    throw new AuthError('forbidden_namespace', forbiddenMessage(principal, namespace, operation, jwt));
  };

  return (req, namespace, operation) => {
    const { staticTokens } = auth;
    const authorization = req.headers.authorization;
    const extras = req.headers['authorization-extras'];
    const bearer = authorization === undefined ? undefined : bearerToken(authorization);
    if (bearer === null) {
      throw new AuthError('invalid_token', 'the Authorization header must be "Bearer <token>"');
    }
    const idToken = acceptsId && typeof extras === 'string' && extras !== '' ? extras.replace(/^Bearer\s+/i, '') : undefined;

    if (bearer !== undefined) {
      const known = staticTokens?.identify(bearer);
      if (known) return permit(req, known, namespace, operation);
    }
    const jwtBearer = bearer !== undefined && acceptsAccess && JWT_SHAPE.test(bearer) ? bearer : undefined;
    if (bearer !== undefined && jwtBearer === undefined && idToken === undefined) {
      const what = staticTokens?.size
        ? `is not one of the configured tokens${acceptsAccess ? ' nor a JWT' : ''}`
        : acceptsAccess
          ? 'is not a well-formed signed JWT'
          : 'is not accepted';
      const hint = jwt && !acceptsAccess ? '; this server reads JWTs from the ID token in Authorization-Extras' : '';
      throw new AuthError('invalid_token', `the bearer token ${what}${hint}`);
    }
    if (jwtBearer === undefined && idToken === undefined) {
      if (operation === 'decode' && anonymousDecode?.has(namespace)) {
        return permit(req, { kind: 'anonymous', name: 'anonymous' }, namespace, operation);
      }
      const accepted = acceptsId && !acceptsAccess ? 'an ID token in Authorization-Extras' : 'Authorization: Bearer <token>';
      throw new AuthError('missing_token', `authentication is required: send ${accepted}`);
    }
    return verifyJwt(jwt!, jwtBearer, idToken).then((principal) => permit(req, principal, namespace, operation));
  };
}

/**
 * The access token if there is one and it verifies, else the ID token (`either` sends both): a refusal reports the
 * access token's problem. An unavailable key set is final; the other token would need the same keys.
 */
async function verifyJwt(jwt: JwtVerifier, access: string | undefined, id: string | undefined): Promise<JwtPrincipal> {
  if (access === undefined) return jwt.verify(id!, 'id');
  try {
    return await jwt.verify(access, 'access');
  } catch (error) {
    if (id === undefined || !(error instanceof AuthError) || error.refusal === 'key_set_unavailable') throw error;
    try {
      return await jwt.verify(id, 'id');
    } catch {
      throw error;
    }
  }
}

/** The token of `Bearer <token>` (scheme case-insensitive, RFC 7235); null for another scheme or an empty token. */
export function bearerToken(header: string): string | null {
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match ? match[1]! : null;
}

function forbiddenMessage(
  principal: StaticPrincipal | JwtPrincipal,
  namespace: string,
  operation: CodecOperation,
  jwt: JwtVerifier | undefined,
): string {
  const ns = JSON.stringify(namespace);
  if (principal.kind === 'token') {
    return `token "${principal.name}" may not ${operation} in namespace ${ns}: it needs "${operation}" in its rights and ${ns} (or "*") in its namespaces`;
  }
  const claim = jwt!.rules.permissionsClaim;
  const needs = `${operation} needs the ${ROLE_NEEDED[operation]} role on namespace ${ns}`;
  const has = principal.hasPermissionsClaim
    ? `(e.g. "${namespace}:${operation === 'decode' ? 'read' : 'write'}" in the "${claim}" claim)`
    : `and the token has no "${claim}" claim`;
  return `${principal.name} may not ${operation} in namespace ${ns}: ${needs} ${has}`;
}
