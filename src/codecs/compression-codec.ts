import { deflateSync, inflateSync } from 'node:zlib';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { ConfigError, DecompressedTooLargeError, DecompressionError } from '../errors.js';
import { isEncrypted } from './encryption-codec.js';
import {
  deserializePayload,
  ENCODING_ZLIB,
  METADATA_ENCODING,
  metadataEquals,
  serializePayload,
} from './payload-proto.js';

/** Payloads whose serialized form is smaller than this are left alone: deflate rarely pays below 1 KiB. */
export const DEFAULT_COMPRESSION_THRESHOLD = 1024;

/**
 * Default cap on what one `binary/zlib` payload may inflate to. Temporal rejects a payload over 2 MiB (its default
 * blob size limit), and real data seldom compresses better than 30:1, so 64 MiB (32 x 2 MiB) leaves room for every
 * payload Temporal could have stored while refusing bombs (deflate reaches ~1000:1).
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

const ENCODING_ZLIB_BYTES = new TextEncoder().encode(ENCODING_ZLIB);

/** Told, after an inflate, how many bytes it produced and the payload they held. */
export type OnInflated = (bytes: number, inflated: Payload) => void;

/** Opens one `binary/encrypted` payload, as `EncryptionCodec.decryptPayload` does. */
export interface InnerPayloadDecoder {
  /** The payload inside a `binary/encrypted` payload; throws when it cannot be decrypted. */
  decryptPayload(payload: Payload): Payload;
}

/** Options of {@link CompressionCodec}. */
export interface CompressionCodecOptions {
  /** Compress on encode; default true. When false, decode still inflates every `binary/zlib` payload it meets. */
  compress?: boolean;
  /** Compress payloads whose serialized size is at least this many bytes; default 1024. */
  compressionThreshold?: number;
  /** Refuse to inflate a payload past this many bytes; default 64 MiB. The cap applies to each layer. */
  maxDecompressedBytes?: number;
  /**
   * Decrypts a `binary/encrypted` payload that decode finds inside a `binary/zlib` one (or is given), so that decode
   * follows the payload's own markers in either nesting. Go's `NewCodecDataConverter(parent, zlib, encryption)`
   * encrypts first and compresses last, making `zlib(encrypted(x))`, which the TypeScript SDK's decode order
   * (encryption, then compression) would otherwise leave encrypted. `createPayloadCodecs` passes its
   * `EncryptionCodec`. Default: none; a `binary/encrypted` payload is then returned as it is (no keys here).
   */
  innerDecoder?: InnerPayloadDecoder;
}

/**
 * zlib compression of whole payloads (`binary/zlib`, RFC 1950), the same format as the Go SDK's `ZlibCodec` and the
 * Java SDK's `ZlibPayloadCodec`, built on node:zlib (see BENCHMARKS.md for why not fflate).
 *
 * ```text
 * encode: Payload --serialize--> bytes; if size >= threshold and deflate(bytes) is smaller: binary/zlib payload
 * decode: any binary/zlib payload --inflate (Adler-32 checked, capped)--> deserialize --> Payload
 *         then, if that is binary/encrypted and an innerDecoder is given, --innerDecoder.decryptPayload--> Payload
 * ```
 *
 * Decode works from each payload's own marker, whatever this codec's threshold says.
 */
export class CompressionCodec implements PayloadCodec {
  readonly compress: boolean;
  readonly compressionThreshold: number;
  readonly maxDecompressedBytes: number;
  /** Decrypts the `binary/encrypted` payload decode finds inside; see {@link CompressionCodecOptions.innerDecoder}. */
  readonly innerDecoder: InnerPayloadDecoder | undefined;

  constructor(options: CompressionCodecOptions = {}) {
    this.compress = options.compress ?? true;
    this.compressionThreshold = nonNegativeInteger(
      options.compressionThreshold ?? DEFAULT_COMPRESSION_THRESHOLD,
      'compressionThreshold',
    );
    this.maxDecompressedBytes = nonNegativeInteger(
      options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES,
      'maxDecompressedBytes',
    );
    if (this.maxDecompressedBytes === 0) throw new ConfigError('maxDecompressedBytes must be greater than 0');
    this.innerDecoder = options.innerDecoder;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.compressPayload(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decompressPayload(payload));
  }

  /** Compresses one payload when it reaches the threshold and deflate makes it smaller; else returns it unchanged. */
  compressPayload(payload: Payload): Payload {
    if (!this.compress) return payload;
    const serialized = serializePayload(payload);
    if (serialized.length < this.compressionThreshold) return payload;
    const compressed = deflateSync(serialized);
    if (compressed.length >= serialized.length) return payload;
    return { metadata: { [METADATA_ENCODING]: ENCODING_ZLIB_BYTES }, data: compressed };
  }

  /**
   * Inflates a `binary/zlib` payload; returns any other payload unchanged. When what it inflates to is
   * `binary/encrypted` and an {@link innerDecoder} is given, returns what that decrypts (Go's `zlib(encrypted(x))`);
   * errors of the inner decoder pass through as they are (a `DecryptionError` stays one). No deeper layer is opened:
   * no codec writes one, and each would let a small payload cost another inflate to the cap. `onInflated` is told
   * how many bytes the inflate produced, so that a caller can charge that work to a budget (the decrypted payload
   * can be much smaller than its encrypted form, whose metadata may be padded), and what it inflated to (whose key id
   * a caller may count).
   */
  decompressPayload(payload: Payload, onInflated?: OnInflated): Payload {
    if (!isCompressed(payload)) return payload;
    const inner = this.inflatePayload(payload, onInflated);
    return this.innerDecoder && isEncrypted(inner) ? this.innerDecoder.decryptPayload(inner) : inner;
  }

  /**
   * Opens exactly one `binary/zlib` layer: the payload serialized in its zlib stream (inflated with the cap, Adler-32
   * checked), whatever that payload is. The caller checks the marker ({@link isCompressed}). The key rotation tools
   * use it to reach the `binary/encrypted` payload inside Go's `zlib(encrypted(x))`. `onInflated` is told how many
   * bytes the stream inflated to. Throws `DecompressionError` or `DecompressedTooLargeError`.
   */
  inflatePayload(payload: Payload, onInflated?: OnInflated): Payload {
    const inflated = inflateCapped(payload.data ?? new Uint8Array(0), this.maxDecompressedBytes);
    let inner: Payload;
    try {
      inner = deserializePayload(inflated);
    } catch (cause) {
      throw new DecompressionError({ cause });
    }
    onInflated?.(inflated.length, inner);
    return inner;
  }
}

/** Whether a payload is `binary/zlib`. */
export function isCompressed(payload: Payload): boolean {
  return metadataEquals(payload, METADATA_ENCODING, ENCODING_ZLIB);
}

/**
 * Inflates a complete zlib stream. node:zlib checks the header and the Adler-32 trailer, and fails a truncated or
 * header-only stream ("unexpected end of file"); `maxOutputLength` stops a bomb once output passes the cap, so
 * memory stays near the cap.
 */
function inflateCapped(data: Uint8Array, maxBytes: number): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: maxBytes });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new DecompressedTooLargeError(maxBytes);
    throw new DecompressionError({ cause });
  }
}

function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}
