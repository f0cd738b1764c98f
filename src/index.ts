/**
 * temporal-payload-codec: end-to-end encryption and compression of Temporal payloads.
 *
 * @example
 * import { createDataConverter } from 'temporal-payload-codec';
 * const dataConverter = createDataConverter({ encryptionKeyID: 'production', compressionThreshold: 1024 });
 * await Worker.create({ dataConverter, taskQueue: 'audit-queue', workflowsPath, activities });
 *
 * @packageDocumentation
 */
export {
  CodecError,
  ConfigError,
  DecompressedTooLargeError,
  DecompressionError,
  DecryptionError,
  KeyConfigError,
  PayloadJsonError,
  type CodecErrorCode,
} from './errors.js';
export { KEY_LENGTH, keyFingerprint, parseKeyValue, type ParsedKey } from './keys/key-material.js';
export {
  environmentSafeKeyId,
  FALLBACK_KEY_ID,
  KeyRing,
  type KeyInfo,
  type KeySource,
} from './keys/key-ring.js';
export {
  DEFAULT_ENCRYPTION_KEY_ID,
  FALLBACK_KEY_VARIABLE,
  loadKeyRing,
  type LoadKeyRingOptions,
} from './keys/load-key-ring.js';
export {
  EncryptionCodec,
  encryptionKeyIdOf,
  isEncrypted,
  MIN_ENCRYPTED_LENGTH,
  NONCE_LENGTH,
  TAG_LENGTH,
  type EncryptionCodecOptions,
} from './codecs/encryption-codec.js';
export {
  CompressionCodec,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  isCompressed,
  type CompressionCodecOptions,
  type InnerPayloadDecoder,
  type OnInflated,
} from './codecs/compression-codec.js';
export {
  ENCODING_ENCRYPTED,
  ENCODING_ZLIB,
  METADATA_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
} from './codecs/payload-proto.js';
export {
  createDataConverter,
  createPayloadCodecs,
  failureConverterPath,
  type DataConverterOptions,
} from './codecs/data-converter.js';
export { CODEC_ENV, loadCodecOptions, validateCodecOptions, type CodecOptions } from './codec-options.js';
export {
  parsePayloadsJson,
  payloadFromJson,
  payloadToJson,
  toPayloadsJson,
  type PayloadJson,
  type PayloadJsonOptions,
  type PayloadsJson,
  type UnknownFields,
} from './payload-json.js';
export * from './rotation/index.js';
