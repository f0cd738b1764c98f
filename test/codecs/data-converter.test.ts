import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { CompressionCodec, isCompressed } from '../../src/codecs/compression-codec.js';
import { createDataConverter, createPayloadCodecs, failureConverterPath } from '../../src/codecs/data-converter.js';
import { EncryptionCodec, isEncrypted } from '../../src/codecs/encryption-codec.js';
import { ConfigError, KeyConfigError } from '../../src/errors.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { caughtSync, expectCodecError } from '../helpers/errors.js';
import { testKey } from '../helpers/keys.js';
import { metadataText, overTheWire, rawPayload, sdkDecode, sdkEncode, serialize, view } from '../helpers/payloads.js';

const KEY = testKey('default');
const keyRing = KeyRing.fromKeys({ default: KEY }, 'default');
const MiB = 1024 * 1024;

/** value -> real payload converter -> codecs (as the SDK runs them) -> protobuf (Temporal) -> codecs -> converter. */
async function roundTrip(codecs: PayloadCodec[], value: unknown): Promise<{ value: unknown; stored: Payload }> {
  const payload = defaultPayloadConverter.toPayload(value);
  const [stored] = overTheWire(await sdkEncode(codecs, [payload]));
  const [decoded] = await sdkDecode(codecs, [stored!]);
  expect(view(decoded!)).toEqual(view(payload));
  return { value: defaultPayloadConverter.fromPayload(decoded!), stored: stored! };
}

function encryptionOf(codecs: PayloadCodec[]): EncryptionCodec {
  const codec = codecs.find((c) => c instanceof EncryptionCodec);
  if (!codec) expect.fail('no EncryptionCodec in the list');
  return codec as EncryptionCodec;
}

const bigText = 'The quick brown fox jumps over the lazy dog. '.repeat(50_000); // ~2.2 MiB, compressible

describe('round trips through the Temporal payload converter and createPayloadCodecs', () => {
  const codecs = createPayloadCodecs({ keyRing });

  it.each<[string, unknown]>([
    ['a JSON object', { id: 'shp_1', stops: [{ seq: 1, city: 'Zürich' }], total: 12.5, ok: true, none: null }],
    ['an array', [1, 'two', { three: [3] }]],
    ['null', null],
    ['undefined', undefined],
    ['a unicode string', 'naïve café, 日本語, emoji 🚚📦, RTL שלום, astral 𝄞, combining é'],
    ['an empty string', ''],
    ['an empty object', {}],
    ['an empty array', []],
    ['zero', 0],
    ['false', false],
    ['a large compressible string (> 1 MiB)', bigText],
    ['a large object (> 1 MiB)', { rows: Array.from({ length: 30_000 }, (_, i) => ({ i, name: `row-${i}`, tags: ['a', 'b'] })) }],
  ])('returns %s equal', async (_name, value) => {
    const { value: back, stored } = await roundTrip(codecs, value);
    expect(back).toEqual(value);
    expect(isEncrypted(stored)).toBe(true);
  });

  it.each<[string, Uint8Array]>([
    ['binary bytes', new Uint8Array([0, 1, 2, 253, 254, 255])],
    ['empty binary', new Uint8Array(0)],
    ['large random binary (> 1 MiB)', new Uint8Array(randomBytes(MiB + 17))],
    ['large zero binary (> 1 MiB)', new Uint8Array(2 * MiB)],
  ])('returns %s equal', async (_name, value) => {
    const { value: back, stored } = await roundTrip(codecs, value);
    expect(back).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(back as Uint8Array).equals(Buffer.from(value))).toBe(true);
    expect(isEncrypted(stored)).toBe(true);
  });

  it('makes createDataConverter with these codecs and the failure converter module', () => {
    const converter = createDataConverter({ keyRing });
    expect(converter.payloadCodecs?.map((codec) => codec.constructor.name)).toEqual(['CompressionCodec', 'EncryptionCodec']);
    expect(converter.failureConverterPath).toBe(failureConverterPath());
    expect(existsSync(converter.failureConverterPath!)).toBe(true);
  });
});

