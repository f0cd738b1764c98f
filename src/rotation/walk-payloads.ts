import type { Payload } from '@temporalio/common';
import { CompressionCodec, isCompressed } from '../codecs/compression-codec.js';
import { encryptionKeyIdOf } from '../codecs/encryption-codec.js';
import {
  ENCODING_ENCRYPTED,
  ENCODING_ZLIB,
  METADATA_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
} from '../codecs/payload-proto.js';
import { DecompressedTooLargeError, DecompressionError } from '../errors.js';

/**
 * A payload in proto3 JSON as it sits inside a larger document: an object whose `metadata` object has an `encoding`
 * (metadata values and `data` in base64). Fields this package does not model are kept as they are.
 */
export type PayloadJsonNode = Record<string, unknown> & { metadata: Record<string, unknown> & { encoding: string } };

/** Called once per payload, in document order, with the payload's JSON path (`events[3].…input.payloads[0]`). */
export type PayloadVisitor = (payload: PayloadJsonNode, path: string) => void;

/**
 * How many payloads a document holds, by kind. Each payload counts once, in one of `encrypted`, `compressed`,
 * `uninspected`, `plain` and `other`, which add up to `total`.
 */
export interface PayloadCounts {
  /** Every payload found. */
  total: number;
  /**
   * Payloads under encryption: `binary/encrypted` ones, and `binary/zlib` ones whose inflated payload is
   * `binary/encrypted` (what Go's `NewCodecDataConverter(parent, zlib, encryption)` writes: it encrypts first, then
   * compresses). Such a payload counts here only, not also as `compressed`.
   */
  encrypted: number;
  /**
   * The `encrypted` payloads by the `encryption-key-id` of their `binary/encrypted` layer (for a `binary/zlib` one, of
   * the payload inside it); `""` when the metadata has none.
   */
  byKeyId: Record<string, number>;
  /**
   * `binary/zlib` payloads whose inflated payload is neither `binary/encrypted` nor `binary/zlib`: compressed, not
   * encrypted (a payload of the standard converters, or of another converter or codec, as a payload outside zlib
   * would count as `plain` or `other`).
   */
  compressed: number;
  /**
   * `binary/zlib` payloads that were not opened, so what they hold, and under which key id, is unknown: they may be
   * Go's `zlib(encrypted(x))` under any key. While there is one, no count here proves that a key is unused.
   */
  uninspected: number;
  /**
   * Why the `uninspected` payloads were not opened: `tooLarge`, they inflate past the cap (`maxDecompressedBytes`;
   * a higher cap opens them); `notZlib`, they are not a valid zlib stream of a payload (damaged, empty, or another
   * codec's format); `nested`, they hold another `binary/zlib` payload, which is not opened (one layer is opened, as
   * decode opens it: no codec writes two).
   */
  uninspectedByReason: UninspectedByReason;
  /** Payloads of Temporal's standard converters (`json/plain`, `binary/null`, ...): readable by anyone. */
  plain: number;
  /** Any other encoding (another codec's output). */
  other: number;
}

/** {@link PayloadCounts.uninspectedByReason}. */
export interface UninspectedByReason {
  /** Inflate past the cap (`ERR_DECOMPRESSED_TOO_LARGE`). */
  tooLarge: number;
  /** Not a valid zlib stream of a payload (`ERR_DECOMPRESSION_FAILED`). */
  notZlib: number;
  /**
   * A `binary/zlib` payload inside: decode opens one layer, so what that one holds (`zlib(encrypted(x))` under any key
   * id, say) is not looked at.
   */
  nested: number;
}

/** Why a `binary/zlib` payload was not opened: a key of {@link UninspectedByReason}. */
export type UninspectedReason = keyof UninspectedByReason;

/** The encodings of the payload converters every Temporal SDK ships. */
const PLAIN_ENCODINGS = new Set(['binary/null', 'binary/plain', 'json/plain', 'json/protobuf', 'binary/protobuf']);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Whether a JSON value is a payload: an object with a `metadata` object whose `encoding` is a string. */
export function isPayloadJson(value: unknown): value is PayloadJsonNode {
  return isObject(value) && isObject(value.metadata) && typeof value.metadata.encoding === 'string';
}

