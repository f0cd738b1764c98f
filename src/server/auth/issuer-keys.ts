import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type RemoteJWKSet,
} from 'jose';
import { isLoopback } from '../config-source.js';

/** Where the issuer's signing keys come from and how long they are kept. */
export interface IssuerKeysSettings {
  /** The JWKS URL; or give `oidcIssuer` and it is read from the issuer's discovery document. */
  jwksUrl?: string;
  /** The OIDC issuer whose `/.well-known/openid-configuration` names the `jwks_uri`. */
  oidcIssuer?: string;
  /** Milliseconds one fetch (discovery or JWKS) may take. */
  fetchTimeout: number;
  /** Milliseconds fetched keys are used before they are fetched again (jose's `cacheMaxAge`). */
  cacheMaxAge: number;
  /** Milliseconds after a fetch before a token with an unknown `kid` may cause another one (jose's `cooldownDuration`). */
  cooldown: number;
  /** Milliseconds after a failed fetch during which no fetch is tried again: requests fail fast instead of waiting. */
  retryAfter: number;
  /** Milliseconds past `cacheMaxAge` that keys fetched earlier are still used while the key set cannot be fetched. */
  staleIfError: number;
}

/** Defaults: jose's cache age and cooldown; a fetch timeout short enough for the Web UI to show an error quickly. */
export const DEFAULT_ISSUER_KEYS: Omit<IssuerKeysSettings, 'jwksUrl' | 'oidcIssuer'> = Object.freeze({
  fetchTimeout: 3_000,
  cacheMaxAge: 600_000,
  cooldown: 30_000,
  retryAfter: 10_000,
  staleIfError: 3_600_000,
});

/** The issuer's key set cannot be fetched; `detail` says why (a timeout, a status, a refused connection). */
export class KeySetUnavailableError extends Error {
  readonly retryAfterMs: number;

