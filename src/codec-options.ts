import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, describeName, memberPath } from './errors.js';

/**
 * The codec settings, in the shape of the `temporal.security` section of a Trenova-style `config.yaml`.
 */
export interface CodecOptions {
  /** Encrypt payloads (AES-256-GCM); default true. */
  enableEncryption?: boolean;
  /** The key id new payloads are encrypted with; default `"default"`. */
  encryptionKeyID?: string;
  /** Compress payloads at or above `compressionThreshold` before encrypting them; default true. */
  enableCompression?: boolean;
  /** Serialized size in bytes from which payloads are compressed; default 1024. */
  compressionThreshold?: number;
  /**
   * Cap on the size one compressed payload may inflate to; default 64 MiB. Greater than 0: 0 would refuse every
   * compressed payload, so reading or validating it is an `ERR_CONFIG` error naming where it was set.
   */
  maxDecompressedBytes?: number;
  /** A directory with one key file per key id, read besides the environment. */
  keysDir?: string;
}

/** Environment variables read by {@link loadCodecOptions}; each overrides the config file. */
export const CODEC_ENV = {
  configFile: 'TEMPORAL_CODEC_CONFIG',
  enableEncryption: 'TEMPORAL_CODEC_ENABLE_ENCRYPTION',
  encryptionKeyID: 'TEMPORAL_CODEC_ENCRYPTION_KEY_ID',
  enableCompression: 'TEMPORAL_CODEC_ENABLE_COMPRESSION',
  compressionThreshold: 'TEMPORAL_CODEC_COMPRESSION_THRESHOLD',
  maxDecompressedBytes: 'TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES',
  keysDir: 'TEMPORAL_CODEC_KEYS_DIR',
} as const;

type OptionKind = 'boolean' | 'string' | 'integer' | 'positive';
const OPTION_KINDS: Record<keyof CodecOptions, OptionKind> = {
  enableEncryption: 'boolean',
  encryptionKeyID: 'string',
  enableCompression: 'boolean',
  compressionThreshold: 'integer',
  // 0 would refuse every binary/zlib payload: the codecs refuse it, and so does reading it, naming where it was set.
  maxDecompressedBytes: 'positive',
  keysDir: 'string',
};

/**
 * Reads codec options from a YAML or JSON config file (its `temporal.security` section, or a top-level `security`
 * section, or the file's top level) and then from `TEMPORAL_CODEC_*` variables, which win. Names in the file are
 * matched without case, as viper (which reads Trenova's `config.yaml`) matches them; an unknown name in
 * `temporal.security` is an `ERR_CONFIG` error naming the file and the field.
 *
 * @example
 * const options = loadCodecOptions({ configFile: 'config/config.yaml' });
 * const dataConverter = createDataConverter(options);
 */
export function loadCodecOptions(
  source: { configFile?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): CodecOptions {
  const { options, fileError, envError } = readCodecOptions(source);
  if (fileError) throw fileError;
  if (envError) throw envError;
  return options;
}

/**
 * @internal {@link loadCodecOptions} with the errors of the config file and of the `TEMPORAL_CODEC_*` variables kept
 * apart, for the CLI and the server: a malformed variable is a usage error (exit 2), a config file that cannot be used
 * is not (exit 1). `options` holds what could be read (a part that failed adds nothing).
 */
export function readCodecOptions(
  source: { configFile?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): { options: CodecOptions; fileError?: ConfigError; envError?: ConfigError } {
  const env = source.env ?? process.env;
  const configFile = source.configFile ?? env[CODEC_ENV.configFile];
  const read = (part: () => CodecOptions): { options: CodecOptions; error?: ConfigError } => {
    try {
      return { options: part() };
    } catch (error) {
      if (error instanceof ConfigError) return { options: {}, error };
      throw error;
    }
  };
  const file = read(() => (configFile ? readConfigFile(configFile) : {}));
  const vars = read(() => codecOptionsFromEnv(env));
  return {
    options: { ...file.options, ...vars.options },
    ...(file.error ? { fileError: file.error } : {}),
    ...(vars.error ? { envError: vars.error } : {}),
  };
}

/** The options of the `TEMPORAL_CODEC_*` variables (not `TEMPORAL_CODEC_CONFIG`). */
function codecOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): CodecOptions {
  const options: CodecOptions = {};
  for (const [name, variable] of Object.entries(CODEC_ENV)) {
    if (name === 'configFile') continue;
    const text = env[variable];
    if (text === undefined || text === '') continue;
    const key = name as keyof CodecOptions;
    (options as Record<string, unknown>)[key] = parseText(text, OPTION_KINDS[key], variable);
  }
  return options;
}

/** Checks the types of codec options given in code or read from a file; errors name the field. */
export function validateCodecOptions(value: unknown, where = 'options'): CodecOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${where} must be an object`);
  }
  const options: CodecOptions = {};
  for (const [key, kind] of Object.entries(OPTION_KINDS)) {
    const field = (value as Record<string, unknown>)[key];
    if (field === undefined || field === null) continue;
    const ok =
      kind === 'boolean'
        ? typeof field === 'boolean'
        : kind === 'string'
          ? typeof field === 'string' && field !== ''
          : Number.isSafeInteger(field) && (field as number) >= (kind === 'positive' ? 1 : 0);
    if (!ok) throw new ConfigError(`${where}.${key} must be ${describeKind(kind)}`);
    (options as Record<string, unknown>)[key] = field;
  }
  return options;
}

function readConfigFile(path: string): CodecOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`config file ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause,
    });
  }
  let document: unknown;
  try {
    document = parseYaml(text); // YAML 1.2 is a superset of JSON, so one parser reads both.
  } catch (cause) {
    throw new ConfigError(`config file ${path} is not valid YAML or JSON`, { cause });
  }
  // Trenova reads this file with viper, whose keys are case-insensitive: `Temporal.Security.EncryptionKeyId` is the
  // same setting as `temporal.security.encryptionKeyID` there, so it must be here too.
  const root = document ?? {}; // an empty file
  if (!isMapping(root)) throw new ConfigError(`${path} must be an object`);
  const temporal = lookUp(root, 'temporal', `${path}: `);
  if (isMapping(temporal)) {
    const security = lookUp(temporal, 'security', `${path}: temporal.`);
    if (security !== undefined) return readSection(security, `${path}: temporal.security`, { strict: true });
  }
  // A top-level `security` section, or the file's top level, may hold other settings (Trenova's own top-level
  // `security` holds its sessions and API tokens): read the codec's keys there and leave the rest alone.
  const security = lookUp(root, 'security', `${path}: `);
  if (security !== undefined) return readSection(security, `${path}: security`, { strict: false });
  return readSection(root, path, { strict: false });
}

