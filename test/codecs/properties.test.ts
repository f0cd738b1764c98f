/**
 * Property-based tests (fast-check) of the codec pair as the SDK runs it: round trips of payloads of every size
 * across and around the 1024-byte compression threshold, and tampering, which must always be rejected.
 *
 * Runs are seeded (FC_SEED, default below) so that a run is repeatable; set FC_SEED to explore other cases.
 */
import { deflateSync } from 'node:zlib';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCompressed } from '../../src/codecs/compression-codec.js';
import { createPayloadCodecs } from '../../src/codecs/data-converter.js';
import { EncryptionCodec, MIN_ENCRYPTED_LENGTH, NONCE_LENGTH, TAG_LENGTH } from '../../src/codecs/encryption-codec.js';
import { DecryptionError } from '../../src/errors.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { caught, expectCodecError } from '../helpers/errors.js';
import { testKey } from '../helpers/keys.js';
import { flipBit, hex, metadataText, overTheWire, sdkDecode, sdkEncode, serialize, view, withData, withMetadata } from '../helpers/payloads.js';

const SEED = Number(process.env.FC_SEED ?? 20240601);
const THRESHOLD = 1024;
const keyRing = KeyRing.fromKeys({ default: testKey('default') }, 'default');
const codecs = createPayloadCodecs({ keyRing, compressionThreshold: THRESHOLD });
const encryption = codecs[1] as EncryptionCodec;

/** Sizes from 0 to 4096, half of them within 64 bytes of the threshold. */
const size = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 4096 }), weight: 1 },
  { arbitrary: fc.integer({ min: THRESHOLD - 64, max: THRESHOLD + 64 }), weight: 1 },
);

type Fill = 'random' | 'zeros' | 'pattern' | 'text';

/**
 * Bytes of a given size and kind, from a seed: random bytes do not compress, zeros, short repeated patterns and
 * text do. A PRNG keeps large arrays cheap to generate while fast-check still chooses (and shrinks) size and seed.
 */
function fill(length: number, kind: Fill, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed | 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  if (kind === 'random') for (let i = 0; i < length; i++) bytes[i] = next() & 0xff;
  if (kind === 'pattern') {
    const period = 1 + (next() % 16);
    const pattern = Array.from({ length: period }, () => next() & 0xff);
    for (let i = 0; i < length; i++) bytes[i] = pattern[i % period]!;
  }
  if (kind === 'text') {
    const words = ['load ', 'stop ', 'carrier ', 'invoice ', 'Zürich ', '配送 '];
    const text = Buffer.from(Array.from({ length: Math.ceil(length / 4) + 1 }, () => words[next() % words.length]).join(''));
    bytes.set(text.subarray(0, length));
  }
  return bytes;
}

const bytesArbitrary = fc
  .tuple(size, fc.constantFrom<Fill>('random', 'zeros', 'pattern', 'text'), fc.integer())
  .map(([length, kind, seed]) => fill(length, kind, seed));

/** What the compression codec must decide for a payload: compress iff at the threshold and deflate makes it smaller. */
function shouldCompress(payload: Payload): boolean {
  const serialized = serialize(payload);
  return serialized.length >= THRESHOLD && deflateSync(serialized).length < serialized.length;
}

/** Encodes as the SDK does, stores through protobuf, decodes; checks the payload and the compression decision. */
async function roundTripPayload(payload: Payload): Promise<Payload> {
  const [stored] = overTheWire(await sdkEncode(codecs, [payload]));
  expect(metadataText(stored!, 'encoding')).toBe('binary/encrypted');
  const [inner] = await encryption.decode([stored!]);
  expect(isCompressed(inner!)).toBe(shouldCompress(payload));
  const [decoded] = await sdkDecode(codecs, [stored!]);
  expect(view(decoded!)).toEqual(view(payload));
  return decoded!;
}

const DECRYPTION_FAILED =
  'decryption operation failed for encryption-key-id "default": the key is not configured, ' +
  'or the payload was altered or encrypted with a different key';

async function expectRejected(payload: Payload): Promise<DecryptionError> {
  return expectCodecError(await caught(() => sdkDecode(codecs, [payload])), DecryptionError, 'ERR_DECRYPTION_FAILED');
}

