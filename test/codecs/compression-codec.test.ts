import { randomBytes } from 'node:crypto';
import { deflateRawSync, deflateSync, gzipSync, inflateSync } from 'node:zlib';
import type { Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  CompressionCodec,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  isCompressed,
} from '../../src/codecs/compression-codec.js';
import { ConfigError, DecompressedTooLargeError, DecompressionError } from '../../src/errors.js';
import { caught, caughtSync, expectCodecError } from '../helpers/errors.js';
import { hex, metadataText, rawPayload, serialize, view } from '../helpers/payloads.js';

const INVALID_STREAM = 'decompression failed: the binary/zlib payload is not a valid zlib stream';

/** A compressible json/plain payload whose serialized size is exactly `size` bytes. */
function payloadOfSerializedSize(size: number): Payload {
  for (let length = Math.max(0, size - 40); length <= size; length++) {
    const payload = rawPayload('json/plain', `"${'ab'.repeat(length).slice(0, length)}"`);
    if (serialize(payload).length === size) return payload;
  }
  throw new Error(`no payload serializes to ${size} bytes`);
}

function zlibPayload(data: Uint8Array): Payload {
  return rawPayload('binary/zlib', data);
}

async function decodeFailure(codec: CompressionCodec, payload: Payload): Promise<unknown> {
  return caught(() => codec.decode([payload]));
}

const original = rawPayload('json/plain', JSON.stringify({ rows: Array.from({ length: 200 }, (_, i) => ({ id: i, status: 'shipped' })) }), {
  messageType: 'Report',
});

describe('CompressionCodec encode', () => {
  it('has a 1024-byte threshold and a 64 MiB cap by default', () => {
    const codec = new CompressionCodec();
    expect([DEFAULT_COMPRESSION_THRESHOLD, DEFAULT_MAX_DECOMPRESSED_BYTES]).toEqual([1024, 64 * 1024 * 1024]);
    expect([codec.compress, codec.compressionThreshold, codec.maxDecompressedBytes]).toEqual([true, 1024, 67108864]);
  });

  it('writes encoding=binary/zlib and a zlib stream (RFC 1950) of the whole serialized payload', async () => {
    const [compressed] = await new CompressionCodec().encode([original]);
    expect(Object.keys(compressed!.metadata!)).toEqual(['encoding']);
    expect(metadataText(compressed!, 'encoding')).toBe('binary/zlib');
    expect(isCompressed(compressed!)).toBe(true);
    const data = Buffer.from(compressed!.data!);
    // zlib header: CM=8 (deflate) in the low nibble, and (CMF*256 + FLG) divisible by 31.
    expect(data[0]! & 0x0f).toBe(8);
    expect((data[0]! * 256 + data[1]!) % 31).toBe(0);
    expect(hex(inflateSync(data))).toBe(hex(serialize(original)));
    expect(data.length).toBeLessThan(serialize(original).length);
    // The original metadata travels only inside the stream.
    expect(data.includes(Buffer.from('Report'))).toBe(false);
  });

  it('compresses a payload whose serialized size equals the threshold and leaves one byte less alone', async () => {
    const codec = new CompressionCodec({ compressionThreshold: 1024 });
    const below = payloadOfSerializedSize(1023);
    const at = payloadOfSerializedSize(1024);
    const [belowOut, atOut] = await codec.encode([below, at]);
    expect(belowOut).toBe(below);
    expect(isCompressed(atOut!)).toBe(true);
  });

  it('follows a configured threshold', async () => {
    const payload = payloadOfSerializedSize(600);
    expect(isCompressed((await new CompressionCodec({ compressionThreshold: 600 }).encode([payload]))[0]!)).toBe(true);
    expect((await new CompressionCodec({ compressionThreshold: 601 }).encode([payload]))[0]).toBe(payload);
    expect(isCompressed((await new CompressionCodec({ compressionThreshold: 0 }).encode([payload]))[0]!)).toBe(true);
  });

  it('leaves an incompressible payload above the threshold alone, since deflate would make it larger', async () => {
    const random = rawPayload('binary/plain', randomBytes(4096));
    const [out] = await new CompressionCodec().encode([random]);
    expect(out).toBe(random);
  });

  it('leaves a payload alone when deflate saves nothing, even at threshold 0', async () => {
    const tiny = rawPayload('binary/plain', new Uint8Array([1]));
    const [out] = await new CompressionCodec({ compressionThreshold: 0 }).encode([tiny]);
    expect(out).toBe(tiny);
  });

  it('compresses nothing when compress is false', async () => {
    const codec = new CompressionCodec({ compress: false, compressionThreshold: 0 });
    const big = rawPayload('json/plain', `"${'z'.repeat(100_000)}"`);
    const [out] = await codec.encode([big]);
    expect(out).toBe(big);
  });
});

