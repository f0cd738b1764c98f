/**
 * Request bodies for the server benchmarks, made with the library itself so that they are exactly what workers
 * write: JSON documents of orders as `json/plain` payloads, compressed (binary/zlib, from 1 KiB serialized) and then
 * encrypted (binary/encrypted) with the key the servers are given.
 */
import type { Payload } from '@temporalio/common';
import { CompressionCodec, createPayloadCodecs, EncryptionCodec, KeyRing, parsePayloadsJson, toPayloadsJson } from '../../src/index.js';
import { makePayload, ordersJson, seededRandom } from '../lib/payloads.js';

export const KEY_ID = 'default';

export interface Codecs {
  compression: CompressionCodec;
  encryption: EncryptionCodec;
}

/** The library's codecs for `key` under key id `default`, as `temporal-codec serve` builds them. */
export function benchCodecs(key: Uint8Array): Codecs {
  const [compression, encryption] = createPayloadCodecs({ keyRing: KeyRing.fromKeys({ [KEY_ID]: key }, KEY_ID), encryptionKeyID: KEY_ID });
  if (!(compression instanceof CompressionCodec) || !(encryption instanceof EncryptionCodec)) {
    throw new Error('createPayloadCodecs no longer returns [CompressionCodec, EncryptionCodec]');
  }
  return { compression, encryption };
}

/** What a worker writes for one payload: compress (threshold), then encrypt. */
export function encodePayload(codecs: Codecs, payload: Payload): Payload {
  return codecs.encryption.encryptPayload(codecs.compression.compressPayload(payload));
}

export interface BenchBody {
  /** Bytes of payload `data` before encoding (the size the tables are labelled with). */
  payloadSize: number;
  operation: 'decode' | 'encode';
  /** The request body. */
  body: string;
  /** The plain payloads the body stands for (decode: what a correct answer holds). */
  plain: Payload[];
}

/** `{"payloads":[one encoded JSON payload of `size` bytes]}` for /decode. */
export function decodeBody(codecs: Codecs, size: number, seed = 7): BenchBody {
  const plain = makePayload(ordersJson(size, seed), 'json/plain');
  return { payloadSize: size, operation: 'decode', body: JSON.stringify(toPayloadsJson([encodePayload(codecs, plain)])), plain: [plain] };
}

/** `{"payloads":[one plain JSON payload of `size` bytes]}` for /encode, as the Web UI sends when starting a workflow. */
export function encodeBody(size: number, seed = 7): BenchBody {
  const plain = makePayload(ordersJson(size, seed), 'json/plain');
  return { payloadSize: size, operation: 'encode', body: JSON.stringify(toPayloadsJson([plain])), plain: [plain] };
}

const utf8 = new TextDecoder();

function sameBytes(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  return Buffer.compare(Buffer.from(a ?? []), Buffer.from(b ?? [])) === 0;
}

function samePayload(a: Payload, b: Payload): boolean {
  const keys = new Set([...Object.keys(a.metadata ?? {}), ...Object.keys(b.metadata ?? {})]);
  for (const key of keys) if (!sameBytes(a.metadata?.[key], b.metadata?.[key])) return false;
  return sameBytes(a.data, b.data);
}

/**
 * Why a server's answer to `body` is wrong, or undefined. Decode: the plain payloads, byte for byte. Encode: as many
 * payloads, each binary/encrypted, and they decode back (with our library) to the plain ones.
 */
export function checkAnswer(codecs: Codecs, body: BenchBody, status: number, text: string): string | undefined {
  if (status !== 200) return `status ${status}: ${text.slice(0, 200)}`;
  let payloads: Payload[];
  try {
    payloads = parsePayloadsJson(JSON.parse(text));
  } catch (error) {
    return `the answer is not {"payloads": [...]}: ${(error as Error).message}`;
  }
  if (payloads.length !== body.plain.length) return `${payloads.length} payloads for ${body.plain.length}`;
  for (let i = 0; i < payloads.length; i++) {
    let got = payloads[i]!;
    if (body.operation === 'encode') {
      const encoding = utf8.decode(got.metadata?.encoding ?? new Uint8Array());
      if (encoding !== 'binary/encrypted') return `payloads[${i}] is ${encoding}, not binary/encrypted`;
      got = codecs.compression.decompressPayload(codecs.encryption.decryptPayload(got));
    }
    if (!samePayload(got, body.plain[i]!)) return `payloads[${i}] differs from what was encoded`;
  }
  return undefined;
}

/** One request of the Web UI: the payloads of one field of one history event. */
export interface UiGroup {
  body: string;
  plain: Payload[];
  kinds: string[];
}

/**
 * `count` decode requests shaped like what the Temporal Web UI sends while it renders a recorded history: one
 * request per payload field of every event (inputs, results, headers, memo, failure details), 1 payload most often,
 * 2 or 3 sometimes; mostly small JSON, some of it large enough to have been compressed, a few big results, and some
 * payloads that were never encoded (search attributes, unencrypted memo) and must come back unchanged. Seeded.
 */
export function uiHistory(codecs: Codecs, count: number, seed = 2024): UiGroup[] {
  const random = seededRandom(seed);
  const groups: UiGroup[] = [];
  const between = (min: number, max: number) => Math.floor(min + random() * (max - min));
  for (let g = 0; g < count; g++) {
    const roll = random();
    const size = roll < 0.7 ? 1 : roll < 0.9 ? 2 : 3;
    const plain: Payload[] = [];
    const encoded: Payload[] = [];
    const kinds: string[] = [];
    for (let p = 0; p < size; p++) {
      const kind = random();
      let payload: Payload;
      let encode = true;
      let label: string;
      if (kind < 0.55) {
        // Activity inputs and results, workflow arguments: a small JSON object (encrypted, below the threshold).
        payload = makePayload(ordersJson(between(80, 1000), g * 7 + p), 'json/plain');
        label = 'small';
      } else if (kind < 0.8) {
        // A few orders: over 1 KiB, so compressed, then encrypted.
        payload = makePayload(ordersJson(between(1024, 16 * 1024), g * 7 + p), 'json/plain');
        label = 'medium';
      } else if (kind < 0.83) {
        // A big result (a report, a page of records).
        payload = makePayload(ordersJson(between(16 * 1024, 128 * 1024), g * 7 + p), 'json/plain');
        label = 'large';
      } else if (kind < 0.95) {
        // Search attributes and unencrypted memo fields: never went through the codec.
        payload = makePayload(new TextEncoder().encode(JSON.stringify({ CustomerId: `cust-${g}`, Region: 'eu-west-1' })), 'json/plain');
        encode = false;
        label = 'plain';
      } else {
        // A void result: binary/null with no data, encrypted all the same.
        payload = { metadata: { encoding: new TextEncoder().encode('binary/null') } };
        label = 'null';
      }
      plain.push(payload);
      encoded.push(encode ? encodePayload(codecs, payload) : payload);
      kinds.push(label);
    }
    groups.push({ body: JSON.stringify(toPayloadsJson(encoded)), plain, kinds });
  }
  return groups;
}
