import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
// A CommonJS module whose named exports Node's ESM loader cannot see: take the value from the default export.
import protoModule from '@temporalio/proto';

const PayloadMessage = protoModule.temporal.api.common.v1.Payload;

/** `metadata.encoding` of the payloads the encryption codec makes. */
export const ENCODING_ENCRYPTED = 'binary/encrypted';
/** `metadata.encoding` of the payloads the compression codec makes. */
export const ENCODING_ZLIB = 'binary/zlib';
/** The metadata key that names the key a `binary/encrypted` payload was encrypted with. */
export const METADATA_ENCRYPTION_KEY_ID = 'encryption-key-id';
/** The metadata key of a payload's encoding (Temporal's `METADATA_ENCODING_KEY`). */
export const METADATA_ENCODING = 'encoding';

/**
 * The whole Payload as protobuf bytes: plain `encode().finish()`, never length-delimited, so Go, Java and Python
 * read the same bytes.
 */
export function serializePayload(payload: Payload): Uint8Array {
  return PayloadMessage.encode(payload as temporal.api.common.v1.IPayload).finish();
}

/** Parses protobuf bytes back into a Payload (throws on malformed input). */
export function deserializePayload(bytes: Uint8Array): Payload {
  return PayloadMessage.decode(bytes) as Payload;
}

const utf8 = new TextDecoder();

/** The text of a metadata entry, or undefined. */
export function metadataText(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? utf8.decode(value) : undefined;
}

/** Whether a metadata entry holds exactly this ASCII text, without decoding it. */
export function metadataEquals(payload: Payload, key: string, expected: string): boolean {
  const value = payload.metadata?.[key];
  if (!value || value.length !== expected.length) return false;
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== expected.charCodeAt(i)) return false;
  }
  return true;
}