/**
 * Visits every payload in any parsed JSON document: a history written by `temporal workflow show --output json`
 * (inputs, results, signals, memo, headers, failures and their causes, `encodedAttributes`, heartbeat details,
 * markers, search attributes, ...), a `{"payloads": [...]}` file, or any other nesting. It does not look inside a
 * payload (the counting does, for `binary/zlib`: see {@link countKeyIds}), and visits each object once even when it
 * is reachable twice. Returns how many payloads it visited.
 *
 * The walk keeps its own stack, so a deeply nested document cannot overflow the call stack.
 *
 * @example
 * walkPayloads(JSON.parse(historyText), (payload, path) => console.log(path, payload.metadata.encoding));
 */
export function walkPayloads(value: unknown, visit: PayloadVisitor): number {
  return walkDocument(value, isPayloadJson, (payload, at) => visit(payload, pathOf(at)));
}

/**
 * A payload as a protobuf message object (`@temporalio/proto`, as `client.workflowService` returns it): an object
 * whose `metadata` object has an `encoding` in bytes.
 */
export type PayloadProtoNode = { metadata: Record<string, Uint8Array | null | undefined> & { encoding: Uint8Array } };

/** Whether a value is a payload as a protobuf message object: `metadata.encoding` holds bytes. */
export function isPayloadProto(value: unknown): value is PayloadProtoNode {
  return (
    isObject(value) && !ArrayBuffer.isView(value) && isObject(value.metadata) && value.metadata.encoding instanceof Uint8Array
  );
}

/**
 * {@link walkPayloads} for protobuf message objects: every payload of a raw history (a `GetWorkflowExecutionHistory`
 * response, an event, any message), generically, wherever the API puts one, so a field added to the API is covered
 * without a change here. Bytes fields are not walked into.
 *
 * @example
 * const { history } = await client.workflowService.getWorkflowExecutionHistory({ namespace, execution });
 * walkProtoPayloads(history, (payload) => counts.add(payload));
 */
export function walkProtoPayloads(value: unknown, visit: (payload: PayloadProtoNode) => void): number {
  return walkDocument(value, isPayloadProto, (payload) => visit(payload));
}

/** Where the walk is: the node, and how it was reached, from which the path is made only for a payload. */
interface Frame {
  node: object;
  parent: Frame | undefined;
  key: string | number;
}

/**
 * The walk of {@link walkPayloads} and {@link walkProtoPayloads}, for any notion of "payload": depth first, in
 * document order, each object once, never into a payload nor into bytes (`Uint8Array`, `Buffer`).
 */
function walkDocument<P extends object>(
  value: unknown,
  isPayload: (node: object) => node is P,
  visit: (payload: P, at: Frame) => void,
): number {
  const seen = new Set<object>();
  const stack: Frame[] = [];
  if (isWalkable(value)) stack.push({ node: value, parent: undefined, key: '' });
  let visited = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { node } = frame;
    if (seen.has(node)) continue;
    seen.add(node);
    if (isPayload(node)) {
      visit(node, frame);
      visited++;
      continue;
    }
    // Children go on the stack last first, so they come off in document order.
    if (Array.isArray(node)) {
      for (let index = node.length - 1; index >= 0; index--) {
        const child: unknown = node[index];
        if (isWalkable(child)) stack.push({ node: child, parent: frame, key: index });
      }
    } else {
      const record = node as Record<string, unknown>;
      const keys = Object.keys(record);
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index]!;
        const child = record[key];
        if (isWalkable(child)) stack.push({ node: child, parent: frame, key });
      }
    }
  }
  return visited;
}

/** Objects and arrays, but not bytes: a `Uint8Array` holds no payload, and walking its indices would be slow. */
function isWalkable(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);
}

/** The path of a frame: `a.b` for identifiers, `[0]` for indices, `a["x-y"]` for any other name. */
function pathOf(frame: Frame): string {
  const parts: string[] = [];
  for (let at: Frame | undefined = frame; at?.parent; at = at.parent) {
    const { key } = at;
    if (typeof key === 'number') parts.push(`[${key}]`);
    else if (IDENTIFIER.test(key)) parts.push(at.parent.parent === undefined ? key : `.${key}`);
    else parts.push(`[${JSON.stringify(key)}]`);
  }
  return parts.reverse().join('');
}

