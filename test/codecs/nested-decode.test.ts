/**
 * Decode follows each payload's own markers in either nesting. Go's `NewCodecDataConverter(parent, zlib, encryption)`
 * applies its codecs last to first: it encrypts first and then zlib-wraps, so its payloads are
 * `binary/zlib(serialized binary/encrypted(serialized original))`, while ours are `binary/encrypted(binary/zlib(...))`.
 * The Go-shaped payloads here are built by hand with node:crypto and node:zlib (test/helpers/go-payloads.ts), not by
 * this package's codecs.
 */
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { CompressionCodec } from '../../src/codecs/compression-codec.js';
import { createPayloadCodecs } from '../../src/codecs/data-converter.js';
import { EncryptionCodec } from '../../src/codecs/encryption-codec.js';
import { DecompressedTooLargeError, DecompressionError, DecryptionError } from '../../src/errors.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { caught, expectCodecError, expectNoSecret } from '../helpers/errors.js';
import { goEncrypted as goEncryptedWith, goPayload as goPayloadWith, goZlib } from '../helpers/go-payloads.js';
import { testKey } from '../helpers/keys.js';
import { metadataText, overTheWire, rawPayload, sdkDecode, sdkEncode, serialize, view } from '../helpers/payloads.js';

const KEY = testKey('default');
const OLD_KEY = testKey('old');
const keyRing = KeyRing.fromKeys({ default: KEY, old: OLD_KEY }, 'default');

/** Go's payloads ({@link goEncryptedWith}, {@link goPayloadWith}) under the key `default` unless told otherwise. */
const goEncrypted = (payload: Payload, key: Uint8Array = KEY, keyId = 'default'): Payload => goEncryptedWith(payload, key, keyId);
const goPayload = (payload: Payload, key: Uint8Array = KEY, keyId = 'default'): Payload => goPayloadWith(payload, key, keyId);

const small = defaultPayloadConverter.toPayload({ source: 'go', count: 3, text: 'héllo ✓' });
const large = defaultPayloadConverter.toPayload({ rows: Array.from({ length: 200 }, (_, i) => ({ i, status: 'delivered' })) });

describe('createPayloadCodecs decodes through the SDK order', () => {
  const codecs = createPayloadCodecs({ keyRing });

  it("decodes Go's zlib(encrypted(x)), small (AlwaysEncode) and large, to x", async () => {
    const stored = overTheWire([goPayload(small), goPayload(large), goPayload(small, OLD_KEY, 'old')]);
    expect(stored.map((p) => metadataText(p, 'encoding'))).toEqual(['binary/zlib', 'binary/zlib', 'binary/zlib']);
    const decoded = await sdkDecode(codecs, stored);
    expect(decoded.map(view)).toEqual([view(small), view(large), view(small)]);
  });

  it("decodes Go's payloads, ours (encrypted(zlib(x)) and encrypted(x)) and plain payloads in one batch", async () => {
    const bigText = defaultPayloadConverter.toPayload('The quick brown fox. '.repeat(500));
    const ours = overTheWire(await sdkEncode(codecs, [bigText, small]));
    const inner = await new EncryptionCodec({ keyRing }).decode(ours);
    expect(inner.map((p) => metadataText(p, 'encoding'))).toEqual(['binary/zlib', 'json/plain']);
    const plain = defaultPayloadConverter.toPayload(null);

    const decoded = await sdkDecode(codecs, [...ours, goPayload(large), plain]);
    expect(decoded.map(view)).toEqual([view(bigText), view(small), view(large), view(plain)]);
    expect(decoded[3]).toBe(plain);
  });

  it('opens one binary/zlib layer and the binary/encrypted payload in it, no deeper: no codec writes more', async () => {
    // What comes out still marked is refused later by the payload converter (unknown encoding): closed, not opened.
    const zlibbed = goZlib(small);
    const encrypted = goEncrypted(small);
    for (const [stored, left] of [
      [goZlib(zlibbed), zlibbed],
      [goPayload(zlibbed), zlibbed],
      [goZlib(goEncrypted(encrypted)), encrypted],
    ] as const) {
      const [decoded] = await sdkDecode(codecs, overTheWire([stored]));
      expect(view(decoded!)).toEqual(view(left));
    }
  });

  it('with encryption off, still inflates a Go payload but leaves the binary/encrypted payload inside as it is', async () => {
    const inside = goEncrypted(small);
    const stored = goZlib(inside);
    for (const codec of [createPayloadCodecs({ enableEncryption: false }), [new CompressionCodec()]]) {
      const [decoded] = await sdkDecode(codec, [stored]);
      expect(view(decoded!)).toEqual(view(inside));
    }
    // The same payload shape decodes fully once an inner decoder is given.
    const withKeys = new CompressionCodec({ innerDecoder: new EncryptionCodec({ keyRing }) });
    expect(view((await withKeys.decode([stored]))[0]!)).toEqual(view(small));
  });
});

