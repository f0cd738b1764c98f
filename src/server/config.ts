import { availableParallelism } from 'node:os';
import {
  CODEC_ENV,
  type CodecOptions,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_ENCRYPTION_KEY_ID,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  KeyConfigError,
  type KeyRing,
} from '../index.js';
import { readCodecOptions } from '../codec-options.js';
import { FALLBACK_KEY_VARIABLE } from '../keys/load-key-ring.js';
import { type AuthSettings, readAuthSettings } from './auth/auth-config.js';
import type { TokenRead } from './auth/token-reload.js';
import { type Env, isLoopback, SERVE_ENV, type ServeFlags, SettingsReader } from './config-source.js';
import { type KeySource, loadServerKeyRing } from './key-reload.js';
import {
  type AnonymousKeySharing,
  anonymousKeySharing,
  type NamespaceKeyMap,
  namespaceKeyProblems,
  OTHER_NAMESPACES,
  readNamespaceKeys,
} from './namespaces.js';
import { formatSize, parseDuration, parseSize } from './units.js';

/** What one codec server instance needs: limits, timeouts, CORS and TLS. No process concerns. */
export interface ServerSettings {
  /** Exact origins allowed to call from a browser (the Temporal Web UI's); empty: no CORS headers at all. */
  corsOrigins: readonly string[];
  /** Seconds a browser may cache a preflight answer. */
  corsMaxAge: number;
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** Most payloads in one request. */
  maxPayloads: number;
  /** Most bytes all decoded payloads of one request may hold together (each is also capped by the codec). */
  maxDecodedBytes: number;
  /** Milliseconds a client has to send the request headers. */
  headersTimeout: number;
  /** Milliseconds a client has to send the whole request. */
  requestTimeout: number;
  /** Milliseconds an idle keep-alive connection is kept open. */
  keepAliveTimeout: number;
  /** How often Node checks the two timeouts above; its default of 30 s would let them run 30 s late. */
  connectionsCheckingInterval: number;
  /**
   * Milliseconds between the start of shutdown (`/readyz` answers 503) and closing the listener, so that a load
   * balancer polling readiness stops sending traffic first (a Kubernetes preStop-style delay). Default 0.
   */
  shutdownDelay: number;
  /** Milliseconds in-flight requests get to finish at shutdown before connections are cut. */
  shutdownTimeout: number;
  /** PEM certificate chain and key: serve https. */
  tls?: { cert: Buffer; key: Buffer };
  /**
   * Serve `/metrics` on a separate plain-http server (`CodecServer.metricsServer`, on `--metrics-port`) and answer it
   * with a 404 on the codec port, which browsers reach. Default false.
   */
  separateMetrics: boolean;
}

/** The whole configuration of `temporal-codec serve`. */
export interface ServeConfig extends ServerSettings {
  host: string;
  port: number;
  /** The port of the metrics server, on `host`; set exactly when `separateMetrics` is. */
  metricsPort?: number;
  logLevel: LogLevel;
  /** Processes serving requests; 1 runs in the process itself, more use node:cluster. */
  workers: number;
  /** Serve off loopback without authentication (a decryption oracle for anyone who can reach it). */
  allowUnauthenticated: boolean;
  /** Who may decode and encode; absent: anyone who can connect. */
  auth?: AuthSettings;
  /** Each namespace's key ids and active key; absent: every namespace shares the key ring. */
  namespaceKeys?: NamespaceKeyMap;
  /** Codec options after defaults, config file, `TEMPORAL_CODEC_*` variables and flags. */
  codec: Required<Omit<CodecOptions, 'keysDir'>> & { keysDir?: string };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MiB = 1024 * 1024;

/** Safe defaults; every one can be changed by a flag or variable. */
export const DEFAULT_SETTINGS: Readonly<ServerSettings> = Object.freeze({
  corsOrigins: [],
  // Chromium caps a preflight cache at 2 hours, Firefox at 24: ask for Chromium's maximum.
  corsMaxAge: 7200,
  bodyLimit: 4 * MiB,
  maxPayloads: 1000,
  maxDecodedBytes: 2 * DEFAULT_MAX_DECOMPRESSED_BYTES,
  headersTimeout: 5_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
  // Orchestrators send SIGKILL 10 s after SIGTERM (Docker, and Kubernetes' grace period is 30 s): stay under 10.
  shutdownDelay: 0,
  shutdownTimeout: 8_000,
  separateMetrics: false,
});

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8888;

export { SERVE_ENV, type ServeFlags };

/** Every configuration problem found, each naming the flag or variable and never a key's value. */
export class ServeConfigError extends Error {
  readonly problems: readonly string[];
  /**
   * At least one problem is a malformed value (`--port abc`, `TEMPORAL_CODEC_LOG_LEVEL=loud`): a usage error, which
   * `serve` reports with exit code 2. Any one decides, not all: the command must be fixed first, and the checks after
   * a malformed value ran with its default, so the other problems may not survive the fix.
   */
  readonly usage: boolean;

