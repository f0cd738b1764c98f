import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { type CodecOptions, validateCodecOptions } from '../codec-options.js';
import type { KeyRing } from '../keys/key-ring.js';
import { loadKeyRing } from '../keys/load-key-ring.js';
import { CompressionCodec } from './compression-codec.js';
import { EncryptionCodec } from './encryption-codec.js';

/** Options of {@link createDataConverter} and {@link createPayloadCodecs}. */
export interface DataConverterOptions extends CodecOptions {
  /** Keys to use; default: loaded from the environment (and `keysDir`) with {@link loadKeyRing}. */
  keyRing?: KeyRing;
  /** The environment keys are read from when no `keyRing` is given; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Fail when the active key id has no key; default true. Decode-only tools pass false. */
  requireActiveKey?: boolean;
}

/**
 * The codecs in the order the TypeScript SDK applies them: encode runs first to last, decode last to first.
 *
 * ```text
 * encode: Payload -> [compression] -> [encryption] -> Temporal
 * decode: Temporal -> [encryption] -> [compression] -> Payload
 * ```
 *
 * Decode also reads Go's order, `zlib(encrypted(x))`: the compression codec decrypts a `binary/encrypted` payload it
 * finds inside a `binary/zlib` one with the encryption codec (one layer down, no deeper).
 */
export function createPayloadCodecs(options: DataConverterOptions = {}): PayloadCodec[] {
  const { keyRing, env, requireActiveKey, ...rest } = options;
  const settings = validateCodecOptions(rest);
  let encryption: EncryptionCodec | undefined;
  if (settings.enableEncryption ?? true) {
    const ring =
      keyRing?.withActiveKeyId(settings.encryptionKeyID ?? keyRing.activeKeyId) ??
      loadKeyRing({ env, keysDir: settings.keysDir, encryptionKeyID: settings.encryptionKeyID, requireActiveKey });
    encryption = new EncryptionCodec({ keyRing: ring, requireActiveKey });
  }
  // The compression codec stays even with compression off: decode follows each payload's own marker, so payloads
  // compressed under an earlier configuration still decode. It decrypts what it finds inside a binary/zlib payload:
  // Go's codec list (zlib, encryption) encrypts first, and the SDK runs compression's decode after encryption's.
  const compression = new CompressionCodec({
    compress: settings.enableCompression ?? true,
    compressionThreshold: settings.compressionThreshold,
    maxDecompressedBytes: settings.maxDecompressedBytes,
    ...(encryption ? { innerDecoder: encryption } : {}),
  });
  return encryption ? [compression, encryption] : [compression];
}

/**
 * A data converter for `Worker.create` and `new Client`: compression then encryption, and a failure converter that
 * moves failure messages and stack traces into the encrypted attributes.
 *
 * @example
 * import { createDataConverter } from 'temporal-payload-codec';
 * const dataConverter = createDataConverter({ encryptionKeyID: 'production' });
 * const worker = await Worker.create({ dataConverter, workflowsPath, activities, taskQueue: 'audit-queue' });
 * const client = new Client({ connection, dataConverter });
 */
export function createDataConverter(options: DataConverterOptions = {}): DataConverter {
  return { payloadCodecs: createPayloadCodecs(options), failureConverterPath: failureConverterPath() };
}

let resolvedFailureConverterPath: string | undefined;

/**
 * The file of the `failure-converter` entry point, which the Worker bundles into its workflow sandbox: the built
 * module next to this one, or the TypeScript source when running from a checkout.
 */
export function failureConverterPath(): string {
  if (resolvedFailureConverterPath) return resolvedFailureConverterPath;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, 'failure-converter.js'),
    join(here, 'failure-converter.cjs'),
    join(here, '..', 'failure-converter.ts'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error('temporal-payload-codec: the failure-converter module is missing from the package');
  resolvedFailureConverterPath = found;
  return found;
}
