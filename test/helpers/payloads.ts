import type { Payload, PayloadCodec } from '@temporalio/common';
// The Temporal SDK's own codec runner: encode runs codecs first to last, decode last to first. Using it (rather than
// a loop written here) is what proves the order `[compression, encryption]` means compress-then-encrypt in the SDK.
import { decode, encode } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import protoModule from '@temporalio/proto';

export const PayloadMessage = protoModule.temporal.api.common.v1.Payload;

const utf8 = new TextEncoder();

/** Plain protobuf bytes of a Payload, as every SDK writes them (`encode().finish()`, not length-delimited). */
export function serialize(payload: Payload): Uint8Array {
  return PayloadMessage.encode(payload as protoModule.temporal.api.common.v1.IPayload).finish();
}

/** A Payload parsed from protobuf bytes. */
export function deserialize(bytes: Uint8Array): Payload {
  return PayloadMessage.decode(bytes) as Payload;
}

/**
 * A comparable view of a payload: metadata and data as hex, external payloads as strings. Payloads that went
 * through protobuf carry Buffers and prototype defaults, payloads built in code carry Uint8Arrays; this view makes
 * them compare by content only.
 */
export function view(payload: Payload): {
  metadata: Record<string, string>;
  data: string;
  externalPayloads: string[];
} {
  const metadata: Record<string, string> = {};
  for (const key of Object.keys(payload.metadata ?? {}).sort()) {
    metadata[key] = hex(payload.metadata![key]!);
  }
  const external = (payload as protoModule.temporal.api.common.v1.IPayload).externalPayloads ?? [];
  return {
    metadata,
    data: hex(payload.data ?? new Uint8Array(0)),
    externalPayloads: external.map((item) => String(item.sizeBytes ?? 0)),
  };
}

export function hex(bytes: Uint8Array): string {
  // protobufjs leaves an absent `bytes` field as its prototype default, a plain empty array, not a Uint8Array.
  if (!(bytes instanceof Uint8Array)) return Buffer.from(bytes as ArrayLike<number>).toString('hex');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The UTF-8 text of a metadata entry, or undefined. */
export function metadataText(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value === undefined || value === null ? undefined : Buffer.from(value).toString('utf8');
}

/** A payload with the given encoding and data, built by hand (not by a converter or codec). */
export function rawPayload(encoding: string, data: Uint8Array | string, extra: Record<string, string> = {}): Payload {
  const metadata: Record<string, Uint8Array> = { encoding: utf8.encode(encoding) };
  for (const [key, value] of Object.entries(extra)) metadata[key] = utf8.encode(value);
  return { metadata, data: typeof data === 'string' ? utf8.encode(data) : data };
}

/** Runs the codecs the way the SDK does on the way out. */
export async function sdkEncode(codecs: PayloadCodec[], payloads: Payload[]): Promise<Payload[]> {
  return (await encode(codecs, payloads)) as Payload[];
}

/** Runs the codecs the way the SDK does on the way in. */
export async function sdkDecode(codecs: PayloadCodec[], payloads: Payload[]): Promise<Payload[]> {
  return (await decode(codecs, payloads)) as Payload[];
}

/** What Temporal stores and hands back: every payload through its protobuf bytes. */
export function overTheWire(payloads: Payload[]): Payload[] {
  return payloads.map((payload) => deserialize(serialize(payload)));
}

/** A copy of `bytes` with bit `bit` (0 = lowest bit of byte 0) flipped. */
export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

/** A copy of an encrypted payload with other data. */
export function withData(payload: Payload, data: Uint8Array): Payload {
  return { metadata: { ...payload.metadata }, data };
}

/** A copy of a payload with one metadata entry replaced (or removed with `undefined`). */
export function withMetadata(payload: Payload, key: string, value: Uint8Array | string | undefined): Payload {
  const metadata = { ...payload.metadata };
  if (value === undefined) delete metadata[key];
  else metadata[key] = typeof value === 'string' ? utf8.encode(value) : value;
  return { metadata, data: payload.data };
}
