import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parseBoolean, parseDuration, parseInteger, parseSize } from './units.js';

/** Environment variables of the server's own settings; the codec's are the library's `CODEC_ENV`. */
export const SERVE_ENV = {
  host: 'TEMPORAL_CODEC_HOST',
  port: 'TEMPORAL_CODEC_PORT',
  metricsPort: 'TEMPORAL_CODEC_METRICS_PORT',
  corsOrigins: 'TEMPORAL_CODEC_CORS_ORIGINS',
  corsMaxAge: 'TEMPORAL_CODEC_CORS_MAX_AGE',
  bodyLimit: 'TEMPORAL_CODEC_BODY_LIMIT',
  maxPayloads: 'TEMPORAL_CODEC_MAX_PAYLOADS',
  maxDecodedBytes: 'TEMPORAL_CODEC_MAX_DECODED_BYTES',
  headersTimeout: 'TEMPORAL_CODEC_HEADERS_TIMEOUT',
  requestTimeout: 'TEMPORAL_CODEC_REQUEST_TIMEOUT',
  keepAliveTimeout: 'TEMPORAL_CODEC_KEEP_ALIVE_TIMEOUT',
  shutdownDelay: 'TEMPORAL_CODEC_SHUTDOWN_DELAY',
  shutdownTimeout: 'TEMPORAL_CODEC_SHUTDOWN_TIMEOUT',
  tlsCert: 'TEMPORAL_CODEC_TLS_CERT',
  tlsKey: 'TEMPORAL_CODEC_TLS_KEY',
  logLevel: 'TEMPORAL_CODEC_LOG_LEVEL',
  workers: 'TEMPORAL_CODEC_WORKERS',
  allowUnauthenticated: 'TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED',
  authTokensFile: 'TEMPORAL_CODEC_AUTH_TOKENS_FILE',
  /** The token list itself (JSON); a variable only, since a command line is visible to every user of the host. */
  authTokens: 'TEMPORAL_CODEC_AUTH_TOKENS',
  jwksUrl: 'TEMPORAL_CODEC_JWKS_URL',
  oidcIssuer: 'TEMPORAL_CODEC_OIDC_ISSUER',
  jwtIssuer: 'TEMPORAL_CODEC_JWT_ISSUER',
  jwtAudience: 'TEMPORAL_CODEC_JWT_AUDIENCE',
  jwtAlgorithms: 'TEMPORAL_CODEC_JWT_ALGORITHMS',
  jwtPermissionsClaim: 'TEMPORAL_CODEC_JWT_PERMISSIONS_CLAIM',
  jwtTokenSource: 'TEMPORAL_CODEC_JWT_TOKEN_SOURCE',
  jwksTimeout: 'TEMPORAL_CODEC_JWKS_TIMEOUT',
  anonymousDecodeNamespaces: 'TEMPORAL_CODEC_ANONYMOUS_DECODE_NAMESPACES',
  namespaceKeys: 'TEMPORAL_CODEC_NAMESPACE_KEYS',
} as const;

type SettingName = keyof typeof SERVE_ENV;

/** The flags of `temporal-codec serve` as Commander hands them over: only those given on the command line. */
export type ServeFlags = { [name in Exclude<SettingName, 'allowUnauthenticated' | 'authTokens'>]?: string } & {
  maxDecompressedBytes?: string;
  keyId?: string;
  keysDir?: string;
  config?: string;
  compressionThreshold?: string;
  /** false for `--no-compression`; undefined when the flag was not given. */
  compression?: boolean;
  allowUnauthenticated?: boolean;
};

export type Env = Readonly<Record<string, string | undefined>>;

/** A setting's text and where it came from (`--flag` or `VARIABLE`), for messages. */
export interface Given {
  text: string;
  source: string;
}

const SIZE = 'a size in bytes greater than 0 (e.g. 4194304, 4MiB, 512KiB)';
const DURATION = 'a duration greater than 0 (e.g. 5s, 500ms; a bare number is milliseconds)';

/** Reads each setting from its flag, else its variable, collecting every problem instead of stopping at one. */
export class SettingsReader {
  readonly problems: string[] = [];
  /**
   * Whether one of `problems` is a malformed value: one that does not parse or is out of range on its own, whatever
   * the other settings, files and keys. Those are usage errors (`serve` exits 2); the rest, configuration that is
   * well-formed but cannot run, exit 1.
   */
  hasMalformedValue = false;

