import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { AuthorizeHook } from '../codec-route.js';
import { commaList, type SettingsReader } from '../config-source.js';
import { type Authenticators, createAuthorizer } from './authorizer.js';
import { DEFAULT_ISSUER_KEYS, IssuerKeys, type IssuerKeysSettings, safeUrl } from './issuer-keys.js';
import {
  ASYMMETRIC_ALGORITHMS,
  DEFAULT_CLOCK_TOLERANCE_S,
  DEFAULT_JWT_ALGORITHMS,
  DEFAULT_PERMISSIONS_CLAIM,
  type JwtRules,
  JwtVerifier,
  TOKEN_SOURCES,
} from './jwt.js';
import { duplicateProblems, parseStaticTokens, type StaticToken, StaticTokens } from './static-tokens.js';

/** Authentication as configured: plain data (token digests, JWT rules), built into an authorizer by {@link createAccessControl}. */
export interface AuthSettings {
  tokens: readonly StaticToken[];
  jwt?: JwtRules & IssuerKeysSettings;
  /** Namespaces whose payloads may be decoded without a token. */
  anonymousDecode: readonly string[];
  /** Where they were given (`--anonymous-decode-namespaces` or its variable), for messages. */
  anonymousDecodeSource?: string;
}

const JWT_SETTINGS = ['jwtIssuer', 'jwtAudience', 'jwtAlgorithms', 'jwtPermissionsClaim', 'jwtTokenSource', 'jwksTimeout'] as const;

/**
 * Reads the authentication settings, or undefined when none is configured. Problems go to `reader.problems`, naming
 * the flag or variable and never a token.
 */
export function readAuthSettings(reader: SettingsReader): AuthSettings | undefined {
  const { problems } = reader;
  const before = problems.length;
  const tokens: StaticToken[] = [];
  const file = reader.given('authTokensFile');
  const fileText = file && reader.readFile(file)?.toString('utf8');
  if (file && fileText !== undefined) tokens.push(...parseStaticTokens(fileText, `${file.source} ${file.text}`, problems));
  const inline = reader.given('authTokens');
  if (inline) tokens.push(...parseStaticTokens(inline.text, inline.source, problems));
  problems.push(...duplicateProblems(tokens));
  const tokensRead = problems.length === before;

  const jwt = readJwtSettings(reader);
  // An empty list is a mistake only when nothing else lets anyone in; with JWTs it revokes every static token.
  if ((file || inline) && tokens.length === 0 && tokensRead && !jwt) {
    problems.push(`${[file?.source, inline?.source].filter(Boolean).join(' and ')}: no tokens are listed`);
  }
  const anonymous = reader.given('anonymousDecodeNamespaces');
  const anonymousDecode = anonymous ? commaList(anonymous.text) : [];
  if (anonymous && anonymousDecode.includes('*')) {
    reader.malformed(`${anonymous.source}: "*" is not allowed; list the namespaces whose payloads anyone may decode`);
  }
  if (tokens.length === 0 && !jwt && !file && !inline) {
    if (anonymous) {
      problems.push(`${anonymous.source} needs authentication for everything else: configure tokens or JWT verification`);
    }
    return undefined;
  }
  return { tokens, ...(jwt ? { jwt } : {}), anonymousDecode, ...(anonymous ? { anonymousDecodeSource: anonymous.source } : {}) };
}

function readJwtSettings(reader: SettingsReader): (JwtRules & IssuerKeysSettings) | undefined {
  const { problems } = reader;
  const jwksUrl = reader.given('jwksUrl');
  const oidcIssuer = reader.given('oidcIssuer');
  if (!jwksUrl && !oidcIssuer) {
    const stray = JWT_SETTINGS.map((name) => reader.given(name)?.source).filter(Boolean);
    if (stray.length > 0) problems.push(`${stray.join(', ')} ${stray.length === 1 ? 'needs' : 'need'} --jwks-url or --oidc-issuer`);
    return undefined;
  }
  if (jwksUrl && oidcIssuer) problems.push(`give one of ${jwksUrl.source} and ${oidcIssuer.source}, not both`);
  for (const given of [jwksUrl, oidcIssuer]) {
    if (given && !safeUrl(given.text)) {
      reader.malformed(`${given.source} must be an https URL (http only on loopback): keys fetched in clear text could be replaced`);
    }
  }
  const issuer = reader.given('jwtIssuer')?.text ?? oidcIssuer?.text;
  if (!issuer) problems.push(`--jwt-issuer (TEMPORAL_CODEC_JWT_ISSUER) is required with ${jwksUrl!.source}`);
  const audience = commaList(reader.given('jwtAudience')?.text ?? '');
  if (audience.length === 0) {
    problems.push(
      '--jwt-audience (TEMPORAL_CODEC_JWT_AUDIENCE) is required with JWT verification: without it, a token the identity ' +
        'provider issued for any of its applications would be accepted',
    );
  }
  const algorithms = readAlgorithms(reader);
  const permissionsClaim = reader.given('jwtPermissionsClaim')?.text.trim() || DEFAULT_PERMISSIONS_CLAIM;
  const tokenSource = reader.oneOf('jwtTokenSource', TOKEN_SOURCES, 'access');
  const fetchTimeout = reader.duration('jwksTimeout', DEFAULT_ISSUER_KEYS.fetchTimeout);
  return {
    ...DEFAULT_ISSUER_KEYS,
    ...(jwksUrl ? { jwksUrl: jwksUrl.text } : { oidcIssuer: oidcIssuer!.text }),
    fetchTimeout,
    issuer: issuer ?? '',
    audience,
    algorithms,
    permissionsClaim,
    tokenSource,
    clockTolerance: DEFAULT_CLOCK_TOLERANCE_S,
  };
}

