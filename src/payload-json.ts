import type { Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
// A CommonJS module whose named exports Node's ESM loader cannot see: take the value from the default export.
import protoModule from '@temporalio/proto';
import { memberPath, PayloadJsonError } from './errors.js';

const ExternalPayloadDetails = protoModule.temporal.api.common.v1.Payload.ExternalPayloadDetails;

/**
 * One payload in proto3 JSON: metadata values and data in base64. A payload read with `unknownFields: 'carry'` and
 * passed through unchanged is written back with its other members too.
 */
export interface PayloadJson {
  metadata?: Record<string, string>;
  data?: string;
  externalPayloads?: unknown[];
}

/** The `{"payloads": [...]}` document of the codec server's HTTP body and of the CLI's files. */
export interface PayloadsJson {
  payloads: PayloadJson[];
}

/**
 * What to do with a member of a Payload (or of one of its `externalPayloads` entries) that this package does not model:
 * - `'reject'` (the default): throw a {@link PayloadJsonError} naming it. A JSON member has no protobuf field number,
 *   so a payload that is encoded would lose it: refusing is the only way never to drop data silently. The server's
 *   `/encode` uses this, as does every caller that serializes what it read.
 * - `'carry'`: keep it, and write it back untouched when a codec passes the payload through unchanged (the server's
 *   `/decode`, so that a field Temporal adds later does not break decoding). A payload a codec decodes is replaced by
 *   the inner payload, whose fields all come from the decrypted or inflated protobuf: the outer payload's members,
 *   known or not, describe the encoded form and do not apply to it, so they are not copied over.
 */
export type UnknownFields = 'reject' | 'carry';

/** Options of {@link parsePayloadsJson} and {@link payloadFromJson}. */
export interface PayloadJsonOptions {
  /** Refuse a document of more payloads than this, before reading any. */
  maxPayloads?: number;
  /** Members this package does not model: refuse them (default) or carry them through; see {@link UnknownFields}. */
  unknownFields?: UnknownFields;
}

// proto3 JSON accepts standard and URL-safe base64, padded or not.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const EQUALS_SIGN = 61;
const KNOWN_FIELDS = new Set(['metadata', 'data', 'externalPayloads']);
/** `ExternalPayloadDetails.size_bytes` is an int64 (temporal/api/common/v1/message.proto): at most 2^63 - 1. */
const INT64_MAX = '9223372036854775807';
/**
 * How deep a carried member may nest (each object or array is a level). Deep enough for any protobuf message a future
 * Temporal field could hold in proto3 JSON; shallow enough that writing the answer back (JSON.stringify, which recurses)
 * can never overflow the stack, as a 10 KB body of 5000 nested arrays did.
 */
const MAX_CARRIED_DEPTH = 32;

/**
 * The JSON each payload was read from. A payload that a codec passes through unchanged is written back as exactly
 * the JSON it came in as, so fields this package does not model survive a round trip.
 */
const sourceJson = new WeakMap<Payload, PayloadJson>();

/** Parses a `{"payloads": [...]}` document (text or parsed JSON); errors name the field, never its content. */
export function parsePayloadsJson(document: unknown, options: PayloadJsonOptions = {}): Payload[] {
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
  const carry = options.unknownFields === 'carry';
  return list.map((item, index) => readPayload(item, `payloads[${index}]`, carry));
}

/** One payload from its proto3 JSON form (`options.unknownFields` as in {@link parsePayloadsJson}). */
export function payloadFromJson(
  value: unknown,
  path = 'payload',
  options: Pick<PayloadJsonOptions, 'unknownFields'> = {},
): Payload {
  return readPayload(value, path, options.unknownFields === 'carry');
}

function readPayload(value: unknown, path: string, carry: boolean): Payload {
  if (!isPlainObject(value)) throw new PayloadJsonError(path, 'expected an object');
  for (const field of Object.keys(value)) {
    if (!KNOWN_FIELDS.has(field)) checkUnknownField(value[field], memberPath(path, field), carry);
  }
  // No prototype, so that a metadata key named "__proto__" stays a key.
  const metadata = Object.create(null) as Record<string, Uint8Array>;
  const payload: Payload = { metadata, data: base64Field(value.data, `${path}.data`) };
  if (value.metadata !== undefined && value.metadata !== null) {
    if (!isPlainObject(value.metadata)) throw new PayloadJsonError(`${path}.metadata`, 'expected an object');
    for (const [key, entry] of Object.entries(value.metadata)) {
      metadata[key] = base64Field(entry, memberPath(`${path}.metadata`, key));
    }
  }
  if (value.externalPayloads !== undefined && value.externalPayloads !== null) {
    if (!Array.isArray(value.externalPayloads)) {
      throw new PayloadJsonError(`${path}.externalPayloads`, 'expected an array');
    }
    (payload as temporal.api.common.v1.IPayload).externalPayloads = value.externalPayloads.map((item, index) => {
      const itemPath = `${path}.externalPayloads[${index}]`;
      const sizeBytes = isPlainObject(item) ? (item.sizeBytes ?? '0') : undefined;
      if (typeof sizeBytes !== 'string' && typeof sizeBytes !== 'number') {
        throw new PayloadJsonError(itemPath, 'expected an object with sizeBytes');
      }
      for (const field of Object.keys(item as Record<string, unknown>)) {
        if (field === 'sizeBytes') continue;
        checkUnknownField((item as Record<string, unknown>)[field], memberPath(itemPath, field), carry);
      }
      return ExternalPayloadDetails.fromObject({ sizeBytes: int64Text(sizeBytes, `${itemPath}.sizeBytes`) });
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
  if (!BASE64.test(value) || !isBase64Length(value)) throw new PayloadJsonError(path, 'not valid base64');
  return Buffer.from(value, 'base64');
}

/**
 * Whether text of the base64 alphabet (at most two trailing `=`, checked by {@link BASE64}) has a length base64 can
 * have: padded, a multiple of 4 (so `A=`, `==` and `QQ=` fail); unpadded, anything but 4n+1 characters, which no byte
 * count encodes to. Once the length is a multiple of 4, one or two `=` always leave 4n+3 or 4n+2 characters: valid.
 * A length check, not a decode and re-encode: it runs on every payload.
 */
function isBase64Length(text: string): boolean {
  const length = text.length;
  return length > 0 && text.charCodeAt(length - 1) === EQUALS_SIGN ? length % 4 === 0 : length % 4 !== 1;
}

/**
 * An int64 in proto3 JSON (a string, or a number) as the decimal text protobufjs reads, refusing what it would wrap:
 * past 2^63 - 1, `Long.fromString` gives a negative number, and 2^64 - 1 comes back as -1. A size is never negative.
 */
function int64Text(value: string | number, path: string): string {
  const text = String(value);
  if (!/^\d+$/.test(text)) throw new PayloadJsonError(path, 'expected a non-negative integer');
  let start = 0;
  while (start < text.length - 1 && text.charCodeAt(start) === 48) start++; // leading zeros
  const digits = text.length - start;
  if (digits > INT64_MAX.length || (digits === INT64_MAX.length && text.slice(start) > INT64_MAX)) {
    throw new PayloadJsonError(path, `out of range; an int64 is at most ${INT64_MAX}`);
  }
  return text;
}

/** A member this package does not model: refused, or checked to be JSON that can be written back ({@link UnknownFields}). */
function checkUnknownField(value: unknown, path: string, carry: boolean): void {
  if (!carry) throw new PayloadJsonError(path, 'unknown field');
  if (value === undefined) return; // not in the JSON text: JSON.stringify leaves it out
  const problem = jsonValueProblem(value, MAX_CARRIED_DEPTH);
  if (problem) throw new PayloadJsonError(path, problem);
}

/**
 * Why `value` cannot be carried through, or undefined: deeper than `levels` objects and arrays (a cycle is
 * infinitely deep), or not a JSON value at all (a document given as objects may hold anything). Recursion is bounded
 * by `levels`, so the check itself cannot overflow the stack.
 */
function jsonValueProblem(value: unknown, levels: number): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : 'expected a JSON value';
    case 'object': {
      if (value === null) return undefined;
      if (levels === 0) return `nested deeper than ${MAX_CARRIED_DEPTH} levels`;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const problem = jsonValueProblem(value[i], levels - 1);
          if (problem) return problem;
        }
        return undefined;
      }
      const prototype = Object.getPrototypeOf(value) as unknown;
      if (prototype !== Object.prototype && prototype !== null) return 'expected a JSON value';
      for (const key of Object.keys(value)) {
        const entry = (value as Record<string, unknown>)[key];
        // Left out by JSON.stringify, like a top-level undefined member.
        const problem = entry === undefined ? undefined : jsonValueProblem(entry, levels - 1);
        if (problem) return problem;
      }
      return undefined;
    }
    default:
      return 'expected a JSON value';
  }
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