describe('round-trip properties (10,000 runs in all)', () => {
  it('returns any bytes of 0..4096 bytes, random or compressible, and compresses exactly when it should', async () => {
    await fc.assert(
      fc.asyncProperty(bytesArbitrary, async (bytes) => {
        const decoded = await roundTripPayload(defaultPayloadConverter.toPayload(bytes));
        expect(hex(defaultPayloadConverter.fromPayload(decoded) as Uint8Array)).toBe(hex(bytes));
      }),
      { numRuns: 4000, seed: SEED },
    );
  });

  it('returns any string, including compressible repetitions of unicode text around the threshold', async () => {
    const text = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc
        .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), size)
        .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length) + 1).slice(0, length)),
    );
    await fc.assert(
      fc.asyncProperty(text, async (value) => {
        const decoded = await roundTripPayload(defaultPayloadConverter.toPayload(value));
        expect(defaultPayloadConverter.fromPayload(decoded)).toBe(value);
      }),
      { numRuns: 3000, seed: SEED + 1 },
    );
  });

  it('returns any JSON value as the JSON converter reads it back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
        const decoded = await roundTripPayload(defaultPayloadConverter.toPayload(value));
        expect(defaultPayloadConverter.fromPayload(decoded)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 3000, seed: SEED + 2 },
    );
  });
});

describe('tampering properties', () => {
  const region = fc.constantFrom('nonce', 'ciphertext', 'tag');

  it('rejects any single-bit flip of the nonce, the ciphertext or the tag', async () => {
    await fc.assert(
      fc.asyncProperty(bytesArbitrary, region, fc.nat(), async (bytes, where, pick) => {
        const [stored] = await sdkEncode(codecs, [defaultPayloadConverter.toPayload(bytes)]);
        const data = stored!.data!;
        const ciphertextLength = data.length - NONCE_LENGTH - TAG_LENGTH;
        const [start, length] =
          where === 'nonce'
            ? [0, NONCE_LENGTH]
            : where === 'ciphertext'
              ? [NONCE_LENGTH, ciphertextLength]
              : [data.length - TAG_LENGTH, TAG_LENGTH];
        expect(length).toBeGreaterThan(0);
        const bit = start * 8 + (pick % (length * 8));
        const error = await expectRejected(withData(stored!, flipBit(data, bit)));
        expect(error.message).toBe(DECRYPTION_FAILED);
      }),
      { numRuns: 2000, seed: SEED + 3 },
    );
  });

  // Ids without "_": the wire format also looks an id with characters an environment name cannot hold up under its
  // upper-cased form with each of them as "_", so a flip of "_" to "^" names an alias of the same id (next test).
  it('rejects any single-bit flip of the encryption-key-id metadata', async () => {
    const keyId = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,23}$/);
    await fc.assert(
      fc.asyncProperty(keyId, fc.nat(), async (id, pick) => {
        const ring = KeyRing.fromKeys({ [id]: testKey(id) }, id);
        const codec = new EncryptionCodec({ keyRing: ring });
        const [stored] = await codec.encode([defaultPayloadConverter.toPayload({ id })]);
        const idBytes = stored!.metadata!['encryption-key-id']!;
        const flipped = flipBit(idBytes, pick % (idBytes.length * 8));
        const error = expectCodecError(
          await caught(() => codec.decode([withMetadata(stored!, 'encryption-key-id', flipped)])),
          DecryptionError,
          'ERR_DECRYPTION_FAILED',
        );
        expect(error.keyId).toBe(new TextDecoder().decode(flipped));
        expect(error.keyId).not.toBe(id);
      }),
      { numRuns: 1000, seed: SEED + 4 },
    );
  });

  it('rejects data truncated to 0..27 bytes, and any shorter prefix of a real ciphertext, without a crash', async () => {
    await fc.assert(
      fc.asyncProperty(bytesArbitrary, fc.nat(), fc.boolean(), async (bytes, pick, belowMinimum) => {
        const [stored] = await sdkEncode(codecs, [defaultPayloadConverter.toPayload(bytes)]);
        const data = stored!.data!;
        const length = belowMinimum ? pick % MIN_ENCRYPTED_LENGTH : pick % data.length;
        const error = await expectRejected(withData(stored!, data.subarray(0, length)));
        expect(error.message).toBe(DECRYPTION_FAILED);
      }),
      { numRuns: 500, seed: SEED + 5 },
    );
  });

  it('decrypts under an alias the wire format defines (0^ is looked up as 0_), since the plaintext is still authentic', async () => {
    const codec = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ '0_': testKey('alias') }, '0_') });
    const original = defaultPayloadConverter.toPayload('aliased');
    const [stored] = await codec.encode([original]);
    const [decoded] = await codec.decode([withMetadata(stored!, 'encryption-key-id', '0^')]);
    expect(view(decoded!)).toEqual(view(original));
  });
});
