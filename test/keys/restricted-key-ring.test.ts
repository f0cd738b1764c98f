import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EncryptionCodec, KeyRing } from '../../src/index.js';

const A = randomBytes(32);
const B = randomBytes(32);
const FALLBACK = randomBytes(32);

describe('KeyRing.restrictedTo', () => {
  it('keeps only the listed ids, drops the fallback, and takes the given active id', () => {
    const ring = KeyRing.fromKeys({ a: A, b: B }, 'a', FALLBACK);
    const restricted = ring.restrictedTo(['b'], 'b');
    expect(restricted.keyIds()).toEqual(['b']);
    expect(restricted.activeKeyId).toBe('b');
    expect(restricted.has('b')).toBe(true);
    expect(restricted.has('a')).toBe(false);
    // The parent's fallback would serve any id; the restricted ring serves none but its own.
    expect(ring.has('anything')).toBe(true);
    expect(restricted.has('anything')).toBe(false);
    expect(restricted.describe().map((k) => k.keyId)).toEqual(['b']);
    expect(restricted.fingerprint('b')).toBe(ring.fingerprint('b'));
  });

  it("serves a listed id with the fallback key when that is the parent's key for it, and skips ids with no key", () => {
    const ring = KeyRing.fromKeys({ a: A }, 'a', FALLBACK);
    const restricted = ring.restrictedTo(['a', 'legacy']);
    expect(restricted.activeKeyId).toBe('a');
    expect(restricted.fingerprint('legacy')).toBe(ring.fingerprint('legacy'));
    expect(KeyRing.fromKeys({ a: A }, 'a').restrictedTo(['a', 'missing']).keyIds()).toEqual(['a']);
  });

  it('decrypts what the parent encrypted under a listed id, and fails closed for any other id', async () => {
    const ring = KeyRing.fromKeys({ a: A, b: B }, 'a');
    const [underA] = await new EncryptionCodec({ keyRing: ring }).encode([{ metadata: {}, data: new Uint8Array([1]) }]);
    const [underB] = await new EncryptionCodec({ keyRing: ring.withActiveKeyId('b') }).encode([{ metadata: {}, data: new Uint8Array([2]) }]);
    const onlyA = new EncryptionCodec({ keyRing: ring.restrictedTo(['a']) });
    expect([...(await onlyA.decode([underA!]))[0]!.data!]).toEqual([1]);
    await expect(onlyA.decode([underB!])).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED', keyId: 'b' });
  });
});
