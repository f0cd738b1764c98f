import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
// A CommonJS module whose named exports Node's ESM loader cannot see: take the value from the default export.
import protoModule from '@temporalio/proto';
import { describeKeyId, PayloadJsonError } from './errors.js';

const ExternalPayloadDetails = protoModule.temporal.api.common.v1.Payload.ExternalPayloadDetails;

/** One payload in proto3 JSON: metadata values and data in base64. */
export interface PayloadJson {
  metadata?: Record<string, string>;
  data?: string;
  externalPayloads?: unknown[];
}

/** The `{"payloads": [...]}` document of the codec server's HTTP body and of the CLI's files. */
export interface PayloadsJson {
  payloads: PayloadJson[];
}

// proto3 JSON accepts standard and URL-safe base64, padded or not.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const KNOWN_FIELDS = new Set(['metadata', 'data', 'externalPayloads']);
const PLAIN_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The JSON each payload was read from. A payload that a codec passes through unchanged is written back as exactly
 * the JSON it came in as, so fields this package does not model survive a round trip.
 */
const sourceJson = new WeakMap<Payload, PayloadJson>();

/** Parses a `{"payloads": [...]}` document (text or parsed JSON); errors name the field, never its content. */
export function parsePayloadsJson(document: unknown, options: { maxPayloads?: number } = {}): Payload[] {
  let value = document;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new PayloadJsonError('', 'the body is not valid JSON');
    }
  }
  if (!isPlainObject(value) || !Array.isArray(value.payloads)) {
    throw new PayloadJsonError('', 'expected an object of the form {"payloads": [...]}');
  }
  const list = value.payloads as unknown[];
  if (options.maxPayloads !== undefined && list.length > options.maxPayloads) {
    throw new PayloadJsonError('payloads', `${list.length} payloads; at most ${options.maxPayloads} are allowed`);
  }
  return list.map((item, index) => payloadFromJson(item, `payloads[${index}]`));
}

/** One payload from its proto3 JSON form. */
export function payloadFromJson(value: unknown, path = 'payload'): Payload {
  if (!isPlainObject(value)) throw new PayloadJsonError(path, 'expected an object');
  for (const field of Object.keys(value)) {
    if (!KNOWN_FIELDS.has(field)) throw new PayloadJsonError(member(path, field), 'unknown field');
  }
  // No prototype, so that a metadata key named "__proto__" stays a key.
  const metadata = Object.create(null) as Record<string, Uint8Array>;
  const payload: Payload = { metadata, data: base64Field(value.data, `${path}.data`) };
  if (value.metadata !== undefined && value.metadata !== null) {
    if (!isPlainObject(value.metadata)) throw new PayloadJsonError(`${path}.metadata`, 'expected an object');
    for (const [key, entry] of Object.entries(value.metadata)) {
      metadata[key] = base64Field(entry, member(`${path}.metadata`, key));
    }
  }
  if (value.externalPayloads !== undefined && value.externalPayloads !== null) {
    if (!Array.isArray(value.externalPayloads)) {
      throw new PayloadJsonError(`${path}.externalPayloads`, 'expected an array');
    }
    (payload as temporal.api.common.v1.IPayload).externalPayloads = value.externalPayloads.map((item, index) => {
      const sizeBytes = isPlainObject(item) ? (item.sizeBytes ?? '0') : undefined;
      if (typeof sizeBytes !== 'string' && typeof sizeBytes !== 'number') {
        throw new PayloadJsonError(`${path}.externalPayloads[${index}]`, 'expected an object with sizeBytes');
      }
      if (!/^\d+$/.test(String(sizeBytes))) {
        throw new PayloadJsonError(`${path}.externalPayloads[${index}].sizeBytes`, 'expected a non-negative integer');
      }
      return ExternalPayloadDetails.fromObject({ sizeBytes: String(sizeBytes) });
    });
  }
  sourceJson.set(payload, value as PayloadJson);
  return payload;
}

/** One payload in proto3 JSON form (the JSON it was read from, if a codec passed it through unchanged). */
export function payloadToJson(payload: Payload): PayloadJson {
  const source = sourceJson.get(payload);
  if (source) return source;
  const json: PayloadJson = {};
  if (payload.metadata) {
    const metadata = Object.create(null) as Record<string, string>;
    for (const [key, value] of Object.entries(payload.metadata)) {
      if (value) metadata[key] = toBase64(value);
    }
    json.metadata = metadata;
  }
  if (payload.data && payload.data.length > 0) json.data = toBase64(payload.data);
  const external = (payload as temporal.api.common.v1.IPayload).externalPayloads;
  if (external && external.length > 0) {
    json.externalPayloads = external.map((item) =>
      ExternalPayloadDetails.toObject(ExternalPayloadDetails.fromObject(item), { longs: String }),
    );
  }
  return json;
}

/** A `{"payloads": [...]}` document. */
export function toPayloadsJson(payloads: readonly Payload[]): PayloadsJson {
  return { payloads: payloads.map(payloadToJson) };
}

function base64Field(value: unknown, path: string): Uint8Array {
  if (value === undefined || value === null) return new Uint8Array(0);
  if (typeof value !== 'string') throw new PayloadJsonError(path, 'expected a base64 string');
  if (!BASE64.test(value) || value.length % 4 === 1) throw new PayloadJsonError(path, 'not valid base64');
  return Buffer.from(value, 'base64');
}

/**
 * The path of a member whose name comes from the document: `path.name` when the name is plain, else
 * `path["name"]`, quoted, escaped and cut like a key id, so no name can forge log lines or bloat a message.
 */
function member(path: string, name: string): string {
  return PLAIN_NAME.test(name) ? `${path}.${name}` : `${path}[${describeKeyId(name)}]`;
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