describe('order: compress, then encrypt', () => {
  const codecs = createPayloadCodecs({ keyRing });

  it('lists [compression, encryption], which the SDK runs first to last on encode', () => {
    expect(codecs.map((codec) => codec.constructor.name)).toEqual(['CompressionCodec', 'EncryptionCodec']);
  });

  it('stores a large compressible payload as binary/encrypted whose plaintext is a binary/zlib payload', async () => {
    const payload = defaultPayloadConverter.toPayload(bigText);
    const [stored] = await sdkEncode(codecs, [payload]);
    expect(metadataText(stored!, 'encoding')).toBe('binary/encrypted');
    expect(stored!.data!.length).toBeLessThan(serialize(payload).length / 10);
    const [inner] = await encryptionOf(codecs).decode([stored!]);
    expect(metadataText(inner!, 'encoding')).toBe('binary/zlib');
    expect(isCompressed(inner!)).toBe(true);
  });

  it('encrypts a payload below the threshold without compressing it', async () => {
    const payload = defaultPayloadConverter.toPayload({ small: true });
    const [stored] = await sdkEncode(codecs, [payload]);
    expect(isEncrypted(stored!)).toBe(true);
    const [inner] = await encryptionOf(codecs).decode([stored!]);
    expect(metadataText(inner!, 'encoding')).toBe('json/plain');
    expect(view(inner!)).toEqual(view(payload));
  });

  it('encrypts incompressible random bytes above the threshold without compressing them', async () => {
    const payload = defaultPayloadConverter.toPayload(new Uint8Array(randomBytes(8192)));
    const [stored] = await sdkEncode(codecs, [payload]);
    const [inner] = await encryptionOf(codecs).decode([stored!]);
    expect(metadataText(inner!, 'encoding')).toBe('binary/plain');
    expect(view(inner!)).toEqual(view(payload));
  });

  it('follows compressionThreshold from the options', async () => {
    const payload = defaultPayloadConverter.toPayload('x'.repeat(300));
    for (const [threshold, compressed] of [
      [256, true],
      [4096, false],
    ] as const) {
      const withThreshold = createPayloadCodecs({ keyRing, compressionThreshold: threshold });
      const [inner] = await encryptionOf(withThreshold).decode(await sdkEncode(withThreshold, [payload]));
      expect(isCompressed(inner!)).toBe(compressed);
    }
  });
});

