import {
  type CodecOptions,
  CompressionCodec,
  createPayloadCodecs,
  EncryptionCodec,
  FALLBACK_KEY_ID,
  type KeyRing,
} from '../index.js';

/**
 * The codecs serving one namespace, as concrete classes so the hot path can call their synchronous per-payload
 * methods instead of the async, array-allocating `PayloadCodec` interface.
 */
export interface ServerCodecs {
  /** Decode opens the `binary/encrypted` payload inside a `binary/zlib` one with `encryption` (its `innerDecoder`). */
  compression: CompressionCodec;
  /** Absent when encryption is disabled: decode then passes `binary/encrypted` payloads through unchanged. */
  encryption?: EncryptionCodec;
  /**
   * A metrics label for a payload's key id. Key ids come from request metadata; only ids with a key of their own
   * become labels, every other id that decrypts (through the fallback key) is `*`, so labels stay bounded.
   */
  keyLabel(keyId: string): string;
}

/** Builds the server's codecs with the library's own factory, so they match the workers' data converter. */
export function createServerCodecs(options: CodecOptions & { keyRing?: KeyRing }): ServerCodecs {
  const codecs = createPayloadCodecs(options);
  const compression = codecs.find((c): c is CompressionCodec => c instanceof CompressionCodec);
  const encryption = codecs.find((c): c is EncryptionCodec => c instanceof EncryptionCodec);
  if (!compression) throw new Error('createPayloadCodecs returned no CompressionCodec');
  // The active id is configuration, not request data, so it is a label even when the fallback key serves it.
  const ownIds = new Set(encryption ? [...encryption.keyRing.keyIds(), encryption.activeKeyId] : []);
  return {
    compression,
    ...(encryption ? { encryption } : {}),
    // Any other id is labelled as `temporal-codec keys` lists the key that serves it: its environment-safe alias
    // (`PROD_EU` for `prod-eu`; never `PRODUCTION` for `production`, which the ring does not alias) or `*`.
    keyLabel: (keyId) => (ownIds.has(keyId) ? keyId : (encryption?.keyRing.servingKeyId(keyId) ?? FALLBACK_KEY_ID)),
  };
}