  constructor(problems: readonly string[], options: { usage?: boolean } = {}) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
    this.usage = options.usage ?? false;
    this.name = 'ServeConfigError';
  }
}

/** The configuration and the keys it names, read once at start-up. */
export interface LoadedServeConfig {
  config: ServeConfig;
  /** Present when encryption is enabled. */
  keyRing?: KeyRing;
  /** Where the keys were read from, to read them again on reload; present when encryption is enabled. */
  keySource?: KeySource;
  /** Things worth a log line (a long text key); never key values. */
  warnings: string[];
  /** With a tokens file: the file, and how to read the token list again (a token reload) with the start-up checks. */
  tokenSource?: { file: string; read: () => TokenRead };
}

/**
 * The token list of these flags and variables as start-up reads it (the tokens file is read again), with start-up's
 * warning about namespace limits when every namespace shares the key ring (`sharedKeyRing`).
 */
function readTokens(
  flags: ServeFlags,
  env: Env,
  sharedKeyRing: { host: string; allowUnauthenticated: boolean; anonymousSource: string } | undefined,
): TokenRead {
  const reader = new SettingsReader(flags, env);
  const auth = readAuthSettings(reader);
  if (!auth || reader.problems.length > 0) {
    return { problems: reader.problems.length > 0 ? reader.problems : ['no tokens are configured any more'] };
  }
  const warnings: string[] = [];
  if (sharedKeyRing) checkNamespaceIsolation(auth, sharedKeyRing, [], warnings);
  return { tokens: auth.tokens, warnings };
}

/**
 * Reads flags, then `TEMPORAL_CODEC_*` variables, then the config file, then defaults, and loads the keys. This is
 * the one place the server reads the environment. Throws one {@link ServeConfigError} listing every problem.
 */
