import { describe, expect, it } from 'vitest';
import { KEY_LENGTH, keyFingerprint, parseKeyValue } from '../../src/keys/key-material.js';
import { expectNoSecret } from '../helpers/errors.js';
import { expectedFingerprint, testKey, textKey } from '../helpers/keys.js';

const SOURCE = 'environment variable TEMPORAL_ENCRYPTION_KEY_test';

function parsedKey(value: string): Buffer {
  const parsed = parseKeyValue(value, SOURCE);
  if (!parsed.ok) expect.fail(`expected a key, got the problem: ${parsed.problem}`);
  return parsed.key;
}

function problemOf(value: string): string {
  const parsed = parseKeyValue(value, SOURCE);
  if (parsed.ok) expect.fail('expected a problem, got a key');
  expectNoSecret(parsed.problem, [value]);
  return parsed.problem;
}

describe('parseKeyValue', () => {
  it('reads "base64:" followed by the padded base64 of 32 bytes as those bytes', () => {
    const key = testKey('base64');
    const parsed = parseKeyValue(`base64:${key.toString('base64')}`, SOURCE);
    expect(parsed).toEqual({ ok: true, key });
  });

  it('reads "hex:" followed by 64 hex digits, in either case, as those bytes', () => {
    const key = testKey('hex');
    expect(parsedKey(`hex:${key.toString('hex')}`)).toEqual(key);
    expect(parsedKey(`hex:${key.toString('hex').toUpperCase()}`)).toEqual(key);
  });

  it('reads a text value of exactly 32 bytes as its UTF-8 bytes, with no warning', () => {
    const text = textKey('exact', 32);
    const parsed = parseKeyValue(text, SOURCE);
    expect(parsed).toEqual({ ok: true, key: Buffer.from(text, 'utf8') });
  });

  it('counts a text value in UTF-8 bytes, not characters (16 two-byte characters are a key)', () => {
    const text = 'é'.repeat(16);
    expect(text.length).toBe(16);
    expect(parsedKey(text)).toEqual(Buffer.from(text, 'utf8'));
  });

  it('keeps the first 32 bytes of a longer text value, even when byte 32 splits a character, and warns', () => {
    const text = `a${'é'.repeat(16)}`; // 33 bytes: the last 'é' is cut in half, as Go's []byte(s)[:32] does
    const parsed = parseKeyValue(text, SOURCE);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.key).toEqual(Buffer.from(text, 'utf8').subarray(0, KEY_LENGTH));
    expect(parsed.warning).toBe(
      `${SOURCE} is 33 bytes of text; only its first 32 bytes are used as the key ` +
        '(as a Go codec reading the text does; where only this package reads the variable, "base64:<44 characters>" ' +
        'uses all of a generated key)',
    );
  });

  it('refuses a text value shorter than 32 bytes instead of padding it', () => {
    expect(problemOf(textKey('short', 31))).toBe(
      `${SOURCE} is 31 bytes long; a key needs at least 32 (or use "base64:" with \`temporal-codec keygen\`)`,
    );
    expect(problemOf('')).toBe(
      `${SOURCE} is 0 bytes long; a key needs at least 32 (or use "base64:" with \`temporal-codec keygen\`)`,
    );
  });

  it.each([
    ['unpadded', testKey('b').toString('base64').replace(/=+$/, '')],
    ['URL-safe alphabet', Buffer.from('fb'.repeat(32), 'hex').toString('base64url') + '='],
    ['embedded whitespace', `${testKey('b').toString('base64').slice(0, 20)} ${testKey('b').toString('base64').slice(20)}`],
    ['characters outside the alphabet', `${testKey('b').toString('base64').slice(0, 43)}!`],
  ])('refuses "base64:" text that is not strict base64: %s', (_name, text) => {
    expect(problemOf(`base64:${text}`)).toBe(`${SOURCE} is not valid base64 after "base64:"`);
  });

  it('refuses non-canonical "base64:" text even though a lenient decoder reads the same 32 bytes from it', () => {
    const canonical = testKey('b').toString('base64');
    const nonCanonical = canonical.replace(/.=$/, (m) => `${nudge(m[0]!)}=`);
    expect(nonCanonical).not.toBe(canonical);
    expect(Buffer.from(nonCanonical, 'base64')).toEqual(testKey('b'));
    expect(problemOf(`base64:${nonCanonical}`)).toBe(`${SOURCE} is not valid base64 after "base64:"`);
  });

  it.each([
    [16, testKey('b').subarray(0, 16)],
    [31, testKey('b').subarray(0, 31)],
    [33, Buffer.concat([testKey('b'), Buffer.from([7])])],
    [64, Buffer.concat([testKey('b'), testKey('c')])],
  ])('refuses "base64:" that decodes to %i bytes', (length, bytes) => {
    expect(problemOf(`base64:${bytes.toString('base64')}`)).toBe(
      `${SOURCE} decodes to ${length} bytes; AES-256 needs exactly 32`,
    );
  });

  it.each([
    ['63 digits', testKey('h').toString('hex').slice(1)],
    ['65 digits', `${testKey('h').toString('hex')}0`],
    ['a non-hex digit', `${testKey('h').toString('hex').slice(1)}g`],
    ['a 0x prefix', `0x${testKey('h').toString('hex').slice(2)}`],
    ['nothing', ''],
  ])('refuses "hex:" with %s', (_name, text) => {
    expect(problemOf(`hex:${text}`)).toBe(`${SOURCE} must hold exactly 64 hex digits after "hex:"`);
  });

  it.each([
    ['a keygen line', `TEMPORAL_ENCRYPTION_KEY_prod=base64:${testKey('line').toString('base64')}`],
    ['an export line', `export TEMPORAL_ENCRYPTION_KEY_PROD_EU=${textKey('exported', 40)}`],
  ])('refuses %s, whose first 32 bytes would be the variable name, the same for every key', (_, value) => {
    // Not problemOf: the line shares the variable name with SOURCE, which the message rightly names.
    const parsed = parseKeyValue(value, 'key file keys/prod');
    expect(parsed).toEqual({
      ok: false,
      problem: 'key file keys/prod holds a whole NAME=value line, not a key value: store the value alone (keygen --value-only)',
    });
    expectNoSecret(JSON.stringify(parsed), [value.slice(value.indexOf('=') + 1)]);
  });

  it('still reads any other text with "=" as a key: openssl rand -base64 32 output, a passphrase', () => {
    for (const value of [
      'Zq3vN0cT8xWm2LpR5yHb1KdF7gJs4AeU9oQi6nXwVtY=',
      'Passphrase=correct-horse-battery-staple-2026',
      'prod=abcdefghijklmnopqrstuvwxyz0123456789',
    ]) {
      expect(parsedKey(value)).toEqual(Buffer.from(value).subarray(0, KEY_LENGTH));
    }
  });

  it('never puts the value in a problem or a warning', () => {
    const long = textKey('long', 70);
    const parsed = parseKeyValue(long, SOURCE);
    expect(parsed.ok && parsed.warning).toBeTruthy();
    if (parsed.ok) expectNoSecret(parsed.warning!, [long]);
    // problemOf checks every problem for every 8-character window of the value.
    problemOf(textKey('short', 20));
    problemOf(`base64:${textKey('b64', 40)}`);
    problemOf(`hex:${textKey('hex', 64)}`);
  });
});

describe('keyFingerprint', () => {
  it('is the first 8 bytes of HMAC-SHA256(key, "temporal-payload-codec fingerprint") in hex', () => {
    const key = testKey('fingerprint');
    expect(keyFingerprint(key)).toBe(expectedFingerprint(key));
    expect(keyFingerprint(key)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('differs between keys and holds no key bytes', () => {
    const a = testKey('a');
    const b = testKey('b');
    expect(keyFingerprint(a)).not.toBe(keyFingerprint(b));
    expectNoSecret(keyFingerprint(a), [a.toString('hex')]);
  });
});

/**
 * The base64 character whose lowest bit differs from `c`'s. The last character before "=" of a 32-byte value carries
 * 4 data bits and 2 bits that must be zero, so this changes only a must-be-zero bit: lenient decoders (Buffer.from)
 * read the same bytes, which is exactly what a strict parser must refuse.
 */
function nudge(c: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  return alphabet[alphabet.indexOf(c) ^ 1]!;
}
