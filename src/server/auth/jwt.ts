import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { AuthError } from './auth-error.js';
import { type IssuerKeys, KeySetUnavailableError } from './issuer-keys.js';
import { type Grants, grantsFromPermissions } from './permissions.js';

/** Which header's token is checked: the access token (`Authorization: Bearer`), the ID token (`Authorization-Extras`). */
export type TokenSource = 'access' | 'id' | 'either';
export const TOKEN_SOURCES: readonly TokenSource[] = ['access', 'id', 'either'];

/**
 * Asymmetric JWS algorithms only: a key set holds public keys, and an HMAC algorithm "verified" with one of them
 * would let anyone who has the public key sign tokens. `none` is never accepted.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;
export const DEFAULT_JWT_ALGORITHMS = ['RS256', 'ES256'];
export const DEFAULT_PERMISSIONS_CLAIM = 'permissions';

/** How tokens are checked, besides where the keys come from. */
export interface JwtRules {
  /** Required `iss`. */
  issuer: string;
  /** Accepted `aud` values; the token must name at least one. */
  audience: readonly string[];
  algorithms: readonly string[];
  /** The claim with Temporal-style `"<namespace>:<role>"` permissions. */
  permissionsClaim: string;
  tokenSource: TokenSource;
  /** Seconds of clock difference allowed for `exp`, `nbf` and `iat`. */
  clockTolerance: number;
}

/** Clocks of an identity provider and this host drift; RFC 7519 leaves the margin to the verifier. */
export const DEFAULT_CLOCK_TOLERANCE_S = 30;

/** A verified JWT: its subject (for logs and messages) and what its permissions claim grants. */
export interface JwtPrincipal {
  kind: 'jwt';
  name: string;
  grants: Grants;
  hasPermissionsClaim: boolean;
}

/** Verifies JWTs with jose against the issuer's key set, and reads their permissions. */
export class JwtVerifier {
  readonly rules: JwtRules;
  readonly keys: IssuerKeys;

  constructor(rules: JwtRules, keys: IssuerKeys) {
    this.rules = rules;
    this.keys = keys;
  }

  /** The principal of a valid token; an {@link AuthError} (401, or 503 when the key set is unavailable) otherwise. */
  async verify(token: string, tokenSource: 'access' | 'id'): Promise<JwtPrincipal> {
    const { issuer, audience, algorithms, permissionsClaim, clockTolerance } = this.rules;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys.getKey, {
        issuer,
        audience: [...audience],
        algorithms: [...algorithms],
        clockTolerance,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw this.explain(error, token, tokenSource) ?? error;
    }
    const claim = payload[permissionsClaim];
    const grants = grantsFromPermissions(claim);
    const subject = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : 'without sub';
    return {
      kind: 'jwt',
      name: subject.replace(/[^\x20-\x7e]/g, '?').slice(0, 100),
      grants,
      hasPermissionsClaim: claim !== undefined,
    };
  }

  /**
   * jose's error as a refusal that says what is wrong with the token, never echoing the token; undefined for an error
   * that is no token problem (a bug, answered 500 and logged).
   */
  explain(error: unknown, token: string, tokenSource: 'access' | 'id'): AuthError | undefined {
    const which = tokenSource === 'access' ? 'the bearer token' : 'the ID token (Authorization-Extras)';
    if (error instanceof KeySetUnavailableError) {
      return new AuthError(
        'key_set_unavailable',
        `${which} could not be verified: the identity provider's key set is unavailable (${error.message}); ` +
          'retry later',
        { retryAfterSeconds: Math.max(1, Math.ceil(error.retryAfterMs / 1000)), cause: error },
      );
    }
    const jose = error as { code?: string; claim?: string; reason?: string; payload?: JWTPayload };
    const header = safeHeader(token);
    const invalid = (message: string): AuthError => new AuthError('invalid_token', `${which} ${message}`, { cause: error });
    switch (jose.code) {
      case 'ERR_JWT_EXPIRED': {
        const exp = jose.payload?.exp;
        const when = typeof exp === 'number' ? ` at ${new Date(exp * 1000).toISOString()}` : '';
        return new AuthError('expired_token', `${which} has expired${when} (exp); sign in again`, { cause: error });
      }
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        return invalid(explainClaim(jose.claim, jose.reason, this.rules));
      case 'ERR_JOSE_ALG_NOT_ALLOWED': {
        const accepted = `accepted algorithms: ${this.rules.algorithms.join(', ')}`;
        return header?.alg === undefined || String(header.alg).toLowerCase() === 'none'
          ? invalid(`is unsigned (alg "none"); ${accepted}`)
          : invalid(`is signed with ${String(header.alg).slice(0, 20)}, which is not accepted; ${accepted}`);
      }
      case 'ERR_JWKS_NO_MATCHING_KEY':
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': {
        const kid = typeof header?.kid === 'string' ? `kid "${header.kid.slice(0, 100)}"` : 'no kid';
        const count = jose.code === 'ERR_JWKS_NO_MATCHING_KEY' ? 'no key' : 'more than one key';
        return invalid(`names a signing key the identity provider does not have: ${count} in its key set matches (${kid}, alg ${String(header?.alg).slice(0, 20)})`);
      }
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return invalid("has a signature that does not verify with the identity provider's key");
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
        return invalid('is not a well-formed signed JWT');
      case 'ERR_JOSE_NOT_SUPPORTED':
      case 'ERR_JWK_INVALID':
        return invalid('uses a key or algorithm this server cannot verify');
      default:
        return undefined;
    }
  }
}

function explainClaim(claim: string | undefined, reason: string | undefined, rules: JwtRules): string {
  if (reason === 'missing') return `has no "${claim}" claim, which is required`;
  switch (claim) {
    case 'iss':
      return `was issued by another issuer: its issuer (iss) is not "${rules.issuer}"`;
    case 'aud':
      return `was issued for another audience: its audience (aud) does not include ${rules.audience.map((a) => `"${a}"`).join(' or ')}`;
    case 'nbf':
      return 'is not valid yet (nbf)';
    case 'iat':
      return 'has an issued-at time (iat) in the future';
    case 'exp':
      return 'has an invalid expiry (exp)';
    default:
      return `has an invalid "${String(claim).slice(0, 40)}" claim`;
  }
}

function safeHeader(token: string): { alg?: unknown; kid?: unknown } | undefined {
  try {
    return decodeProtectedHeader(token);
  } catch {
    return undefined;
  }
}