export function loadServeConfig(flags: ServeFlags, env: Env): LoadedServeConfig {
  const reader = new SettingsReader(flags, env);
  const { problems } = reader;
  const warnings: string[] = [];
  const D = DEFAULT_SETTINGS;

  const host = reader.given('host')?.text.trim() || DEFAULT_HOST;
  const beforePort = problems.length;
  const port = reader.integer('port', DEFAULT_PORT, 0, 65535, 'a port number from 0 to 65535');
  const portParsed = problems.length === beforePort;
  const metricsGiven = reader.given('metricsPort');
  const metricsPort = metricsGiven
    ? reader.integer('metricsPort', 0, 0, 65535, 'a port number from 0 to 65535')
    : undefined;
  if (metricsGiven && portParsed && metricsPort !== 0 && metricsPort === port) {
    problems.push(
      `${metricsGiven.source} is ${metricsPort}, the codec port too: give the metrics server a port of its own`,
    );
  }
  const corsOrigins = reader.corsOrigins();
  const corsMaxAge = reader.integer('corsMaxAge', D.corsMaxAge, 0, 86_400, 'a number of seconds up to 86400');
  const bodyLimit = reader.size('bodyLimit', D.bodyLimit);
  const maxPayloads = reader.integer('maxPayloads', D.maxPayloads, 1, 1_000_000, 'an integer greater than 0');
  const requestTimeout = reader.duration('requestTimeout', D.requestTimeout);
  // Node refuses a headers timeout above the request timeout: unless given, it shrinks to fit a short request timeout.
  const headersTimeout = reader.duration('headersTimeout', Math.min(D.headersTimeout, requestTimeout));
  const keepAliveTimeout = reader.duration('keepAliveTimeout', D.keepAliveTimeout);
  const shutdownDelay = reader.read('shutdownDelay', parseDuration, 'a duration (e.g. 5s, 0)', D.shutdownDelay);
  const shutdownTimeout = reader.duration('shutdownTimeout', D.shutdownTimeout);
  const logLevel = reader.oneOf('logLevel', LOG_LEVELS, 'info');
  const workers = reader.integer('workers', availableParallelism(), 1, 256, 'an integer from 1 to 256');
  const allowUnauthenticated = reader.boolean('allowUnauthenticated', false);
  if (headersTimeout > requestTimeout) {
    problems.push(
      `the headers timeout (${headersTimeout} ms) must not exceed the request timeout (${requestTimeout} ms)`,
    );
  }
  const auth = readAuthSettings(reader);
  if (!isLoopback(host) && !allowUnauthenticated && !auth) {
    problems.push(
      `refusing to listen on ${host} without authentication: an open codec server decrypts for anyone who can ` +
        'reach it. Configure tokens (--auth-tokens-file or TEMPORAL_CODEC_AUTH_TOKENS) or JWT verification ' +
        '(--oidc-issuer or --jwks-url), listen on 127.0.0.1, or pass --allow-unauthenticated ' +
        `(${SERVE_ENV.allowUnauthenticated}=true) if a proxy in front of it authenticates every request`,
    );
  }
  const tls = reader.tls();
  if (auth && !tls && !isLoopback(host)) {
    warnings.push(
      `tokens reach ${host} over plain http: serve https (--tls-cert, --tls-key) unless a proxy in front terminates TLS`,
    );
  }

  const problemsBeforeCodec = problems.length;
  const codec = readServeCodecOptions(flags, env, reader);
  const codecOk = problems.length === problemsBeforeCodec;
  const maxDecodedBytes = reader.size('maxDecodedBytes', 2 * codec.maxDecompressedBytes);
  if (maxDecodedBytes < codec.maxDecompressedBytes) {
    problems.push(
      `--max-decoded-bytes (${formatSize(maxDecodedBytes)}) must be at least --max-decompressed-bytes ` +
        `(${formatSize(codec.maxDecompressedBytes)}), or one allowed payload could never be decoded`,
    );
  }

  const problemsBeforeNamespaces = problems.length;
  const namespaceKeys = readNamespaceKeys(reader, flags.config ?? env[CODEC_ENV.configFile]);
  if (namespaceKeys && !codec.enableEncryption) {
    problems.push('namespace keys (--namespace-keys or the namespaces section) need encryption, which is disabled');
  }
  // Namespaces share one key ring only when no namespace keys were given (broken ones are reported already).
  const sharedKeyRing = codec.enableEncryption && !namespaceKeys && problems.length === problemsBeforeNamespaces;
  const anonymousSource = auth?.anonymousDecodeSource ?? '--anonymous-decode-namespaces';
  const where = { host, allowUnauthenticated, anonymousSource };
  if (auth && sharedKeyRing) checkNamespaceIsolation(auth, where, problems, warnings);

  let keyRing: KeyRing | undefined;
  let keySource: KeySource | undefined;
  let sharesKeys = false;
  // Keys depend on the codec options (keysDir, encryptionKeyID): with those broken, a key problem would mislead.
  if (codec.enableEncryption && codecOk) {
    const { keysDir, encryptionKeyID } = codec;
    keySource = { env: keyVariables(env), ...(keysDir !== undefined ? { keysDir } : {}), encryptionKeyID };
    try {
      keyRing = loadServerKeyRing(keySource, (warning) => warnings.push(warning));
      // With the mapping broken already, what it shares would mislead: its key problems only.
      const mappingOk = problems.length === problemsBeforeNamespaces;
      const settings = { host, allowUnauthenticated, namespaceKeys, auth: mappingOk ? auth : undefined };
      sharesKeys = checkNamespaceKeyRing(settings, keyRing, `refusing to listen on ${host}`, problems, warnings);
    } catch (error) {
      if (error instanceof KeyConfigError) problems.push(...error.problems);
      else throw error;
    }
  }

  // Off loopback, anonymous decoding of other namespaces' payloads is what --allow-unauthenticated allows (see above).
  const anonymousOpensOthers =
    (auth?.anonymousDecode.length ?? 0) > 0 && !isLoopback(host) && (sharedKeyRing || sharesKeys);
  if (auth && allowUnauthenticated && !anonymousOpensOthers) {
    warnings.push('--allow-unauthenticated has no effect: authentication is configured and every request needs it');
  }

  if (problems.length > 0) throw new ServeConfigError(problems, { usage: reader.hasMalformedValue });
  const config: ServeConfig = {
    host,
    port,
    corsOrigins,
    corsMaxAge,
    bodyLimit,
    maxPayloads,
    maxDecodedBytes,
    headersTimeout,
    requestTimeout,
    keepAliveTimeout,
    connectionsCheckingInterval: D.connectionsCheckingInterval,
    shutdownDelay,
    shutdownTimeout,
    ...(tls ? { tls } : {}),
    separateMetrics: metricsPort !== undefined,
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    logLevel,
    workers,
    allowUnauthenticated,
    ...(auth ? { auth } : {}),
    ...(namespaceKeys ? { namespaceKeys } : {}),
    codec,
  };
  const tokensFile = auth ? reader.given('authTokensFile')?.text : undefined;
  const isolation = sharedKeyRing ? where : undefined;
  const tokenSource =
    tokensFile !== undefined ? { file: tokensFile, read: () => readTokens(flags, env, isolation) } : undefined;
  return { config, keyRing, ...(keySource ? { keySource } : {}), warnings, ...(tokenSource ? { tokenSource } : {}) };
}

