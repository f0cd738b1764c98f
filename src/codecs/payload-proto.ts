import { createRequire } from 'node:module';
import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
// A CommonJS module whose named exports Node's ESM loader cannot see: take the value from the default export.
import protoModule from '@temporalio/proto';

const PayloadMessage = protoModule.temporal.api.common.v1.Payload;

/**
 * protobufjs drops the fields its schema does not know unless the reader says otherwise (`discardUnknown`, a global
 * default of true), and the wire format carries them through: decode with readers that keep them (as `$unknowns`,
 * which encode writes back). The generated decode takes only readers of its own protobufjs copy (`instanceof`), so
 * the Reader comes from the copy that @temporalio/proto itself loads.
 */
const { Reader } = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'))('protobufjs/light') as {
  Reader: { create(bytes: Uint8Array): { discardUnknown: boolean } };
};

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

/** Key of the `data` field: field 2, wire type 2 (length-delimited). */
const DATA_FIELD_TAG = (2 << 3) | 2;

/** Under this many bytes of `data`, copying it costs less than the second cipher call that splitting needs. */
const SPLIT_MIN_DATA_BYTES = 1024;

/**
 * The bytes of {@link serializePayload}, as parts that concatenate to them: `[head, data]`, where `head` is the
 * metadata field and the key and length of the `data` field and `data` is the payload's own array, not a copy. The
 * cipher reads the parts in turn, which saves copying the payload. A payload with under 1 KiB of data, or with fields
 * after `data` (external payloads, unknown fields), comes back whole, as one part.
 */
export function serializePayloadParts(payload: Payload): Uint8Array[] {
  const data = payload.data;
  const message = payload as temporal.api.common.v1.IPayload & { $unknowns?: unknown };
  if (
    !data ||
    data.length < SPLIT_MIN_DATA_BYTES ||
    !Object.hasOwn(payload, 'data') ||
    (message.externalPayloads?.length ?? 0) > 0 ||
    (message.$unknowns != null && Object.hasOwn(message, '$unknowns'))
  ) {
    return [serializePayload(payload)];
  }
  // protobufjs writes metadata (field 1), then data (field 2): encoding the metadata alone gives the head.
  const writer = PayloadMessage.encode({ metadata: payload.metadata } as temporal.api.common.v1.IPayload);
  writer.uint32(DATA_FIELD_TAG).uint32(data.length);
  return [writer.finish(), data];
}

/** Parses protobuf bytes back into a Payload, fields unknown to the schema kept (throws on malformed input). */
export function deserializePayload(bytes: Uint8Array): Payload {
  const reader = Reader.create(bytes);
  reader.discardUnknown = false;
  return PayloadMessage.decode(reader as unknown as Uint8Array) as Payload;
}

// ignoreBOM: a key id is its bytes; a leading U+FEFF is part of it, not a marker to strip.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

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