  constructor(detail: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'KeySetUnavailableError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** Told about every fetch, for metrics and logs. */
export type FetchObserver = (what: 'discovery' | 'jwks', outcome: 'ok' | 'error', detail?: string) => void;

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * The issuer's signing keys for `jwtVerify`, with jose's `createRemoteJWKSet` doing the fetching and caching (one
 * fetch per `cacheMaxAge`, concurrent requests sharing it; an unknown `kid` refetches at most once per `cooldown`).
 * Around it, what jose leaves to the caller when the endpoint is down: a failed fetch opens a `retryAfter` window in
 * which requests do not fetch again (so an outage costs one timeout, not one per request), and keys fetched before
 * the outage keep verifying for up to `staleIfError` past their age.
 */
export class IssuerKeys {
  readonly #settings: IssuerKeysSettings;
  readonly #observe: FetchObserver;
  #remote: RemoteJWKSet | undefined;
  #discovery: Promise<RemoteJWKSet> | undefined;
  #fetchedAt = 0;
  #stale: { at: number; keys: LocalKeySet } | undefined;
  #failedUntil = 0;
  #failure: KeySetUnavailableError | undefined;

  constructor(settings: IssuerKeysSettings, observe: FetchObserver = () => {}) {
    if (!settings.jwksUrl === !settings.oidcIssuer) throw new Error('IssuerKeys needs exactly one of jwksUrl and oidcIssuer');
    this.#settings = settings;
    this.#observe = observe;
  }

  /** The key resolver to give `jwtVerify`; throws {@link KeySetUnavailableError} when no usable keys can be had. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    if (Date.now() < this.#failedUntil) return this.#fromStale(this.#failure!, header, token);
    let remote: RemoteJWKSet;
    try {
      remote = await this.#remoteKeySet();
    } catch (error) {
      throw this.#failed(error, 'discovery');
    }
    try {
      return await remote(header, token);
    } catch (error) {
      if (!isFetchFailure(error)) throw error;
      return this.#fromStale(this.#failed(error, 'jwks'), header, token);
    }
  };

  /** Fetches the discovery document and the key set now (at start-up), so that the first request does not wait. */
  async warmUp(): Promise<void> {
    try {
      await (await this.#remoteKeySet()).reload();
    } catch (error) {
      throw this.#failed(error, this.#remote ? 'jwks' : 'discovery');
    }
  }

  /** Where the keys come from, for logs. */
  describe(): string {
    return this.#settings.jwksUrl ?? `${this.#settings.oidcIssuer} (OIDC discovery)`;
  }

  #remoteKeySet(): Promise<RemoteJWKSet> {
    if (this.#remote) return Promise.resolve(this.#remote);
    this.#discovery ??= this.#jwksUrl()
      .then((url) => {
        const { fetchTimeout, cacheMaxAge, cooldown } = this.#settings;
        this.#remote = createRemoteJWKSet(url, {
          timeoutDuration: fetchTimeout,
          cacheMaxAge,
          cooldownDuration: cooldown,
          [customFetch]: (input, init) => this.#fetchKeySet(input, init),
        });
        return this.#remote;
      })
      .finally(() => (this.#discovery = undefined));
    return this.#discovery;
  }

  async #fetchKeySet(url: string, init: RequestInit): Promise<Response> {
    try {
      const response = await fetch(url, init);
      if (response.status === 200) this.#fetchedAt = Date.now();
      this.#observe('jwks', response.status === 200 ? 'ok' : 'error', `HTTP ${response.status}`);
      return response;
    } catch (error) {
      this.#observe('jwks', 'error', describeFailure(error));
      throw error;
    }
  }

  async #jwksUrl(): Promise<URL> {
    if (this.#settings.jwksUrl) return new URL(this.#settings.jwksUrl);
    const issuer = this.#settings.oidcIssuer!;
    const where = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(where, { signal: AbortSignal.timeout(this.#settings.fetchTimeout) });
      if (response.status !== 200) throw new Error(`HTTP ${response.status} from ${where}`);
      document = (await response.json()) as typeof document;
    } catch (error) {
      this.#observe('discovery', 'error', describeFailure(error));
      throw error;
    }
    // OpenID Connect Discovery 1.0, section 4.3: the document's issuer must be the issuer it was fetched for.
    if (typeof document.issuer !== 'string' || document.issuer.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) {
      this.#observe('discovery', 'error', 'issuer mismatch');
      throw new Error(`the discovery document at ${where} is for another issuer (${String(document.issuer).slice(0, 200)})`);
    }
    const jwksUri = typeof document.jwks_uri === 'string' ? safeUrl(document.jwks_uri) : undefined;
    if (!jwksUri) {
      this.#observe('discovery', 'error', 'no usable jwks_uri');
      throw new Error(`the discovery document at ${where} has no https jwks_uri`);
    }
    this.#observe('discovery', 'ok');
    return jwksUri;
  }

  #failed(error: unknown, during: 'discovery' | 'jwks'): KeySetUnavailableError {
    if (error instanceof KeySetUnavailableError) return error;
    const { retryAfter, fetchTimeout } = this.#settings;
    const detail =
      (error as { code?: string })?.code === 'ERR_JWKS_TIMEOUT' || (error as Error)?.name === 'TimeoutError'
        ? `timed out after ${fetchTimeout} ms`
        : describeFailure(error);
    this.#failedUntil = Date.now() + retryAfter;
    this.#failure = new KeySetUnavailableError(
      `${during === 'discovery' ? 'the OIDC discovery document' : 'the key set'} of ${this.describe()} cannot be fetched: ${detail}`,
      retryAfter,
      { cause: error },
    );
    return this.#failure;
  }

  /** Keys fetched before the failure, if they are recent enough; else the failure. */
  async #fromStale(failure: KeySetUnavailableError, header: JWSHeaderParameters, token: FlattenedJWSInput) {
    const { cacheMaxAge, staleIfError } = this.#settings;
    if (!this.#remote || this.#fetchedAt === 0 || Date.now() > this.#fetchedAt + cacheMaxAge + staleIfError) throw failure;
    if (this.#stale?.at !== this.#fetchedAt) {
      const jwks: JSONWebKeySet | undefined = this.#remote.jwks();
      if (!jwks) throw failure;
      this.#stale = { at: this.#fetchedAt, keys: createLocalJWKSet(jwks) };
    }
    return this.#stale.keys(header, token);
  }
}

/** What jose's remote key set throws when it could not fetch (as opposed to a key set that has no matching key). */
function isFetchFailure(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JWKS_INVALID' || code === 'ERR_JOSE_GENERIC') return true;
  return typeof code !== 'string' || !code.startsWith('ERR_J');
}

/** An error's message and the code of its cause (fetch's "fetch failed" hides ECONNREFUSED there), bounded. */
function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = (error as { cause?: { code?: unknown } })?.cause?.code;
  return `${message}${typeof cause === 'string' ? ` (${cause})` : ''}`.slice(0, 300);
}

/** An https URL, or http on loopback (a local identity provider in development and tests). */
export function safeUrl(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol === 'https:') return url;
  return url.protocol === 'http:' && isLoopback(url.hostname) ? url : undefined;
}