const NAMESPACE_KEYS_SETTING = '--namespace-keys or a namespaces section in --config';

/**
 * A namespace limit (a token's namespaces, JWT permissions, anonymous-decode namespaces) guards payloads only with
 * namespace keys: without them every namespace shares one key ring, and the namespace is a label the caller sends
 * (`X-Namespace`), so a caller allowed one namespace decodes every namespace's payloads by naming that one. Off
 * loopback, anonymous decoding then makes the server an open decryption oracle: refused unless the operator passes
 * `--allow-unauthenticated`, as for a server without authentication. A limited grant is only warned about, once: one
 * key for every namespace is a valid set-up, and the limit still says what each caller may ask for.
 */
function checkNamespaceIsolation(
  auth: AuthSettings,
  where: { host: string; allowUnauthenticated: boolean; anonymousSource: string },
  problems: string[],
  warnings: string[],
): void {
  const anonymous = auth.anonymousDecode.map((namespace) => JSON.stringify(namespace)).join(', ');
  if (anonymous !== '' && !isLoopback(where.host) && !where.allowUnauthenticated) {
    problems.push(
      `refusing to listen on ${where.host} with ${where.anonymousSource} (${anonymous}) and no namespace keys: every ` +
        "namespace shares one key ring, so anyone who can reach the server decodes any namespace's payloads by " +
        `sending "X-Namespace: ${auth.anonymousDecode[0]}". Give each namespace its own keys (${NAMESPACE_KEYS_SETTING}), ` +
        `or pass --allow-unauthenticated (${SERVE_ENV.allowUnauthenticated}=true) to accept that anyone who can reach ` +
        "it decodes every namespace's payloads",
    );
    return;
  }
  const limited = auth.tokens.filter((token) => token.namespaces !== '*').map((token) => JSON.stringify(token.name));
  const limits = [
    ...(limited.length > 0 ? [`${limited.length === 1 ? 'token' : 'tokens'} ${limited.join(', ')}`] : []),
    ...(auth.jwt ? ['JWT permissions'] : []),
    ...(anonymous !== '' ? [`${where.anonymousSource} (${anonymous})`] : []),
  ];
  if (limits.length === 0) return;
  warnings.push(
    `namespace limits do not isolate payloads without namespace keys (${NAMESPACE_KEYS_SETTING}): every namespace ` +
      "shares one key ring, so a caller allowed to decode in one namespace decodes any namespace's payloads by " +
      `sending that namespace in X-Namespace. Limited to some namespaces here: ${limits.join('; ')}`,
  );
}