/** Options of {@link countKeyIds}. */
export interface CountKeyIdsOptions {
  /**
   * Refuse to inflate one `binary/zlib` layer past this many bytes, as the codecs do (`maxDecompressedBytes`); default
   * 64 MiB. A payload that does not inflate counts as `uninspected`.
   */
  maxDecompressedBytes?: number;
}

/**
 * Counts the payloads of a parsed JSON document by kind, and the encrypted ones by key id: what a rotation must
 * still rewrap, and whether an old key is still needed. A `binary/zlib` payload is inflated to see whether it holds
 * a `binary/encrypted` one (Go's order, `zlib(encrypted(x))`), which then counts under its key id; no other payload
 * is opened. One that cannot be inflated, or holds another `binary/zlib` payload, counts as `uninspected`: while
 * `uninspected` is not 0, a key id missing from `byKeyId` may still be in use.
 *
 * @example
 * const { byKeyId } = countKeyIds(JSON.parse(historyText)); // { "2024-01": 12, "2025-01": 3 }
 */
export function countKeyIds(value: unknown, options: CountKeyIdsOptions = {}): PayloadCounts {
  const counts = emptyCounts();
  const inflater = zlibInflater(options.maxDecompressedBytes);
  walkPayloads(value, (payload) => tallyPayload(counts, payload, inflater));
  return counts;
}

/**
 * The codec the rotation tools inflate with (`inflatePayload`, one layer): they look for the `binary/encrypted` layer
 * inside, never its plaintext (the keys are the caller's).
 */
const DEFAULT_INFLATER = new CompressionCodec({ compress: false });

/**
 * @internal A {@link CompressionCodec} to find `binary/encrypted` payloads inside `binary/zlib` ones with (the shared
 * default one for the default cap). Throws `ConfigError` for a cap that is not a positive integer.
 */
export function zlibInflater(maxDecompressedBytes?: number): CompressionCodec {
  if (maxDecompressedBytes === undefined) return DEFAULT_INFLATER;
  return new CompressionCodec({ compress: false, maxDecompressedBytes });
}

/** What is inside a `binary/zlib` payload, as far as the rotation tools need to know. */
type ZlibContent =
  /** Go's `zlib(encrypted(x))`: the `binary/encrypted` payload inside, and its key id. */
  | { encrypted: Payload; keyId: string; uninspected?: undefined }
  /** A payload under no encryption. */
  | { encrypted?: undefined; keyId?: undefined; uninspected?: undefined }
  /** Could not be inflated, or holds another `binary/zlib` payload: what it holds is unknown. */
  | { encrypted?: undefined; keyId?: undefined; uninspected: UninspectedReason };

/**
 * What a `binary/zlib` payload holds, found by inflating it as decode does (one layer, with the cap): the
 * `binary/encrypted` payload inside, nothing encrypted, or, when it does not inflate or holds another `binary/zlib`
 * payload, why it was not opened (then nobody here knows which key it needs). Only `binary/zlib` payloads are
 * inflated: call it for those alone.
 */
function openZlib(zlibData: Uint8Array, inflater: CompressionCodec): ZlibContent {
  let inner: Payload;
  try {
    inner = inflater.inflatePayload({ data: zlibData });
  } catch (error) {
    if (error instanceof DecompressedTooLargeError) return { uninspected: 'tooLarge' };
    if (error instanceof DecompressionError) return { uninspected: 'notZlib' };
    throw error;
  }
  const keyId = encryptionKeyIdOf(inner);
  if (keyId !== undefined) return { encrypted: inner, keyId };
  // Only a binary/zlib payload inside is a layer left shut: opened, it could be zlib(encrypted(x)) under any key id.
  // Any other payload inside is what it would be outside zlib, plain or another codec's, which no count opens either.
  return isCompressed(inner) ? { uninspected: 'nested' } : {};
}

/** @internal A zeroed {@link PayloadCounts}; `byKeyId` has no prototype, so any key id is a plain entry. */
export function emptyCounts(): PayloadCounts {
  const byKeyId = Object.create(null) as Record<string, number>;
  return {
    total: 0,
    encrypted: 0,
    byKeyId,
    compressed: 0,
    uninspected: 0,
    uninspectedByReason: { tooLarge: 0, notZlib: 0, nested: 0 },
    plain: 0,
    other: 0,
  };
}