function readAlgorithms(reader: SettingsReader): string[] {
  const given = reader.given('jwtAlgorithms');
  if (!given) return DEFAULT_JWT_ALGORITHMS;
  const algorithms = commaList(given.text);
  const allowed = new Set<string>(ASYMMETRIC_ALGORITHMS);
  for (const alg of algorithms) {
    if (allowed.has(alg)) continue;
    const why = /^HS/i.test(alg)
      ? 'HMAC algorithms are refused: with a public key set, anyone holding the public key could sign tokens'
      : alg.toLowerCase() === 'none'
        ? 'unsigned tokens are never accepted'
        : `use ${ASYMMETRIC_ALGORITHMS.join(', ')}`;
    reader.malformed(`${given.source}: "${alg.slice(0, 20)}" is not accepted (${why})`);
  }
  return algorithms.length > 0 ? algorithms : DEFAULT_JWT_ALGORITHMS;
}

/**
 * The authorizer of these settings, the issuer keys to warm up at start-up, and `setTokens`, which puts a reloaded
 * token list in use for the requests authorized after it (see token-reload.ts).
 */
export function createAccessControl(
  settings: AuthSettings,
  deps: { logger: Logger; registry?: Registry },
): {
  authorize: AuthorizeHook;
  issuerKeys?: IssuerKeys;
  describe: Record<string, unknown>;
  setTokens: (tokens: readonly StaticToken[]) => void;
} {
  const authenticators: Authenticators = {
    ...(settings.tokens.length > 0 ? { staticTokens: new StaticTokens(settings.tokens) } : {}),
    ...(settings.anonymousDecode.length > 0 ? { anonymousDecode: new Set(settings.anonymousDecode) } : {}),
  };
  let issuerKeys: IssuerKeys | undefined;
  if (settings.jwt) {
    const fetches = deps.registry ? jwksFetchCounter(deps.registry) : undefined;
    issuerKeys = new IssuerKeys(settings.jwt, (what, outcome, detail) => {
      fetches?.labels(what, outcome).inc();
      const level = outcome === 'ok' ? 'debug' : 'warn';
      deps.logger[level]({ what, outcome, detail }, 'identity provider fetch');
    });
    authenticators.jwt = new JwtVerifier(settings.jwt, issuerKeys);
  }
  const describe = {
    tokens: settings.tokens.map((token) => token.name),
    ...(settings.jwt
      ? {
          jwt: {
            keys: issuerKeys!.describe(),
            issuer: settings.jwt.issuer,
            audience: settings.jwt.audience,
            algorithms: settings.jwt.algorithms,
            permissionsClaim: settings.jwt.permissionsClaim,
            tokenSource: settings.jwt.tokenSource,
          },
        }
      : {}),
    ...(settings.anonymousDecode.length > 0 ? { anonymousDecode: settings.anonymousDecode } : {}),
  };
  return {
    authorize: createAuthorizer(authenticators),
    ...(issuerKeys ? { issuerKeys } : {}),
    describe,
    setTokens: (tokens) => {
      // A reload never leaves a server without a way in: without JWTs, an empty list is refused before it gets here.
      if (tokens.length === 0 && !authenticators.jwt) throw new Error('setTokens needs tokens or a JWT verifier');
      if (tokens.length > 0) authenticators.staticTokens = new StaticTokens(tokens);
      else delete authenticators.staticTokens;
    },
  };
}

function jwksFetchCounter(registry: Registry): Counter<'what' | 'outcome'> {
  return new Counter({
    name: 'temporal_codec_idp_fetches_total',
    help: "Fetches of the identity provider's discovery document and key set, by what and outcome.",
    labelNames: ['what', 'outcome'],
    registers: [registry],
  });
}
