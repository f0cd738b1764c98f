import { deflateSync } from 'node:zlib';
import type { Payload } from '@temporalio/common';
import type { CompressionCodec } from '../codecs/compression-codec.js';
import { type EncryptionCodec, isEncrypted } from '../codecs/encryption-codec.js';
import { serializePayload } from '../codecs/payload-proto.js';
import { describeKeyId, KeyConfigError } from '../errors.js';
import { payloadFromJson, payloadToJson } from '../payload-json.js';
import { RewrapKeyMissingError } from './errors.js';
import { applyEdits, formatLike, parseLocatedJson } from './located-json.js';
import {
  countKeyIds,
  emptyCounts,
  isPayloadJson,
  type PayloadCounts,
  type PayloadJsonNode,
  tallyPayload,
  walkPayloads,
  zlibInflater,
} from './walk-payloads.js';

/** Options of {@link rewrapJson} and {@link rewrapJsonText}. */
export interface RewrapOptions {
  /** Decrypts each payload with the key of its own key id and encrypts it with `encryptionCodec.activeKeyId`. */
  encryptionCodec: EncryptionCodec;
  /** Check and count only: decrypt what would be rewrapped (so a bad payload fails), change nothing. */
  dryRun?: boolean;
  /**
   * Refuse to inflate one `binary/zlib` layer past this many bytes, as the codecs do; default 64 MiB. A `binary/zlib`
   * payload is inflated to find a `binary/encrypted` one inside (Go's order); one that does not inflate is left as it
   * is and counted as `uninspected`: it may still be under an old key. One whose payload inside, rewrapped, would
   * inflate past the cap (the active key id is longer than its old one) is left as it is and counted in
   * `notRewrapped`: decode with the same cap could not open it any more.
   */
  maxDecompressedBytes?: number;
}

/** What a rewrap found and did. */
export interface RewrapResult {
  /** The key id every encrypted payload is under afterwards. */
  activeKeyId: string;
  /**
   * The document's payloads before the rewrap. `counts.uninspected` are `binary/zlib` payloads that could not be
   * opened (past `maxDecompressedBytes`, or not zlib): left as they are, they may still be under an old key.
   */
  counts: PayloadCounts;
  /** Payloads re-encrypted (with `dryRun`: that would be). */
  rewrapped: number;
  /** The same, by the key id they were under. */
  rewrappedByKeyId: Record<string, number>;
  /**
   * Payloads under another key id left as they are, though their key is in the ring (with `dryRun`: that would be):
   * `binary/zlib` payloads (Go's `zlib(encrypted(x))`) whose payload inside, rewrapped, would inflate past
   * `maxDecompressedBytes`, since the active key id is longer than the one they are under and they were that close to
   * the cap. Written, they would fail every decode with that cap (`ERR_DECOMPRESSED_TOO_LARGE`). While there is one,
   * the document still needs its old key.
   */
  notRewrapped: number;
  /** The same, by the key id they are still under. */
  notRewrappedByKeyId: Record<string, number>;
  /**
   * What the largest of the `notRewrapped` payloads would inflate to, rewrapped: the least `maxDecompressedBytes` that
   * rewraps them all (and that every decoder of them then needs); 0 when there is none.
   */
  maxDecompressedBytesNeeded: number;
}

/** {@link RewrapResult} with the document's new text. */
export interface RewrapTextResult extends RewrapResult {
  /** The rewrapped text: the input with only the rewrapped payloads' JSON replaced (the input itself when nothing was). */
  text: string;
  /** Whether the input was JSON Lines (one value per line) rather than one JSON document. */
  jsonLines: boolean;
}

interface PlannedRewrap {
  node: PayloadJsonNode;
  /** The payload re-encrypted with the active key (undefined in a dry run). */
  replacement: Payload | undefined;
}

/** What rewrapping one payload gives: the payload to write, or why it is to be left as it is. */
type Rewrapped =
  | { left?: undefined; replacement: Payload | undefined }
  /** Left as it is: rewrapped, its payload inside would inflate to `inflatedBytes`, past the cap. */
  | { left: true; inflatedBytes: number };