/**
 * With namespace keys, anonymous decoding stays within its namespaces only if no other namespace's entry opens the
 * same keys: the namespace is a label the caller sends, so a key an anonymous namespace shares lets anyone decode the
 * other namespace's payloads under it. Off loopback, that is the open oracle {@link checkNamespaceIsolation} refuses
 * without namespace keys, and is refused the same way unless `--allow-unauthenticated`; with it, a warning says what
 * anyone can decode. `sharing` comes from {@link anonymousKeySharing}.
 */
function checkAnonymousKeySharing(
  auth: AuthSettings,
  sharing: readonly AnonymousKeySharing[],
  where: { host: string; allowUnauthenticated: boolean; anonymousSource: string; refusing: string },
  problems: string[],
  warnings: string[],
): void {
  const shared = sharing.map(describeSharing).join('; ');
  if (where.allowUnauthenticated) {
    warnings.push(
      `anyone who can reach the server decodes other namespaces' payloads through ${where.anonymousSource}, as ` +
        `--allow-unauthenticated allows. Shared: ${shared}`,
    );
    return;
  }
  const anonymous = auth.anonymousDecode.map((namespace) => JSON.stringify(namespace)).join(', ');
  problems.push(
    `${where.refusing} with ${where.anonymousSource} (${anonymous}) and ` +
      'namespace keys it shares ' +
      "with other namespaces: anyone who can reach the server decodes those namespaces' payloads by sending an " +
      `anonymous namespace in X-Namespace. Shared: ${shared}. Give each anonymous namespace keys of its own that no ` +
      `other namespace opens (${NAMESPACE_KEYS_SETTING}), or pass --allow-unauthenticated ` +
      `(${SERVE_ENV.allowUnauthenticated}=true) to accept that anyone who can reach it decodes those payloads`,
  );
}

/**
 * What a reloaded key ring must not break: the checks {@link checkNamespaceKeyRing} makes at start-up. A key set with
 * problems is rejected and the old one kept; with `--allow-unauthenticated`, sharing is a warning, as at start-up.
 */
export function reloadedKeyRingProblems(
  config: ServeConfig,
  ring: KeyRing,
  onWarning: (message: string) => void = () => {},
): string[] {
  const problems: string[] = [];
  const warnings: string[] = [];
  const refusing = `refusing keys that would open other namespaces' payloads to anonymous callers on ${config.host}`;
  checkNamespaceKeyRing(config, ring, refusing, problems, warnings);
  for (const warning of warnings) onWarning(warning);
  return problems;
}

/**
 * A key ring against the namespace keys, at start-up and on every reload: every key id a namespace names has a key
 * ({@link namespaceKeyProblems}), and, off loopback, no anonymous-decode namespace opens a key that others encrypt
 * with ({@link checkAnonymousKeySharing}: refused, or with `--allow-unauthenticated` a warning). Returns whether one
 * does.
 */