describe('errors inside the layers', () => {
  const codecs = createPayloadCodecs({ keyRing });

  it('tells onInflated how many bytes the inflate produced, the padded encrypted layer included', () => {
    // A caller charges this to a budget: the decrypted payload is far smaller than its padded encrypted form.
    const padded = goEncrypted(small);
    padded.metadata!.pad = new Uint8Array(200_000);
    const [compression] = createPayloadCodecs({ keyRing }) as [CompressionCodec];
    const inflated: number[] = [];
    const decoded = compression.decompressPayload(goZlib(padded), (bytes) => inflated.push(bytes));
    expect(view(decoded)).toEqual(view(small));
    expect(inflated).toEqual([serialize(padded).length]);
    expect(inflated[0]).toBeGreaterThan(200_000);
  });

  it('fails an inner layer under an unknown key id or altered with the one DecryptionError, naming the inner key id only', async () => {
    const stranger = randomBytes(32);
    const unknown = goPayload(small, stranger, 'retired');
    const altered = goEncrypted(small);
    altered.data![20]! ^= 1;
    const cases: [Payload, string][] = [
      [unknown, 'retired'],
      [goZlib(altered), 'default'],
    ];
    for (const [payload, keyId] of cases) {
      const error = expectCodecError(
        await caught(() => sdkDecode(codecs, [payload])),
        DecryptionError,
        'ERR_DECRYPTION_FAILED',
        `decryption operation failed for encryption-key-id "${keyId}": the key is not configured, or the payload was ` +
          'altered or encrypted with a different key',
      );
      expect(error.keyId).toBe(keyId);
      expectNoSecret(error.message, [
        KEY.toString('hex'),
        KEY.toString('base64'),
        stranger.toString('hex'),
        Buffer.from(payload.data!).toString('base64'),
        Buffer.from(small.data!).toString('utf8'),
      ]);
    }
  });

  it("applies maxDecompressedBytes to Go's binary/zlib layer", async () => {
    const bulky = defaultPayloadConverter.toPayload('x'.repeat(100_000));
    const payload = goPayload(bulky);
    const capped = createPayloadCodecs({ keyRing, maxDecompressedBytes: 50_000 });
    const error = expectCodecError(
      await caught(() => sdkDecode(capped, [payload])),
      DecompressedTooLargeError,
      'ERR_DECOMPRESSED_TOO_LARGE',
      'decompression failed: the binary/zlib payload inflates to more than 50000 bytes (maxDecompressedBytes)',
    );
    expect(error.limit).toBe(50_000);
  });

  it("fails a Go payload whose binary/zlib stream is cut short with the DecompressionError", async () => {
    const broken = rawPayload('binary/zlib', deflateSync(serialize(goEncrypted(small))).subarray(0, 8));
    expectCodecError(
      await caught(() => sdkDecode(codecs, [broken])),
      DecompressionError,
      'ERR_DECOMPRESSION_FAILED',
      'decompression failed: the binary/zlib payload is not a valid zlib stream',
    );
  });
});