/**
 * Re-encrypts, in place, every `binary/encrypted` payload of a parsed JSON document (history, `{"payloads": [...]}`
 * file, any nesting; see {@link walkPayloads}) whose key id is not the active one: decrypt with its own key,
 * encrypt the inner payload as it is with the active key. Payloads already under the active key and unencrypted
 * payloads are left alone, so a second run changes nothing.
 *
 * A `binary/zlib` payload around a `binary/encrypted` one (Go's `NewCodecDataConverter(parent, zlib, encryption)`
 * writes `zlib(encrypted(x))`) is rewrapped too, keeping the nesting: the `binary/encrypted` payload inside is
 * re-encrypted as above, then serialized and deflated back into the `binary/zlib` payload, whose other fields
 * (its metadata: `encoding` only, as Go writes it) stay as they were. Go workers read it as before. A `binary/zlib`
 * payload that cannot be opened (for any reason of `counts.uninspectedByReason`) is left as it is and counted in
 * `counts.uninspected`, not thrown for (it may hold no encrypted payload at all): while there is one, the document
 * may still need an old key. One whose payload inside, rewrapped, would inflate past `maxDecompressedBytes` (a longer
 * active key id makes it a few bytes larger) is left as it is too, under its old key, and counted in `notRewrapped`:
 * written, it would fail every decode with that cap.
 *
 * All or nothing: every payload is decrypted before any is replaced, so on an error the document is unchanged.
 * Throws {@link RewrapKeyMissingError} (`ERR_KEY_CONFIG`) naming every key id the ring lacks, `DecryptionError` for a
 * payload that does not decrypt, `PayloadJsonError` for a malformed one.
 *
 * @example
 * const codec = new EncryptionCodec({ keyRing: loadKeyRing({ encryptionKeyID: '2025-01' }) });
 * const history = JSON.parse(readFileSync('history.json', 'utf8'));
 * const { rewrapped } = rewrapJson(history, { encryptionCodec: codec });
 */
export function rewrapJson(value: unknown, options: RewrapOptions): RewrapResult {
  const { result, planned } = plan(value, options);
  for (const { node, replacement } of planned) {
    if (!replacement) continue;
    const json = asJsonLike(node, replacement);
    for (const key of Object.keys(node)) if (!Object.hasOwn(json, key)) delete node[key];
    Object.assign(node, json);
  }
  return result;
}

/**
 * {@link rewrapJson} on JSON text (one document, or JSON Lines), returning the new text: every byte outside the
 * rewrapped payloads is kept (formatting, key order, numbers beyond 2^53), and each rewrapped payload is written in
 * the style of the one it replaces. Before returning, the new text is parsed and checked: the same payloads, every
 * encrypted one (inside `binary/zlib` ones too) under the active key.
 *
 * @example
 * const { text, rewrapped } = rewrapJsonText(readFileSync(file, 'utf8'), { encryptionCodec: codec });
 */
export function rewrapJsonText(text: string, options: RewrapOptions): RewrapTextResult {
  const located = parseLocatedJson(text, isPayloadJson);
  const { result, planned } = plan(located.value, options);
  if (options.dryRun || planned.length === 0) return { ...result, text, jsonLines: located.jsonLines };
  const edits = planned.map(({ node, replacement }) => {
    const span = located.spans.get(node);
    if (!span || !replacement) throw new Error('internal error: a payload to rewrap has no location in the text');
    return { span, text: formatLike(text, span, asJsonLike(node, replacement)) };
  });
  const output = applyEdits(text, edits);
  checkRewrapped(output, result, options.maxDecompressedBytes);
  return { ...result, text: output, jsonLines: located.jsonLines };
}

/** Counts, finds what to rewrap, and re-encrypts it (in a dry run: decrypts it); throws before anything is changed. */
function plan(value: unknown, options: RewrapOptions): { result: RewrapResult; planned: PlannedRewrap[] } {
  const codec = options.encryptionCodec;
  const activeKeyId = codec.activeKeyId;
  const inflater = zlibInflater(options.maxDecompressedBytes);
  const counts = emptyCounts();
  const candidates: Array<{ node: PayloadJsonNode; path: string; keyId: string }> = [];
  walkPayloads(value, (node, path) => {
    // The key id of a binary/encrypted payload, or of the one inside a binary/zlib payload.
    const keyId = tallyPayload(counts, node, inflater);
    if (keyId !== undefined && keyId !== activeKeyId) candidates.push({ node, path, keyId });
  });

  const missing = new Map<string, { count: number; firstPath: string }>();
  for (const { path, keyId } of candidates) {
    if (codec.keyRing.has(keyId)) continue;
    const entry = missing.get(keyId);
    if (entry) entry.count++;
    else missing.set(keyId, { count: 1, firstPath: path });
  }
  if (missing.size > 0) throw new RewrapKeyMissingError(missing);
  if (candidates.length > 0 && !codec.keyRing.has(activeKeyId)) {
    throw new KeyConfigError([`no key for the active key id ${describeKeyId(activeKeyId)}`]);
  }

  const result: RewrapResult = {
    activeKeyId,
    counts,
    rewrapped: 0,
    rewrappedByKeyId: Object.create(null) as Record<string, number>,
    notRewrapped: 0,
    notRewrappedByKeyId: Object.create(null) as Record<string, number>,
    maxDecompressedBytesNeeded: 0,
  };
  const planned: PlannedRewrap[] = [];
  const dryRun = options.dryRun === true;
  for (const { node, path, keyId } of candidates) {
    const payload = payloadFromJson(node, path);
    const rewrapped: Rewrapped = isEncrypted(payload)
      ? { replacement: rewrapEncrypted(payload, codec, dryRun) }
      : rewrapInsideZlib(payload, codec, inflater, dryRun);
    if (rewrapped.left === undefined) {
      planned.push({ node, replacement: rewrapped.replacement });
      result.rewrapped++;
      result.rewrappedByKeyId[keyId] = (result.rewrappedByKeyId[keyId] ?? 0) + 1;
    } else {
      result.notRewrapped++;
      result.notRewrappedByKeyId[keyId] = (result.notRewrappedByKeyId[keyId] ?? 0) + 1;
      result.maxDecompressedBytesNeeded = Math.max(result.maxDecompressedBytesNeeded, rewrapped.inflatedBytes);
    }
  }
  return { result, planned };
}