function checkNamespaceKeyRing(
  settings: Pick<ServeConfig, 'namespaceKeys' | 'auth' | 'host' | 'allowUnauthenticated'>,
  ring: KeyRing,
  refusing: string,
  problems: string[],
  warnings: string[],
): boolean {
  const { namespaceKeys, auth, host, allowUnauthenticated } = settings;
  if (!namespaceKeys) return false;
  const before = problems.length;
  problems.push(...namespaceKeyProblems(namespaceKeys, ring));
  // On loopback only local callers can reach it; with the mapping broken, what it shares would mislead.
  if (problems.length > before || !auth || isLoopback(host)) return false;
  const sharing = anonymousKeySharing(namespaceKeys, ring, auth.anonymousDecode);
  if (sharing.length === 0) return false;
  const anonymousSource = auth.anonymousDecodeSource ?? '--anonymous-decode-namespaces';
  checkAnonymousKeySharing(auth, sharing, { host, allowUnauthenticated, anonymousSource, refusing }, problems, warnings);
  return true;
}

/** `"public" opens key id "prod-2026" of namespace "orders"`: ids and namespaces only, never a key. */
function describeSharing({ namespace, throughOtherEntry, other, keys }: AnonymousKeySharing): string {
  const ids = keys.map(({ keyId, as }) =>
    as === undefined ? JSON.stringify(keyId) : `${JSON.stringify(keyId)} (as ${JSON.stringify(as)}, the same key)`,
  );
  const opens = `${JSON.stringify(namespace)}${throughOtherEntry ? ' (through the "*" entry)' : ''} opens key ` +
    `${ids.length === 1 ? 'id' : 'ids'} ${ids.join(', ')}`;
  if ('fallback' in other) {
    return `${opens} with the ${FALLBACK_KEY_VARIABLE} fallback, which serves every key id without a key of its own, ` +
      'whoever encrypts with it';
  }
  if ('unlisted' in other) return `${opens}, which no namespace entry names (workers may encrypt with it)`;
  return other.entry === OTHER_NAMESPACES
    ? `${opens} of every namespace without an entry of its own (the "*" entry)`
    : `${opens} of namespace ${JSON.stringify(other.entry)}`;
}

/** The key variables only: a reload reads them again, and nothing else of the environment needs keeping. */
function keyVariables(env: Env): Env {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('TEMPORAL_ENCRYPTION_KEY')));
}

/**
 * The codec options of the config file, `TEMPORAL_CODEC_*` variables and flags. The file and the variables are read
 * apart so that a malformed variable counts as a usage error and a config file that cannot be read does not.
 */
function readServeCodecOptions(flags: ServeFlags, env: Env, reader: SettingsReader): ServeConfig['codec'] {
  const { options, fileError, envError } = readCodecOptions({ configFile: flags.config, env });
  if (fileError) reader.problems.push(fileError.message);
  if (envError) reader.malformed(envError.message);
  if (flags.keyId !== undefined) options.encryptionKeyID = flags.keyId;
  if (flags.keysDir !== undefined) options.keysDir = flags.keysDir;
  if (flags.compression === false) options.enableCompression = false;
  if (flags.compressionThreshold !== undefined) {
    const value = parseSize(flags.compressionThreshold);
    if (value === undefined) reader.malformed('--compression-threshold must be a size in bytes (e.g. 1024, 4KiB)');
    else options.compressionThreshold = value;
  }
  if (flags.maxDecompressedBytes !== undefined) {
    const value = parseSize(flags.maxDecompressedBytes);
    if (value === undefined || value === 0) {
      reader.malformed('--max-decompressed-bytes must be a size in bytes greater than 0 (e.g. 64MiB)');
    } else options.maxDecompressedBytes = value;
  }
  if (options.encryptionKeyID === '') reader.malformed('--key-id must not be empty');
  return {
    enableEncryption: options.enableEncryption ?? true,
    encryptionKeyID: options.encryptionKeyID ?? DEFAULT_ENCRYPTION_KEY_ID,
    enableCompression: options.enableCompression ?? true,
    compressionThreshold: options.compressionThreshold ?? DEFAULT_COMPRESSION_THRESHOLD,
    maxDecompressedBytes: options.maxDecompressedBytes || DEFAULT_MAX_DECOMPRESSED_BYTES,
    ...(options.keysDir !== undefined ? { keysDir: options.keysDir } : {}),
  };
}