describe('CompressionCodec decode', () => {
  it('restores the original payload, metadata included', async () => {
    const codec = new CompressionCodec();
    const [decoded] = await codec.decode(await codec.encode([original]));
    expect(view(decoded!)).toEqual(view(original));
  });

  it.each([
    ['the default level', (bytes: Uint8Array) => deflateSync(bytes)],
    ['level 1', (bytes: Uint8Array) => deflateSync(bytes, { level: 1 })],
    ['level 9 with a small window', (bytes: Uint8Array) => deflateSync(bytes, { level: 9, windowBits: 9 })],
    ['no compression (stored blocks)', (bytes: Uint8Array) => deflateSync(bytes, { level: 0 })],
  ])('decodes a zlib stream made elsewhere (%s), as the Go and Java codecs write them', async (_name, compress) => {
    const [decoded] = await new CompressionCodec().decode([zlibPayload(compress(serialize(original)))]);
    expect(view(decoded!)).toEqual(view(original));
  });

  it('carries fields its protobuf schema does not know through decode and a new encode', async () => {
    // A Payload as a newer SDK writes it: field 9 (varint 42) after metadata and data.
    const newer = Buffer.concat([serialize(rawPayload('json/plain', `"${'x'.repeat(4096)}"`)), Buffer.from([0x48, 0x2a])]);
    const codec = new CompressionCodec();
    const [decoded] = await codec.decode([zlibPayload(deflateSync(newer))]);
    expect(hex(serialize(decoded!))).toBe(hex(newer));
    const [again] = await codec.decode(await codec.encode([decoded!]));
    expect(hex(serialize(again!))).toBe(hex(newer));
  });

  it('decodes every binary/zlib payload whatever its size and whatever this codec would compress', async () => {
    const small = rawPayload('json/plain', '"tiny"');
    const compressedSmall = zlibPayload(deflateSync(serialize(small)));
    for (const codec of [
      new CompressionCodec({ compress: false }),
      new CompressionCodec({ compressionThreshold: 1_000_000 }),
    ]) {
      const [decoded] = await codec.decode([compressedSmall]);
      expect(view(decoded!)).toEqual(view(small));
    }
  });

  it.each<[string, Payload]>([
    ['json/plain', rawPayload('json/plain', '{"a":1}')],
    ['binary/null', { metadata: { encoding: Buffer.from('binary/null') } }],
    ['binary/encrypted', rawPayload('binary/encrypted', randomBytes(40), { 'encryption-key-id': 'k' })],
    ['another codec (binary/gzip)', rawPayload('binary/gzip', gzipSync(Buffer.from('x')))],
    ['a look-alike encoding (binary/zlib2)', rawPayload('binary/zlib2', new Uint8Array([1, 2, 3]))],
    ['no metadata', { data: new Uint8Array([1]) }],
  ])('passes %s through unchanged', async (_name, payload) => {
    const before = view(payload);
    const [decoded] = await new CompressionCodec().decode([payload]);
    expect(decoded).toBe(payload);
    expect(view(decoded!)).toEqual(before);
  });
});