/**
 * Known option names by their lower-case form, as viper compares them. A Trenova `temporal.security` section
 * (`TemporalSecurityConfig` in Trenova's Go config, and the four settings of its Temporal setup guide) holds
 * enableEncryption, encryptionKeyID, enableCompression and compressionThreshold: all options of this package, so a
 * real Trenova file needs no key accepted here without being used.
 */
const KNOWN_KEYS = new Map<string, string>(Object.keys(OPTION_KINDS).map((key) => [key.toLowerCase(), key]));

/**
 * A section's codec options, its keys matched case-insensitively. With `strict` (the `temporal.security` section,
 * which holds codec settings only) an unknown key is an error: a misspelt `encryptionKeyID` silently left at
 * "default" would encrypt under the wrong key id.
 */
function readSection(value: unknown, where: string, { strict }: { strict: boolean }): CodecOptions {
  if (!isMapping(value)) throw new ConfigError(`${where} must be an object`);
  const options: Record<string, unknown> = {};
  const spelling = new Map<string, string>();
  for (const [key, field] of Object.entries(value)) {
    const known = KNOWN_KEYS.get(key.toLowerCase());
    if (known === undefined) {
      if (strict) {
        throw new ConfigError(
          `${memberPath(where, key)} is not a known setting (known: ${[...KNOWN_KEYS.values()].join(', ')})`,
        );
      }
      continue;
    }
    const earlier = spelling.get(known);
    if (earlier !== undefined) {
      throw new ConfigError(`${where}.${known} is set twice, as ${describeName(earlier)} and ${describeName(key)}`);
    }
    spelling.set(known, key);
    options[known] = field;
  }
  return validateCodecOptions(options, where);
}

/** The value of `name` in `mapping`, compared without case; two spellings of the same name are an error. */
function lookUp(mapping: Record<string, unknown>, name: string, prefix: string): unknown {
  const matches = Object.keys(mapping).filter((key) => key.toLowerCase() === name);
  if (matches.length > 1) throw new ConfigError(`${prefix}${name} is set twice, as ${matches.map(describeName).join(' and ')}`);
  return matches.length === 1 ? mapping[matches[0]!] : undefined;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseText(text: string, kind: OptionKind, variable: string): boolean | string | number {
  if (kind === 'string') return text;
  if (kind === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(text)) return true;
    if (/^(false|0|no|off)$/i.test(text)) return false;
  } else if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text)) && (kind !== 'positive' || Number(text) > 0)) {
    return Number(text);
  }
  throw new ConfigError(`${variable} must be ${describeKind(kind)}`);
}

function describeKind(kind: OptionKind): string {
  if (kind === 'boolean') return 'true or false';
  if (kind === 'string') return 'a non-empty string';
  return kind === 'positive' ? 'an integer greater than 0' : 'a non-negative integer';
}
