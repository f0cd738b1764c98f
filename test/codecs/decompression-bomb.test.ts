import { createDeflate } from 'node:zlib';
import type { Payload } from '@temporalio/common';
import { beforeAll, describe, expect, it } from 'vitest';
import { CompressionCodec, DEFAULT_MAX_DECOMPRESSED_BYTES } from '../../src/codecs/compression-codec.js';
import { createPayloadCodecs } from '../../src/codecs/data-converter.js';
import { DecompressedTooLargeError } from '../../src/errors.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { caught, expectCodecError } from '../helpers/errors.js';
import { testKey } from '../helpers/keys.js';
import { rawPayload, sdkDecode } from '../helpers/payloads.js';

const MiB = 1024 * 1024;
const BOMB_SIZE = 200 * MiB;

/**
 * A zlib stream of 200 MiB of zeros (about 200 KB), built once. It is fed to deflate 1 MiB at a time rather than as
 * one 200 MiB buffer, so that building it leaves nothing behind in the heap that would blur the memory measurement.
 */
async function zeroBomb(size: number): Promise<Buffer> {
  const deflate = createDeflate({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  const zeros = Buffer.alloc(MiB);
  for (let written = 0; written < size; written += MiB) {
    if (!deflate.write(zeros)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  return Buffer.concat(chunks);
}

let bomb: Payload;

beforeAll(async () => {
  const stream = await zeroBomb(BOMB_SIZE);
  expect(stream.length).toBeLessThan(MiB);
  bomb = rawPayload('binary/zlib', stream);
});

function tooLarge(limit: number): string {
  return `decompression failed: the binary/zlib payload inflates to more than ${limit} bytes (maxDecompressedBytes)`;
}

describe('decompression bombs', () => {
  it('refuses a payload that inflates to 200 MiB at the default 64 MiB cap, with memory growth under twice the cap', async () => {
    const codec = new CompressionCodec();
    const before = process.memoryUsage();
    const error = await caught(() => codec.decode([bomb]));
    const after = process.memoryUsage();
    const refused = expectCodecError(error, DecompressedTooLargeError, 'ERR_DECOMPRESSED_TOO_LARGE', tooLarge(DEFAULT_MAX_DECOMPRESSED_BYTES));
    expect(refused.limit).toBe(64 * MiB);
    // Inflating all of it would hold 200 MiB (and more while the chunks are joined); the cap stops near 64 MiB.
    const cap = DEFAULT_MAX_DECOMPRESSED_BYTES;
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(2 * cap);
    expect(after.rss - before.rss).toBeLessThan(2 * cap);
  });

  it('refuses it at a configured lower cap', async () => {
    const error = await caught(() => new CompressionCodec({ maxDecompressedBytes: MiB }).decode([bomb]));
    expectCodecError(error, DecompressedTooLargeError, 'ERR_DECOMPRESSED_TOO_LARGE', tooLarge(MiB));
  });

  it('refuses it through createPayloadCodecs with compression off, at maxDecompressedBytes', async () => {
    const codecs = createPayloadCodecs({
      keyRing: KeyRing.fromKeys({ default: testKey('default') }, 'default'),
      enableCompression: false,
      maxDecompressedBytes: 2 * MiB,
    });
    const error = await caught(() => sdkDecode(codecs, [bomb]));
    expectCodecError(error, DecompressedTooLargeError, 'ERR_DECOMPRESSED_TOO_LARGE', tooLarge(2 * MiB));
  });
});
