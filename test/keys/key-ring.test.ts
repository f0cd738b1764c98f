import { describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../src/codecs/encryption-codec.js';
import { KeyConfigError } from '../../src/errors.js';
import { environmentAliasOf, environmentSafeKeyId, FALLBACK_KEY_ID, KeyRing } from '../../src/keys/key-ring.js';
import { caughtSync, expectCodecError, expectNoSecret } from '../helpers/errors.js';
import { expectedFingerprint, testKey } from '../helpers/keys.js';
import { metadataText, rawPayload, view } from '../helpers/payloads.js';

/** Whether a payload encrypted by `from` under `keyId` decrypts with `to`: proves both hold the same key bytes. */
async function decryptsAcross(from: KeyRing, keyId: string, to: KeyRing): Promise<boolean> {
  const original = rawPayload('json/plain', '"probe"');
  const [encrypted] = await new EncryptionCodec({ keyRing: from.withActiveKeyId(keyId) }).encode([original]);
  expect(metadataText(encrypted!, 'encryption-key-id')).toBe(keyId);
  try {
    const [decrypted] = await new EncryptionCodec({ keyRing: to, requireActiveKey: false }).decode([encrypted!]);
    expect(view(decrypted!)).toEqual(view(original));
    return true;
  } catch {
    return false;
  }
}

describe('KeyRing.fromKeys', () => {
  it('serves each key id with its own key and knows no other id', async () => {
    const ring = KeyRing.fromKeys({ a: testKey('a'), b: testKey('b') }, 'a');
    expect(ring.activeKeyId).toBe('a');
    expect(ring.keyIds()).toEqual(['a', 'b']);
    expect(ring.has('a')).toBe(true);
    expect(ring.has('c')).toBe(false);
    expect(ring.fingerprint('a')).toBe(expectedFingerprint(testKey('a')));
    expect(ring.fingerprint('b')).toBe(expectedFingerprint(testKey('b')));
    expect(ring.fingerprint('c')).toBeUndefined();
    expect(await decryptsAcross(KeyRing.fromKeys({ b: testKey('b') }, 'b'), 'b', ring)).toBe(true);
    expect(await decryptsAcross(KeyRing.fromKeys({ b: testKey('a') }, 'b'), 'b', ring)).toBe(false);
  });

  it('serves every id without a key of its own with the fallback key', async () => {
    const ring = KeyRing.fromKeys({ a: testKey('a') }, 'a', testKey('fallback'));
    expect(ring.has('anything')).toBe(true);
    expect(ring.fingerprint('anything')).toBe(expectedFingerprint(testKey('fallback')));
    expect(ring.fingerprint('a')).toBe(expectedFingerprint(testKey('a')));
    expect(ring.keyIds()).toEqual(['a']);
    expect(await decryptsAcross(KeyRing.fromKeys({ other: testKey('fallback') }, 'other'), 'other', ring)).toBe(true);
  });

  it('copies the keys it is given, so later changes to the caller buffer do not change the ring', () => {
    const key = Buffer.from(testKey('a'));
    const ring = KeyRing.fromKeys({ a: key }, 'a');
    key.fill(0);
    expect(ring.fingerprint('a')).toBe(expectedFingerprint(testKey('a')));
  });

  // Bug: fromKeys accepts keys of any length; a 16-byte key then fails at the first encode with node:crypto's bare
  // RangeError ("Invalid key length"), which carries no `code` a caller can switch on.
  it('refuses a key that is not 32 bytes with a KeyConfigError naming the key id', () => {
    const error = caughtSync(() => KeyRing.fromKeys({ short: testKey('a').subarray(0, 16) }, 'short'));
    const keyError = expectCodecError(error, KeyConfigError, 'ERR_KEY_CONFIG');
    expect(keyError.problems).toHaveLength(1);
    expect(keyError.problems[0]).toContain('"short"');
    expect(keyError.problems[0]).toContain('16 bytes');
  });
});

describe('KeyRing.describe', () => {
  it('lists each key id, its source, fingerprint and whether it is active, sorted, fallback last', () => {
    const ring = KeyRing.fromKeys({ b: testKey('b'), a: testKey('a') }, 'a', testKey('fallback'));
    expect(ring.describe()).toEqual([
      { keyId: 'a', source: { kind: 'env', name: 'memory:a' }, fingerprint: expectedFingerprint(testKey('a')), active: true },
      { keyId: 'b', source: { kind: 'env', name: 'memory:b' }, fingerprint: expectedFingerprint(testKey('b')), active: false },
      {
        keyId: FALLBACK_KEY_ID,
        source: { kind: 'env', name: 'memory:*' },
        fingerprint: expectedFingerprint(testKey('fallback')),
        active: false,
      },
    ]);
  });

  it('marks the fallback key active when the active id has no key of its own', () => {
    const ring = KeyRing.fromKeys({ a: testKey('a') }, 'production', testKey('fallback'));
    expect(ring.describe().map(({ keyId, active }) => ({ keyId, active }))).toEqual([
      { keyId: 'a', active: false },
      { keyId: '*', active: true },
    ]);
  });

  // Bug: describe() marked the fallback active (or, without one, no key at all) when the active id "prod-eu" was
  // served by its environment-safe spelling PROD_EU, so `temporal-codec keys` showed the wrong fingerprint as active.
  it('marks active the key that serves the active id through its environment-safe spelling', () => {
    const ring = KeyRing.fromKeys({ PROD_EU: testKey('eu'), other: testKey('other') }, 'prod-eu', testKey('fallback'));
    expect(ring.describe().map(({ keyId, active, fingerprint }) => ({ keyId, active, fingerprint }))).toEqual([
      { keyId: 'PROD_EU', active: true, fingerprint: expectedFingerprint(testKey('eu')) },
      { keyId: 'other', active: false, fingerprint: expectedFingerprint(testKey('other')) },
      { keyId: '*', active: false, fingerprint: expectedFingerprint(testKey('fallback')) },
    ]);
    expect(ring.describe().find((info) => info.active)!.fingerprint).toBe(ring.fingerprint('prod-eu'));
    const noFallback = KeyRing.fromKeys({ PROD_EU: testKey('eu') }, 'prod-eu');
    expect(noFallback.describe().map(({ keyId, active }) => ({ keyId, active }))).toEqual([{ keyId: 'PROD_EU', active: true }]);
  });

  it('marks nothing active when no key serves the active id, and only the own key when an alias exists too', () => {
    expect(KeyRing.fromKeys({ a: testKey('a') }, 'b').describe().some((info) => info.active)).toBe(false);
    const both = KeyRing.fromKeys({ 'prod-eu': testKey('own'), PROD_EU: testKey('env') }, 'prod-eu');
    expect(both.describe().map(({ keyId, active }) => ({ keyId, active }))).toEqual([
      { keyId: 'PROD_EU', active: false },
      { keyId: 'prod-eu', active: true },
    ]);
  });

  it('holds no key bytes in any encoding', () => {
    const keys = { a: testKey('a'), b: testKey('b') };
    const ring = KeyRing.fromKeys(keys, 'a', testKey('fallback'));
    const text = JSON.stringify(ring.describe());
    for (const key of [...Object.values(keys), testKey('fallback')]) {
      expectNoSecret(text, [key.toString('hex'), key.toString('base64'), key.toString('latin1')]);
    }
    expect(text).not.toContain('"data"');
  });
});

describe('KeyRing.withActiveKeyId', () => {
  it('keeps the keys and changes only the active id', () => {
    const ring = KeyRing.fromKeys({ a: testKey('a'), b: testKey('b') }, 'a');
    const rotated = ring.withActiveKeyId('b');
    expect(rotated.activeKeyId).toBe('b');
    expect(ring.activeKeyId).toBe('a');
    expect(rotated.describe().map((info) => info.fingerprint)).toEqual(ring.describe().map((info) => info.fingerprint));
  });
});

describe('key ids that environment names cannot hold', () => {
  it('maps an id to upper case with each character an environment name cannot hold as "_"', () => {
    expect(environmentSafeKeyId('prod-eu')).toBe('PROD_EU');
    expect(environmentSafeKeyId('eu.west/2024-01')).toBe('EU_WEST_2024_01');
    expect(environmentSafeKeyId('already_OK_1')).toBe('ALREADY_OK_1');
  });

  // Bug: the id was upper-cased with full Unicode rules first, so "ß" became "SS" and "ſ" became "S": the key was
  // looked up under another variable than the one with "_" for each character a name cannot hold.
  it('replaces each character outside [A-Za-z0-9_] by one "_" per code point before upper-casing ASCII only', () => {
    expect(environmentSafeKeyId('straße')).toBe('STRA_E');
    expect(environmentSafeKeyId('ſecret-x')).toBe('_ECRET_X');
    expect(environmentSafeKeyId('ﬁle')).toBe('_LE'); // a ligature upper-cases to two letters under Unicode rules
    expect(environmentSafeKeyId('clé')).toBe('CL_');
    expect(environmentSafeKeyId('k\u{1F511}1')).toBe('K_1'); // one character outside the BMP, two UTF-16 code units
    expect(environmentSafeKeyId('ı-i')).toBe('__I'); // dotless i: "I" under Unicode rules
  });

  it('serves "straße" from STRA_E, not from STRASSE', () => {
    const ring = KeyRing.fromKeys({ STRA_E: testKey('right'), STRASSE: testKey('wrong') }, 'straße');
    expect(ring.fingerprint('straße')).toBe(expectedFingerprint(testKey('right')));
    expect(KeyRing.fromKeys({ STRASSE: testKey('wrong') }, 'straße').has('straße')).toBe(false);
  });

  it('names the environment-safe spelling only for ids that have characters a variable cannot hold', () => {
    expect(environmentAliasOf('prod-eu')).toBe('PROD_EU');
    expect(environmentAliasOf('default')).toBeUndefined();
    expect(environmentAliasOf('PROD_EU')).toBeUndefined();
  });

  it('says which listed key serves an id: its own, its environment-safe spelling, or the fallback', () => {
    const ring = KeyRing.fromKeys({ own: testKey('own'), PROD_EU: testKey('eu') }, 'own', testKey('fallback'));
    expect(ring.servingKeyId('own')).toBe('own');
    expect(ring.servingKeyId('prod-eu')).toBe('PROD_EU');
    expect(ring.servingKeyId('prod_eu')).toBe(FALLBACK_KEY_ID);
    expect(ring.servingKeyId('')).toBeUndefined();
    expect(KeyRing.fromKeys({ own: testKey('own') }, 'own').servingKeyId('other')).toBeUndefined();
  });

  it('finds the key of "prod-eu" under PROD_EU', async () => {
    const ring = KeyRing.fromKeys({ PROD_EU: testKey('eu') }, 'prod-eu');
    expect(ring.has('prod-eu')).toBe(true);
    expect(ring.fingerprint('prod-eu')).toBe(expectedFingerprint(testKey('eu')));
    expect(await decryptsAcross(KeyRing.fromKeys({ 'prod-eu': testKey('eu') }, 'prod-eu'), 'prod-eu', ring)).toBe(true);
  });

  it('prefers a key stored under the id as written over its upper-cased form', () => {
    const ring = KeyRing.fromKeys({ 'prod-eu': testKey('own'), PROD_EU: testKey('env') }, 'prod-eu');
    expect(ring.fingerprint('prod-eu')).toBe(expectedFingerprint(testKey('own')));
  });

  // Spec deviation: the wire-format note tries the upper-cased form only "where the id has characters an environment
  // name cannot hold". KeyRing tries it for every id, so "production" (a valid environment-name suffix) is served by
  // the key of PRODUCTION instead of the fallback key, and a payload of "production" fails to decrypt when the
  // fallback key was meant to serve it.
  it('looks an id made only of environment-name characters up only as written, then falls back', () => {
    const ring = KeyRing.fromKeys({ PRODUCTION: testKey('upper') }, 'PRODUCTION', testKey('fallback'));
    expect(ring.fingerprint('production')).toBe(expectedFingerprint(testKey('fallback')));
    const noFallback = KeyRing.fromKeys({ PRODUCTION: testKey('upper') }, 'PRODUCTION');
    expect(noFallback.has('production')).toBe(false);
  });
});