  constructor(
    private readonly flags: ServeFlags,
    private readonly env: Env,
  ) {}

  given(name: SettingName): Given | undefined {
    const flag = (this.flags as Record<string, unknown>)[name];
    if (typeof flag === 'string') {
      return { text: flag, source: `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` };
    }
    const value = this.env[SERVE_ENV[name]];
    return value === undefined || value === '' ? undefined : { text: value, source: SERVE_ENV[name] };
  }

  read<T>(name: SettingName, parse: (text: string) => T | undefined, expected: string, fallback: T): T {
    const given = this.given(name);
    if (!given) return fallback;
    const value = parse(given.text);
    if (value !== undefined) return value;
    this.malformed(`${given.source} must be ${expected}`);
    return fallback;
  }

  /** Records a problem that is a malformed value (see {@link hasMalformedValue}). */
  malformed(problem: string): void {
    this.problems.push(problem);
    this.hasMalformedValue = true;
  }

  size(name: SettingName, fallback: number): number {
    return this.read(name, positive(parseSize), SIZE, fallback);
  }

  duration(name: SettingName, fallback: number): number {
    return this.read(name, positive(parseDuration), DURATION, fallback);
  }

  integer(name: SettingName, fallback: number, min: number, max: number, expected: string): number {
    return this.read(name, (text) => within(parseInteger(text), min, max), expected, fallback);
  }

  boolean(name: 'allowUnauthenticated', fallback: boolean): boolean {
    return this.flags[name] ?? this.read(name, parseBoolean, 'true or false', fallback);
  }

  oneOf<T extends string>(name: SettingName, values: readonly T[], fallback: T): T {
    const parse = (text: string): T | undefined => values.find((value) => value === text);
    return this.read(name, parse, `one of ${values.join(', ')}`, fallback);
  }

  /** Exact origins, comma-separated; `*` and anything with a path are refused. */
  corsOrigins(): string[] {
    const given = this.given('corsOrigins');
    if (!given) return [];
    const origins: string[] = [];
    for (const item of commaList(given.text)) {
      if (item === '*') {
        this.malformed(
          `${given.source}: "*" is not allowed; list the exact origins of the Web UI (credentials are allowed, so a ` +
            'wildcard would let any web site decode)',
        );
      } else if (originOf(item) !== item) {
        this.malformed(
          `${given.source}: "${item.slice(0, 100)}" is not an origin; write scheme://host[:port] with no path or ` +
            'trailing slash (e.g. https://temporal.example.com)',
        );
      } else {
        origins.push(item);
      }
    }
    return origins;
  }

  /** The PEM certificate and key, both or neither, checked to form a usable pair. */
  tls(): { cert: Buffer; key: Buffer } | undefined {
    const cert = this.given('tlsCert');
    const key = this.given('tlsKey');
    if (!cert && !key) return undefined;
    if (!cert || !key) {
      this.problems.push(`${cert ? cert.source : key!.source} needs ${cert ? '--tls-key' : '--tls-cert'} as well`);
      return undefined;
    }
    const certPem = this.readFile(cert);
    const keyPem = this.readFile(key);
    if (!certPem || !keyPem) return undefined;
    try {
      createSecureContext({ cert: certPem, key: keyPem });
    } catch (error) {
      // OpenSSL's reason (e.g. "key values mismatch") names no key material.
      const reason = (error as Error).message;
      this.problems.push(`${cert.source} and ${key.source} are not a usable certificate and key (${reason})`);
      return undefined;
    }
    return { cert: certPem, key: keyPem };
  }

  /** The file a setting names, or undefined with a problem naming the setting, the path and the error code. */
  readFile(given: Given): Buffer | undefined {
    try {
      return readFileSync(given.text);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      this.problems.push(`${given.source}: ${given.text} cannot be read (${code})`);
      return undefined;
    }
  }
}

/** The items of a comma-separated setting, trimmed, empty ones dropped. */
export function commaList(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean);
}

/** 127.0.0.0/8, ::1 and localhost (brackets allowed): only this machine can connect. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

function positive(parse: (text: string) => number | undefined): (text: string) => number | undefined {
  return (text) => {
    const value = parse(text);
    return value !== undefined && value > 0 ? value : undefined;
  };
}

function within(value: number | undefined, min: number, max: number): number | undefined {
  return value !== undefined && value >= min && value <= max ? value : undefined;
}

function originOf(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
