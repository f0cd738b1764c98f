/**
 * Project Wycheproof AES-GCM vectors (C2SP/wycheproof, ../shared/vectors/wycheproof) through the codec's AES-256-GCM
 * layer (`decryptAesGcm`, the function EncryptionCodec decrypts with: data = iv || ct || tag, tag pinned to 16 bytes,
 * no associated data), and the invalid ones also through EncryptionCodec.decode, where they must fail uniformly.
 */
import type { Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { decryptAesGcm } from '../../src/codecs/aes-gcm.js';
import { EncryptionCodec } from '../../src/codecs/encryption-codec.js';
import { DecryptionError } from '../../src/errors.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { caught, expectCodecError } from '../helpers/errors.js';
import { rawPayload } from '../helpers/payloads.js';
import { readJson, vectorsFile } from '../helpers/vectors.js';

interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

interface WycheproofFile {
  algorithm: string;
  testGroups: Array<{ keySize: number; ivSize: number; tagSize: number; tests: WycheproofTest[] }>;
}

const vectors = vectorsFile('wycheproof/aes_gcm_test.json');

function wycheproofTests(): WycheproofTest[] {
  const file = readJson<WycheproofFile>(vectors.path);
  expect(file.algorithm).toBe('AES-GCM');
  // The codec's parameters: AES-256, a 96-bit nonce, a 128-bit tag.
  return file.testGroups
    .filter((group) => group.keySize === 256 && group.ivSize === 96 && group.tagSize === 128)
    .flatMap((group) => group.tests);
}

const dataOf = (test: WycheproofTest): Buffer => Buffer.from(test.iv + test.ct + test.tag, 'hex');

/** The vector as a payload the codec made: data = iv || ct || tag, under key id "wycheproof". */
function decodeVector(test: WycheproofTest): Promise<Payload[]> {
  const codec = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ wycheproof: Buffer.from(test.key, 'hex') }, 'wycheproof') });
  const data = Buffer.from(test.iv + test.ct + test.tag, 'hex');
  return codec.decode([rawPayload('binary/encrypted', data, { 'encryption-key-id': 'wycheproof' })]);
}

const name = (test: WycheproofTest): string => `tcId ${test.tcId} (${test.comment || test.flags.join(', ')})`;

if (vectors.requiredButMissing) {
  it('finds the Wycheproof vectors (required under CI)', () => {
    expect.fail(`${vectors.path} is missing; CI=true makes missing test vectors a failure`);
  });
}

const title = vectors.present
  ? 'Wycheproof AES-256-GCM (96-bit IV, 128-bit tag) through EncryptionCodec'
  : `Wycheproof AES-256-GCM: skipped, ${vectors.path} is missing`;

describe.skipIf(!vectors.present)(title, () => {
  const tests = vectors.present ? wycheproofTests() : [];
  const valid = tests.filter((test) => test.result === 'valid');
  const invalid = tests.filter((test) => test.result === 'invalid');
  const validWithoutAad = valid.filter((test) => test.aad === '');
  const validWithAad = valid.filter((test) => test.aad !== '');

  it('selects 66 tests: 39 valid and 27 invalid', () => {
    expect(tests).toHaveLength(66);
    expect(valid).toHaveLength(39);
    expect(invalid).toHaveLength(27);
    expect(validWithoutAad.length + validWithAad.length).toBe(39);
    expect(validWithoutAad.length).toBeGreaterThan(0);
    expect(validWithAad.length).toBeGreaterThan(0);
  });

  it.each(validWithoutAad.map((test) => [name(test), test] as const))(
    'decrypts valid %s to its message',
    (_name, test) => {
      expect(decryptAesGcm(Buffer.from(test.key, 'hex'), dataOf(test)).toString('hex')).toBe(test.msg);
    },
  );

  // The codec authenticates no associated data (wire format: "no associated data"), so it computes the tag over the
  // ciphertext alone. A vector whose tag also covers AAD therefore cannot verify: it must fail, not decrypt.
  it.each(validWithAad.map((test) => [name(test), test] as const))(
    'refuses valid-with-AAD %s, since the codec uses no associated data',
    (_name, test) => {
      expect(() => decryptAesGcm(Buffer.from(test.key, 'hex'), dataOf(test))).toThrow();
    },
  );

  it.each(invalid.map((test) => [name(test), test] as const))('refuses invalid %s', async (_name, test) => {
    expect(() => decryptAesGcm(Buffer.from(test.key, 'hex'), dataOf(test))).toThrow();
    const error = expectCodecError(await caught(() => decodeVector(test)), DecryptionError, 'ERR_DECRYPTION_FAILED');
    expect(error.message).toBe(
      'decryption operation failed for encryption-key-id "wycheproof": the key is not configured, ' +
        'or the payload was altered or encrypted with a different key',
    );
  });
});
