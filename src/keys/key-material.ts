import { createHmac } from 'node:crypto';

/** AES-256 takes a 32-byte key. */
export const KEY_LENGTH = 32;

/** The result of reading one key value: the key, or a problem that names the source but never the value. */
export type ParsedKey =
  | { ok: true; key: Buffer; warning?: string }
  | { ok: false; problem: string };

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
/**
 * A whole `TEMPORAL_ENCRYPTION_KEY...=value` line (or `export ...`), as `temporal-codec keygen` prints it: written
 * into a key file or a secret as it is, its first 32 bytes would be the variable's name, the same predictable "key"
 * for every id. Only this project's own variable names: any other text of 32 bytes or more is a key (the wire
 * format), `openssl rand -base64 32` output and passphrases with `=` included.
 */
export const KEY_ASSIGNMENT = /^(export\s+)?TEMPORAL_ENCRYPTION_KEY\w*=/;
const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Reads a key value as the wire-format note defines it:
 * - `base64:<text>`: strict, padded base64 of exactly 32 bytes;
 * - `hex:<text>`: 64 hex digits;
 * - anything else: its UTF-8 bytes, at least 32, of which the first 32 are the key. This is what the Go codec in the
 *   Trenova application does with the same variable, so both sides derive the same key from it.
 *
 * `source` names the variable or file in messages; the value itself never appears in one.
 */
export function parseKeyValue(value: string, source: string): ParsedKey {
  if (value.startsWith('base64:')) {
    const text = value.slice('base64:'.length).trim();
    const bytes = Buffer.from(text, 'base64');
    // Buffer.from skips characters it does not know; a round trip proves the text was strict base64.
    if (!BASE64_TEXT.test(text) || bytes.toString('base64') !== text) {
      return { ok: false, problem: `${source} is not valid base64 after "base64:"` };
    }
    if (bytes.length !== KEY_LENGTH) {
      return { ok: false, problem: `${source} decodes to ${bytes.length} bytes; AES-256 needs exactly ${KEY_LENGTH}` };
    }
    return { ok: true, key: bytes };
  }
  if (value.startsWith('hex:')) {
    const text = value.slice('hex:'.length).trim();
    if (!HEX_KEY.test(text)) {
      return { ok: false, problem: `${source} must hold exactly 64 hex digits after "hex:"` };
    }
    return { ok: true, key: Buffer.from(text, 'hex') };
  }
  if (KEY_ASSIGNMENT.test(value)) {
    return {
      ok: false,
      problem: `${source} holds a whole NAME=value line, not a key value: store the value alone (keygen --value-only)`,
    };
  }
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < KEY_LENGTH) {
    return {
      ok: false,
      problem:
        `${source} is ${bytes.length} bytes long; a key needs at least ${KEY_LENGTH} ` +
        '(or use "base64:" with `temporal-codec keygen`)',
    };
  }
  const key = Buffer.from(bytes.subarray(0, KEY_LENGTH));
  if (bytes.length > KEY_LENGTH) {
    return {
      ok: true,
      key,
      warning:
        `${source} is ${bytes.length} bytes of text; only its first ${KEY_LENGTH} bytes are used as the key ` +
        '(as a Go codec reading the text does; where only this package reads the variable, "base64:<44 characters>" ' +
        'uses all of a generated key)',
    };
  }
  return { ok: true, key };
}

/** A `base64:` or `hex:` key value, or bare base64 of 32 bytes (what `openssl rand -base64 32` prints). */
const KEY_VALUE_FORM = /^(base64:|hex:)|^[A-Za-z0-9+/]{43}=$/;

/**
 * Whether text meant as a key id is a key value instead: a form only key values take ({@link KEY_ASSIGNMENT},
 * `base64:`, `hex:`, bare base64 of 32 bytes), or text whose first 32 bytes are one of `keys`. A key pasted where its
 * id belongs would be printed by the tools and written into every payload's metadata.
 */
export function looksLikeKeyValue(text: string, keys: Iterable<Uint8Array> = []): boolean {
  if (KEY_ASSIGNMENT.test(text) || KEY_VALUE_FORM.test(text)) return true;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length < KEY_LENGTH) return false;
  const head = bytes.subarray(0, KEY_LENGTH);
  for (const key of keys) if (head.equals(key)) return true;
  return false;
}

const FINGERPRINT_LABEL = 'temporal-payload-codec fingerprint';

/**
 * A short, one-way check value of a key: the first 8 bytes of HMAC-SHA256(key, label) in hex. Operators compare
 * fingerprints across workers, clients and the codec server without ever showing a key.
 */
export function keyFingerprint(key: Uint8Array): string {
  return createHmac('sha256', key).update(FINGERPRINT_LABEL).digest().subarray(0, 8).toString('hex');
}