/**
 * @internal Adds one payload to the counts, looking inside a `binary/zlib` one for a `binary/encrypted` one (see
 * {@link openZlib}). Returns the key id it was counted under: its own, or that of the `binary/encrypted` payload
 * inside it; undefined when it is under no encryption, or was not opened (then it counts as `uninspected`).
 */
export function tallyPayload(
  counts: PayloadCounts,
  payload: PayloadJsonNode,
  inflater: CompressionCodec = DEFAULT_INFLATER,
): string | undefined {
  const encoding = base64Text(payload.metadata[METADATA_ENCODING]);
  const keyId = encryptedKeyIdOfJson(payload);
  if (keyId === undefined && encoding === ENCODING_ZLIB) {
    // proto3 JSON leaves empty bytes out: no `data` is an empty stream, which does not inflate.
    const data = typeof payload.data === 'string' ? Buffer.from(payload.data, 'base64') : new Uint8Array(0);
    const content = openZlib(data, inflater);
    tallyEncoding(counts, encoding, content);
    return content.keyId;
  }
  tallyEncoding(counts, encoding, keyId === undefined ? {} : { keyId });
  return keyId;
}

/**
 * @internal Adds one payload, as a protobuf message object, to the counts, as {@link tallyPayload} does. Returns the
 * `binary/encrypted` payload it was counted under (itself, or the one inside it) with its key id; undefined when it is
 * under no encryption, or was not opened.
 */
export function tallyProtoPayload(
  counts: PayloadCounts,
  payload: PayloadProtoNode,
  inflater: CompressionCodec = DEFAULT_INFLATER,
): { keyId: string; encrypted: Payload } | undefined {
  const encoding = utf8.decode(payload.metadata.encoding);
  const keyId = encryptedKeyIdOfProto(payload);
  if (keyId === undefined && encoding === ENCODING_ZLIB) {
    const data = (payload as { data?: unknown }).data;
    const content = openZlib(data instanceof Uint8Array ? data : new Uint8Array(0), inflater);
    tallyEncoding(counts, encoding, content);
    return content.encrypted && { keyId: content.keyId, encrypted: content.encrypted };
  }
  tallyEncoding(counts, encoding, keyId === undefined ? {} : { keyId });
  return keyId === undefined ? undefined : { keyId, encrypted: payload as Payload };
}

function tallyEncoding(
  counts: PayloadCounts,
  encoding: string | undefined,
  found: { keyId?: string | undefined; uninspected?: UninspectedReason | undefined },
): void {
  counts.total++;
  if (found.keyId !== undefined) {
    counts.encrypted++;
    counts.byKeyId[found.keyId] = (counts.byKeyId[found.keyId] ?? 0) + 1;
  } else if (found.uninspected !== undefined) {
    counts.uninspected++;
    counts.uninspectedByReason[found.uninspected]++;
  } else if (encoding === ENCODING_ZLIB) {
    counts.compressed++;
  } else if (encoding !== undefined && PLAIN_ENCODINGS.has(encoding)) {
    counts.plain++;
  } else {
    counts.other++;
  }
}

/** The `encryption-key-id` of a `binary/encrypted` payload in JSON form (`""` if absent), or undefined. */
export function encryptedKeyIdOfJson(payload: PayloadJsonNode): string | undefined {
  if (base64Text(payload.metadata[METADATA_ENCODING]) !== ENCODING_ENCRYPTED) return undefined;
  return base64Text(payload.metadata[METADATA_ENCRYPTION_KEY_ID]) ?? '';
}

/** The `encryption-key-id` of a `binary/encrypted` payload as a protobuf message object (`""` if absent), or undefined. */
export function encryptedKeyIdOfProto(payload: PayloadProtoNode): string | undefined {
  if (utf8.decode(payload.metadata.encoding) !== ENCODING_ENCRYPTED) return undefined;
  const keyId = payload.metadata[METADATA_ENCRYPTION_KEY_ID];
  return keyId instanceof Uint8Array ? utf8.decode(keyId) : '';
}

const utf8 = new TextDecoder();

function base64Text(value: unknown): string | undefined {
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