/** A `binary/encrypted` payload under the active key (in a dry run: decrypted only, undefined). */
function rewrapEncrypted(payload: Payload, codec: EncryptionCodec, dryRun: boolean): Payload | undefined {
  if (dryRun) {
    codec.decryptPayload(payload);
    return undefined;
  }
  return codec.rewrapPayload(payload);
}

/**
 * A `binary/zlib` payload that holds a `binary/encrypted` payload (Go's `zlib(encrypted(x))`), with that payload
 * rewrapped and deflated back: every field of the wrapper but its `data` (a new zlib stream of the serialized payload
 * inside) is kept. The counting found the `binary/encrypted` payload with the same inflater, one layer down, as
 * decode opens it. When the rewrapped payload inside would inflate past the inflater's cap (its key id is longer),
 * it is not to be written: no decode with that cap could open it, this tool's final check included. In a dry run it
 * is rewrapped all the same, to know its size, and dropped.
 */
function rewrapInsideZlib(
  payload: Payload,
  codec: EncryptionCodec,
  inflater: CompressionCodec,
  dryRun: boolean,
): Rewrapped {
  const inner = inflater.inflatePayload(payload);
  if (!isEncrypted(inner)) throw new Error('internal error: a binary/zlib payload to rewrap holds no binary/encrypted one');
  const serialized = serializePayload(codec.rewrapPayload(inner));
  if (serialized.length > inflater.maxDecompressedBytes) return { left: true, inflatedBytes: serialized.length };
  return { replacement: dryRun ? undefined : { ...payload, data: deflateSync(serialized) } };
}

/** The re-encrypted payload as JSON, with the keys in the order of `node`'s. */
function asJsonLike(node: PayloadJsonNode, replacement: Payload): Record<string, unknown> {
  const json = payloadToJson(replacement) as Record<string, unknown>;
  json.metadata = orderedLike(node.metadata, json.metadata as Record<string, unknown>);
  return orderedLike(node, json);
}

function orderedLike(model: Record<string, unknown>, value: Record<string, unknown>): Record<string, unknown> {
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(model)) if (Object.hasOwn(value, key)) ordered[key] = value[key];
  for (const key of Object.keys(value)) if (!Object.hasOwn(ordered, key)) ordered[key] = value[key];
  return ordered;
}

/**
 * A last check before the text goes anywhere: it parses, holds the same payloads of every kind, and every encrypted
 * one is under the active key but those left under their old key (`notRewrapped`). A failure here is a bug in this
 * module, never in the input.
 */
function checkRewrapped(output: string, result: RewrapResult, maxDecompressedBytes: number | undefined): void {
  // Counted as before, inside binary/zlib payloads too: a rewrapped Go payload is binary/zlib around the active key.
  const after = countKeyIds(parseLocatedJson(output, () => false).value, { maxDecompressedBytes });
  const before = result.counts;
  // No prototype, so any key id (`__proto__` too) is a plain entry.
  const expectedByKeyId = Object.assign(Object.create(null) as Record<string, number>, result.notRewrappedByKeyId);
  const active = (before.byKeyId[result.activeKeyId] ?? 0) + result.rewrapped;
  if (active > 0) expectedByKeyId[result.activeKeyId] = active;
  const ok =
    after.total === before.total &&
    after.plain === before.plain &&
    after.compressed === before.compressed &&
    after.uninspected === before.uninspected &&
    sameCounts(after.uninspectedByReason, before.uninspectedByReason) &&
    after.other === before.other &&
    after.encrypted === before.encrypted &&
    sameCounts(after.byKeyId, expectedByKeyId);
  if (!ok) throw new Error('internal error: the rewrapped document does not check out; it was not used');
}

/** Whether two tallies hold the same counts under the same names (a name counted 0 is one left out). */
function sameCounts(a: object, b: object): boolean {
  const entries = (tally: object) =>
    Object.entries(tally as Record<string, number>)
      .filter(([, count]) => count !== 0)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return JSON.stringify(entries(a)) === JSON.stringify(entries(b));
}
