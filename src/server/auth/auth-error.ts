import { HttpError } from '../errors.js';

/** Why a request was refused; the `reason` label of `temporal_codec_auth_refusals_total`. */
export type RefusalReason =
  | 'missing_token'
  | 'invalid_token'
  | 'expired_token'
  | 'forbidden_namespace'
  | 'forbidden_key'
  | 'key_set_unavailable';

const STATUS_TEXT: Record<RefusalReason, string> = {
  missing_token: 'Unauthorized: a bearer token is required',
  invalid_token: 'Unauthorized: invalid token',
  expired_token: 'Unauthorized: token expired',
  forbidden_namespace: 'Forbidden: not allowed in this namespace',
  forbidden_key: 'Forbidden: key not allowed in this namespace',
  key_set_unavailable: 'Service Unavailable: token keys unavailable',
};

/**
 * An authentication or authorization refusal: 401, 403 or (the identity provider's key set cannot be fetched) 503,
 * with a status text that says which, since the Web UI shows the status text and nothing else. 401s carry an RFC 6750
 * `WWW-Authenticate` challenge. Messages name the token (its configured name or the JWT's `sub`), the namespace and
 * the missing right, never a token.
 */
export class AuthError extends HttpError {
  readonly refusal: RefusalReason;

  constructor(refusal: RefusalReason, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    const code =
      refusal === 'key_set_unavailable'
        ? 'unavailable'
        : refusal === 'forbidden_namespace' || refusal === 'forbidden_key'
          ? 'forbidden'
          : 'unauthorized';
    const headers: Record<string, string> = {};
    if (code === 'unauthorized') {
      headers['WWW-Authenticate'] =
        refusal === 'missing_token' ? 'Bearer realm="temporal-codec"' : 'Bearer realm="temporal-codec", error="invalid_token"';
    }
    if (options.retryAfterSeconds !== undefined) headers['Retry-After'] = String(options.retryAfterSeconds);
    super(code, message, { headers, ...(options.cause !== undefined ? { cause: options.cause } : {}) });
    this.refusal = refusal;
    this.name = 'AuthError';
  }

  override get reason(): string {
    return STATUS_TEXT[this.refusal];
  }
}