describe('CompressionCodec decompression errors', () => {
  const stream = deflateSync(serialize(original));

  it('refuses a stream whose Adler-32 checksum does not match', async () => {
    const badChecksum = Buffer.from(stream);
    badChecksum[badChecksum.length - 1]! ^= 0x01;
    const error = expectCodecError(
      await decodeFailure(new CompressionCodec(), zlibPayload(badChecksum)),
      DecompressionError,
      'ERR_DECOMPRESSION_FAILED',
      INVALID_STREAM,
    );
    expect(error.cause).toBeInstanceOf(Error);
  });

  it.each([
    ['header only (78 9c)', Buffer.from([0x78, 0x9c])],
    ['cut before the checksum', stream.subarray(0, stream.length - 4)],
    ['cut inside the checksum', stream.subarray(0, stream.length - 1)],
    ['cut in the middle', stream.subarray(0, stream.length >> 1)],
    ['empty', Buffer.alloc(0)],
    ['a bad header', Buffer.concat([Buffer.from([0x78, 0x9d]), stream.subarray(2)])],
    ['raw deflate without a zlib header', deflateRawSync(serialize(original))],
    ['a gzip stream', gzipSync(serialize(original))],
  ])('refuses a stream that is %s', async (_name, data) => {
    expectCodecError(
      await decodeFailure(new CompressionCodec(), zlibPayload(data)),
      DecompressionError,
      'ERR_DECOMPRESSION_FAILED',
      INVALID_STREAM,
    );
  });

  it('refuses a binary/zlib payload with no data', async () => {
    expectCodecError(
      await decodeFailure(new CompressionCodec(), { metadata: { encoding: Buffer.from('binary/zlib') } }),
      DecompressionError,
      'ERR_DECOMPRESSION_FAILED',
      INVALID_STREAM,
    );
  });

  it.each([
    ['a truncated length prefix', Buffer.from([0x0a, 0xff])],
    ['field number 0', Buffer.alloc(16)],
    ['text, which has an invalid wire type', Buffer.from('hello world')],
  ])('refuses a valid stream whose content is not a Payload protobuf (%s)', async (_name, content) => {
    expectCodecError(
      await decodeFailure(new CompressionCodec(), zlibPayload(deflateSync(content))),
      DecompressionError,
      'ERR_DECOMPRESSION_FAILED',
      INVALID_STREAM,
    );
  });

  it('inflates a payload of exactly maxDecompressedBytes and refuses one byte more', async () => {
    const serialized = serialize(original);
    const payload = zlibPayload(deflateSync(serialized));
    const [decoded] = await new CompressionCodec({ maxDecompressedBytes: serialized.length }).decode([payload]);
    expect(view(decoded!)).toEqual(view(original));
    const error = expectCodecError(
      await decodeFailure(new CompressionCodec({ maxDecompressedBytes: serialized.length - 1 }), payload),
      DecompressedTooLargeError,
      'ERR_DECOMPRESSED_TOO_LARGE',
      `decompression failed: the binary/zlib payload inflates to more than ${serialized.length - 1} bytes ` +
        '(maxDecompressedBytes)',
    );
    expect(error.limit).toBe(serialized.length - 1);
  });
});

describe('CompressionCodec options', () => {
  it.each([
    [{ compressionThreshold: -1 }, 'compressionThreshold must be a non-negative integer, got -1'],
    [{ compressionThreshold: 1.5 }, 'compressionThreshold must be a non-negative integer, got 1.5'],
    [{ compressionThreshold: Number.NaN }, 'compressionThreshold must be a non-negative integer, got NaN'],
    [{ maxDecompressedBytes: -5 }, 'maxDecompressedBytes must be a non-negative integer, got -5'],
    [{ maxDecompressedBytes: Infinity }, 'maxDecompressedBytes must be a non-negative integer, got Infinity'],
    [{ maxDecompressedBytes: 0 }, 'maxDecompressedBytes must be greater than 0'],
  ])('refuses %o', (options, message) => {
    expectCodecError(caughtSync(() => new CompressionCodec(options)), ConfigError, 'ERR_CONFIG', message);
  });
});