describe('configurations', () => {
  it('with compression off, does not compress but still decodes binary/zlib payloads made earlier', async () => {
    const before = createPayloadCodecs({ keyRing });
    const stored = overTheWire(await sdkEncode(before, [defaultPayloadConverter.toPayload(bigText)]));
    const after = createPayloadCodecs({ keyRing, enableCompression: false });
    const [decoded] = await sdkDecode(after, stored);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toBe(bigText);

    const [fresh] = await sdkEncode(after, [defaultPayloadConverter.toPayload(bigText)]);
    const [inner] = await encryptionOf(after).decode([fresh!]);
    expect(metadataText(inner!, 'encoding')).toBe('json/plain');
  });

  it('with compression off and no encryption, still decodes a bare binary/zlib payload', async () => {
    const original = defaultPayloadConverter.toPayload({ from: 'an earlier configuration' });
    const codecs = createPayloadCodecs({ enableEncryption: false, enableCompression: false });
    const [decoded] = await sdkDecode(codecs, [rawPayload('binary/zlib', deflateSync(serialize(original)))]);
    expect(view(decoded!)).toEqual(view(original));
  });

  it('with encryption and compression off, encode returns the payloads untouched', async () => {
    const codecs = createPayloadCodecs({ enableEncryption: false, enableCompression: false });
    const payloads = [
      defaultPayloadConverter.toPayload(bigText),
      defaultPayloadConverter.toPayload(null),
      defaultPayloadConverter.toPayload(new Uint8Array(5000)),
    ];
    const views = payloads.map(view);
    const encoded = await sdkEncode(codecs, payloads);
    expect(encoded).toHaveLength(3);
    encoded.forEach((payload, index) => expect(payload).toBe(payloads[index]));
    expect(encoded.map(view)).toEqual(views);
  });

  it('with encryption off, compresses only, and needs no key', async () => {
    const codecs = createPayloadCodecs({ enableEncryption: false, env: {} });
    expect(codecs.map((codec) => codec.constructor.name)).toEqual(['CompressionCodec']);
    const { value, stored } = await roundTrip(codecs, bigText);
    expect(value).toBe(bigText);
    expect(isCompressed(stored)).toBe(true);
  });

  it('loads keys from the given env when no keyRing is given', async () => {
    const env = { TEMPORAL_ENCRYPTION_KEY_production: `base64:${testKey('production').toString('base64')}` };
    const codecs = createPayloadCodecs({ env, encryptionKeyID: 'production' });
    const { stored } = await roundTrip(codecs, { a: 1 });
    expect(metadataText(stored, 'encryption-key-id')).toBe('production');
    const independent = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ production: testKey('production') }, 'production') });
    await expect(independent.decode([stored])).resolves.toHaveLength(1);
  });

  it('uses encryptionKeyID over the keyRing active id', async () => {
    const ring = KeyRing.fromKeys({ a: testKey('a'), b: testKey('b') }, 'a');
    const codecs = createPayloadCodecs({ keyRing: ring, encryptionKeyID: 'b' });
    const { stored } = await roundTrip(codecs, 'x');
    expect(metadataText(stored, 'encryption-key-id')).toBe('b');
  });

  it('fails at construction when the active key id has no key', () => {
    expectCodecError(
      caughtSync(() => createPayloadCodecs({ keyRing, encryptionKeyID: 'missing' })),
      KeyConfigError,
      'ERR_KEY_CONFIG',
      'invalid encryption key configuration: no key for the active key id "missing"',
    );
    expectCodecError(
      caughtSync(() => createPayloadCodecs({ env: {} })),
      KeyConfigError,
      'ERR_KEY_CONFIG',
      'invalid encryption key configuration: no key for the active key id "default": set ' +
        'TEMPORAL_ENCRYPTION_KEY_default or TEMPORAL_ENCRYPTION_KEY',
    );
  });

  it('refuses options of the wrong type, naming the option', () => {
    expectCodecError(
      caughtSync(() => createPayloadCodecs({ keyRing, compressionThreshold: '1024' as unknown as number })),
      ConfigError,
      'ERR_CONFIG',
      'options.compressionThreshold must be a non-negative integer',
    );
    expectCodecError(
      caughtSync(() => createPayloadCodecs({ keyRing, maxDecompressedBytes: 0 })),
      ConfigError,
      'ERR_CONFIG',
      'options.maxDecompressedBytes must be an integer greater than 0',
    );
  });
});

describe('payloads the codecs did not make', () => {
  const codecs = createPayloadCodecs({ keyRing });

  it.each<[string, Payload]>([
    ['json/plain', defaultPayloadConverter.toPayload({ a: 1 })],
    ['binary/null', defaultPayloadConverter.toPayload(undefined)],
    ['binary/plain', defaultPayloadConverter.toPayload(new Uint8Array([1, 2]))],
    ['a search attribute', rawPayload('json/plain', '"x"', { type: 'Keyword' })],
    ['another codec (binary/snappy)', rawPayload('binary/snappy', new Uint8Array(64))],
    ['another encryption (binary/encrypted/aws-kms)', rawPayload('binary/encrypted/aws-kms', new Uint8Array(64))],
  ])('passes %s through decode unchanged', async (_name, payload) => {
    const before = view(payload);
    const [decoded] = await sdkDecode(codecs, [payload]);
    expect(decoded).toBe(payload);
    expect(view(decoded!)).toEqual(before);
  });

  it('decodes a compressed-only payload (made with encryption off) with encryption on', async () => {
    const original = defaultPayloadConverter.toPayload(bigText);
    const [compressedOnly] = await new CompressionCodec().encode([original]);
    const [decoded] = await sdkDecode(codecs, [compressedOnly!]);
    expect(view(decoded!)).toEqual(view(original));
  });
});
