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
   * is and counted as `uninspected`: it may still be under an old key.
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
 * payload that cannot be inflated (past `maxDecompressedBytes`, or not a valid zlib stream) is left as it is and
 * counted in `counts.uninspected`, not thrown for (it may hold no encrypted payload at all): while there is one, the
 * document may still need an old key.
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
  const rewrappedByKeyId = Object.create(null) as Record<string, number>;
  for (const { path, keyId } of candidates) {
    rewrappedByKeyId[keyId] = (rewrappedByKeyId[keyId] ?? 0) + 1;
    if (codec.keyRing.has(keyId)) continue;
    const entry = missing.get(keyId);
    if (entry) entry.count++;
    else missing.set(keyId, { count: 1, firstPath: path });
  }
  if (missing.size > 0) throw new RewrapKeyMissingError(missing);
  if (candidates.length > 0 && !codec.keyRing.has(activeKeyId)) {
    throw new KeyConfigError([`no key for the active key id ${describeKeyId(activeKeyId)}`]);
  }

  const planned = candidates.map(({ node, path }) => {
    const payload = payloadFromJson(node, path);
    const dryRun = options.dryRun === true;
    const replacement = isEncrypted(payload)
      ? rewrapEncrypted(payload, codec, dryRun)
      : rewrapInsideZlib(payload, codec, inflater, dryRun);
    return { node, replacement };
  });
  return { result: { activeKeyId, counts, rewrapped: candidates.length, rewrappedByKeyId }, planned };
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
 * rewrapped ({@link rewrapEncrypted}) and deflated back: every field of the wrapper but its `data` (a new zlib stream
 * of the serialized payload inside) is kept. The counting found the `binary/encrypted` payload with the same
 * inflater, one layer down, as decode opens it.
 */
function rewrapInsideZlib(
  payload: Payload,
  codec: EncryptionCodec,
  inflater: CompressionCodec,
  dryRun: boolean,
): Payload | undefined {
  const inner = inflater.inflatePayload(payload);
  if (!isEncrypted(inner)) throw new Error('internal error: a binary/zlib payload to rewrap holds no binary/encrypted one');
  const rebuilt = rewrapEncrypted(inner, codec, dryRun);
  return rebuilt && { ...payload, data: deflateSync(serializePayload(rebuilt)) };
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
 * one is under the active key. A failure here is a bug in this module, never in the input.
 */
function checkRewrapped(output: string, result: RewrapResult, maxDecompressedBytes: number | undefined): void {
  // Counted as before, inside binary/zlib payloads too: a rewrapped Go payload is binary/zlib around the active key.
  const after = countKeyIds(parseLocatedJson(output, () => false).value, { maxDecompressedBytes });
  const before = result.counts;
  const ok =
    after.total === before.total &&
    after.plain === before.plain &&
    after.compressed === before.compressed &&
    after.uninspected === before.uninspected &&
    after.other === before.other &&
    after.encrypted === before.encrypted &&
    Object.keys(after.byKeyId).every((keyId) => keyId === result.activeKeyId);
  if (!ok) throw new Error('internal error: the rewrapped document does not check out; it was not used');
}
