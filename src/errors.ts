/**
 * Stable codes of every failure the library reports. Callers switch on `code`, never on message text.
 */
export type CodecErrorCode =
  | 'ERR_KEY_CONFIG'
  | 'ERR_DECRYPTION_FAILED'
  | 'ERR_DECOMPRESSION_FAILED'
  | 'ERR_DECOMPRESSED_TOO_LARGE'
  | 'ERR_INVALID_PAYLOAD_JSON'
  | 'ERR_CONFIG';

/** Base class of every error the library throws; `code` is stable, `message` never holds key or payload bytes. */
export class CodecError extends Error {
  readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Key material is missing or malformed. Every problem found is listed in `problems` (and in the message), each
 * naming the environment variable or file, never its value.
 */
export class KeyConfigError extends CodecError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('ERR_KEY_CONFIG', `invalid encryption key configuration: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * A `binary/encrypted` payload could not be decrypted. The message is the same whether the key id is unknown, the
 * tag does not verify or the data is truncated, so the error is no oracle; it names the payload's key id so that an
 * operator can tell which key a retired or missing payload needs.
 */
export class DecryptionError extends CodecError {
  readonly keyId: string;

  constructor(keyId: string, options?: { cause?: unknown }) {
    super(
      'ERR_DECRYPTION_FAILED',
      `decryption operation failed for encryption-key-id ${describeKeyId(keyId)}: the key is not configured, ` +
        'or the payload was altered or encrypted with a different key',
      options,
    );
    this.keyId = keyId;
  }
}

/** A `binary/zlib` payload is not a complete, valid zlib stream (bad header, checksum, truncation). */
export class DecompressionError extends CodecError {
  constructor(options?: { cause?: unknown }) {
    super('ERR_DECOMPRESSION_FAILED', 'decompression failed: the binary/zlib payload is not a valid zlib stream', options);
  }
}

/** A `binary/zlib` payload inflates past the configured cap (a decompression bomb, or a cap set too low). */
export class DecompressedTooLargeError extends CodecError {
  readonly limit: number;

  constructor(limit: number) {
    super(
      'ERR_DECOMPRESSED_TOO_LARGE',
      `decompression failed: the binary/zlib payload inflates to more than ${limit} bytes (maxDecompressedBytes)`,
    );
    this.limit = limit;
  }
}

/** A `{"payloads": [...]}` document does not have the proto3 JSON shape; `path` names the offending field. */
export class PayloadJsonError extends CodecError {
  readonly path: string;

  constructor(path: string, problem: string) {
    super('ERR_INVALID_PAYLOAD_JSON', path ? `${path}: ${problem}` : problem);
    this.path = path;
  }
}

/** Codec options or a configuration file are invalid; the message names the option or field. */
export class ConfigError extends CodecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options);
  }
}

/**
 * Key ids come from payload metadata, which an attacker can write: quote them, cut them short and keep control
 * characters out of messages and logs.
 */
export function describeKeyId(keyId: string): string {
  const shown = keyId.length > 64 ? `${keyId.slice(0, 64)}...` : keyId;
  // JSON.stringify escapes only U+0000-U+001F: also escape DEL, the C1 controls (U+009B is a one-byte CSI), the
  // line and paragraph separators and the bidirectional overrides, which reorder what a terminal or log viewer shows.
  return JSON.stringify(shown).replace(
    /[\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const PLAIN_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A name read from a document (a JSON member, a config key) as a message shows it: as it is when plain, else quoted,
 * escaped and cut like a key id, so that no name can forge log lines or bloat a message.
 */
export function describeName(name: string): string {
  return PLAIN_NAME.test(name) ? name : describeKeyId(name);
}

/** The path of a member whose name comes from the document: `path.name` when the name is plain, else `path["name"]`. */
export function memberPath(path: string, name: string): string {
  return PLAIN_NAME.test(name) ? `${path}.${name}` : `${path}[${describeKeyId(name)}]`;
}
