import {
  ENCODING_ENCRYPTED,
  ENCODING_ZLIB,
  METADATA_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
} from '../codecs/payload-proto.js';

/**
 * A payload in proto3 JSON as it sits inside a larger document: an object whose `metadata` object has an `encoding`
 * (metadata values and `data` in base64). Fields this package does not model are kept as they are.
 */
export type PayloadJsonNode = Record<string, unknown> & { metadata: Record<string, unknown> & { encoding: string } };

/** Called once per payload, in document order, with the payload's JSON path (`events[3].…input.payloads[0]`). */
export type PayloadVisitor = (payload: PayloadJsonNode, path: string) => void;

/** How many payloads a document holds, by kind. */
export interface PayloadCounts {
  /** Every payload found. */
  total: number;
  /** `binary/encrypted` payloads. */
  encrypted: number;
  /** `binary/encrypted` payloads by `encryption-key-id` (`""` when the metadata has none). */
  byKeyId: Record<string, number>;
  /** `binary/zlib` payloads outside any encryption: compressed, but readable by anyone. */
  compressed: number;
  /** Payloads of Temporal's standard converters (`json/plain`, `binary/null`, ...): readable by anyone. */
  plain: number;
  /** Any other encoding (another codec's output). */
  other: number;
}

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
 * payload, and visits each object once even when it is reachable twice. Returns how many payloads it visited.
 *
 * The walk keeps its own stack, so a deeply nested document cannot overflow the call stack.
 *
 * @example
 * walkPayloads(JSON.parse(historyText), (payload, path) => console.log(path, payload.metadata.encoding));
 */
export function walkPayloads(value: unknown, visit: PayloadVisitor): number {
  const seen = new Set<object>();
  const stack: Array<{ node: object; path: string }> = [];
  if (typeof value === 'object' && value !== null) stack.push({ node: value, path: '' });
  let visited = 0;
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    if (isPayloadJson(node)) {
      visit(node, path);
      visited++;
      continue;
    }
    // Children go on the stack last first, so they come off in document order.
    if (Array.isArray(node)) {
      for (let index = node.length - 1; index >= 0; index--) {
        const child: unknown = node[index];
        if (typeof child === 'object' && child !== null) stack.push({ node: child, path: `${path}[${index}]` });
      }
    } else {
      const record = node as Record<string, unknown>;
      const keys = Object.keys(record);
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index]!;
        const child = record[key];
        if (typeof child === 'object' && child !== null) stack.push({ node: child, path: childPath(path, key) });
      }
    }
  }
  return visited;
}

/**
 * Counts the payloads of a parsed JSON document by kind, and the encrypted ones by key id: what a rotation must
 * still rewrap, and whether an old key is still needed.
 *
 * @example
 * const { byKeyId } = countKeyIds(JSON.parse(historyText)); // { "2024-01": 12, "2025-01": 3 }
 */
export function countKeyIds(value: unknown): PayloadCounts {
  const counts = emptyCounts();
  walkPayloads(value, (payload) => tallyPayload(counts, payload));
  return counts;
}

/** @internal A zeroed {@link PayloadCounts}; `byKeyId` has no prototype, so any key id is a plain entry. */
export function emptyCounts(): PayloadCounts {
  const byKeyId = Object.create(null) as Record<string, number>;
  return { total: 0, encrypted: 0, byKeyId, compressed: 0, plain: 0, other: 0 };
}

/** @internal Adds one payload to the counts. */
export function tallyPayload(counts: PayloadCounts, payload: PayloadJsonNode): void {
  counts.total++;
  const keyId = encryptedKeyIdOfJson(payload);
  if (keyId !== undefined) {
    counts.encrypted++;
    counts.byKeyId[keyId] = (counts.byKeyId[keyId] ?? 0) + 1;
    return;
  }
  const encoding = base64Text(payload.metadata[METADATA_ENCODING]);
  if (encoding === ENCODING_ZLIB) counts.compressed++;
  else if (encoding !== undefined && PLAIN_ENCODINGS.has(encoding)) counts.plain++;
  else counts.other++;
}

/** The `encryption-key-id` of a `binary/encrypted` payload in JSON form (`""` if absent), or undefined. */
export function encryptedKeyIdOfJson(payload: PayloadJsonNode): string | undefined {
  if (base64Text(payload.metadata[METADATA_ENCODING]) !== ENCODING_ENCRYPTED) return undefined;
  return base64Text(payload.metadata[METADATA_ENCRYPTION_KEY_ID]) ?? '';
}

/** The path of a property: `a.b` for identifiers, `a["x-y"]` for any other name. */
function childPath(path: string, key: string): string {
  if (IDENTIFIER.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function base64Text(value: unknown): string | undefined {
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
