import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import protoModule from '@temporalio/proto';
import { CompressionCodec } from '../../src/codecs/compression-codec.js';
import { type PayloadJson, payloadToJson } from '../../src/payload-json.js';
import { countKeyIds, isPayloadJson, isPayloadProto, walkPayloads, walkProtoPayloads } from '../../src/rotation/index.js';
import { emptyCounts, type PayloadCounts, tallyProtoPayload, zlibInflater } from '../../src/rotation/walk-payloads.js';
import { goEncrypted, goZlib } from '../helpers/go-payloads.js';
import { rawPayload } from '../helpers/payloads.js';
import {
  b64,
  compressedPlain,
  encrypted,
  foreign,
  goCompressed,
  KEYS,
  NONE_UNINSPECTED,
  plain,
  plainPayload,
  REALISTIC_HISTORY_PATHS,
  realisticHistory,
} from './fixtures.js';

const { Payload } = protoModule.temporal.api.common.v1;

function paths(document: unknown): string[] {
  const found: string[] = [];
  walkPayloads(document, (_payload, path) => found.push(path));
  return found;
}

/** Follows a path as walkPayloads writes it (`a.b[0]["x-y"]`); throws on any other syntax. */
function resolve(document: unknown, path: string): unknown {
  const token = /^(?:\.?([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;
  let node = document as Record<string, unknown>;
  for (let rest = path; rest !== ''; ) {
    const match = token.exec(rest);
    if (!match) throw new Error(`unexpected path syntax at ${JSON.stringify(rest)}`);
    const key = match[1] ?? match[2] ?? (JSON.parse(match[3]!) as string);
    node = node[key] as Record<string, unknown>;
    rest = rest.slice(match[0].length);
  }
  return node;
}

/** The counts of payloads given in JSON, tallied in protobuf message form, as a scan reads them. */
function protoCounts(payloads: readonly PayloadJson[], inflater?: CompressionCodec): PayloadCounts {
  const counts = emptyCounts();
  for (const json of payloads) {
    const message = Payload.decode(Payload.encode(Payload.fromObject(json)).finish());
    tallyProtoPayload(counts, message as unknown as Parameters<typeof tallyProtoPayload>[1], inflater);
  }
  return counts;
}

describe('walkPayloads', () => {
  it('finds every payload of a history, wherever it sits, in document order with its path', () => {
    const history = realisticHistory();
    const visited: unknown[] = [];
    const count = walkPayloads(history, (payload, path) => {
      expect(resolve(history, path)).toBe(payload);
      visited.push(payload);
    });
    expect(paths(history)).toEqual(REALISTIC_HISTORY_PATHS);
    expect(count).toBe(REALISTIC_HISTORY_PATHS.length);
    expect(new Set(visited).size).toBe(visited.length);
  });

  it('finds the same payloads in the history read back from its JSON text', () => {
    expect(paths(JSON.parse(JSON.stringify(realisticHistory(), null, 2)))).toEqual(REALISTIC_HISTORY_PATHS);
  });

  it('walks a {"payloads": [...]} document', () => {
    const document = { payloads: [plain(1), encrypted('old', 'x'), foreign()] };
    expect(paths(document)).toEqual(['payloads[0]', 'payloads[1]', 'payloads[2]']);
  });

  it('finds payloads in any nesting, and a payload that is the document itself', () => {
    const document = [[{ deep: { list: [null, 3, plain('a')] } }], { 'with space': plain('b'), $ok: plain('c') }];
    expect(paths(document)).toEqual(['[0][0].deep.list[2]', '[1]["with space"]', '[1].$ok']);
    expect(paths(plain('x'))).toEqual(['']);
    expect(walkPayloads('text', () => expect.fail('visited a string'))).toBe(0);
    expect(walkPayloads(null, () => expect.fail('visited null'))).toBe(0);
  });

  it('does not look inside a payload', () => {
    const outer = { ...plain('outer'), extra: { nested: plain('inner') } };
    expect(paths({ outer })).toEqual(['outer']);
  });

  it('skips objects that only resemble a payload', () => {
    const lookalikes = [
      { metadata: {}, data: b64('x') },
      { metadata: { encoding: 5 }, data: b64('x') },
      { metadata: [b64('json/plain')], data: b64('x') },
      { metadata: null, data: b64('x') },
      { encoding: b64('json/plain'), data: b64('x') },
    ];
    expect(paths({ lookalikes })).toEqual([]);
    for (const lookalike of lookalikes) expect(isPayloadJson(lookalike)).toBe(false);
    expect(isPayloadJson({ metadata: { encoding: '' } })).toBe(true);
  });

  it('visits an object reachable twice once, and ends on a cycle', () => {
    const shared = plain('shared');
    const document: Record<string, unknown> = { a: shared, b: [shared] };
    document.self = document;
    expect(paths(document)).toEqual(['a']);
  });

  it('walks a document nested far deeper than the call stack allows', () => {
    let document: unknown = plain('bottom');
    for (let i = 0; i < 200_000; i++) document = { c: document };
    expect(walkPayloads(document, () => {})).toBe(1);
  });

  it('finds exactly the payloads placed anywhere in random JSON, each at a path that leads to it', () => {
    const marker = '\u0000payload';
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.jsonValue({ maxDepth: 1 }),
        fc.constant(marker),
        fc.array(tie('tree'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('tree'), { maxKeys: 4 }),
      ),
    }));
    fc.assert(
      fc.property(tree, (shape) => {
        const placed: unknown[] = [];
        const build = (node: unknown): unknown => {
          if (node === marker) {
            const payload = plain(placed.length);
            placed.push(payload);
            return payload;
          }
          if (Array.isArray(node)) return node.map(build);
          if (typeof node === 'object' && node !== null) {
            const copy: Record<string, unknown> = {};
            for (const [key, value] of Object.entries(node)) {
              Object.defineProperty(copy, key, { value: build(value), enumerable: true, writable: true, configurable: true });
            }
            return copy;
          }
          return node;
        };
        const document = build(shape);
        const found: unknown[] = [];
        walkPayloads(document, (payload, path) => {
          expect(resolve(document, path)).toBe(payload);
          found.push(payload);
        });
        expect(found).toEqual(placed);
      }),
      { numRuns: 300 },
    );
  });
});

describe('countKeyIds', () => {
  it('counts the payloads of a history by kind and the encrypted ones by key id', () => {
    expect(countKeyIds(realisticHistory())).toEqual({
      total: 36,
      encrypted: 30,
      byKeyId: { old: 28, new: 2 },
      compressed: 0,
      ...NONE_UNINSPECTED,
      plain: 5,
      other: 1,
    });
  });

  it('counts compressed but unencrypted payloads apart from encrypted ones', () => {
    const zlib = payloadToJson(new CompressionCodec({ compressionThreshold: 0 }).compressPayload(plainPayload('z'.repeat(500))));
    expect(countKeyIds({ payloads: [zlib, encrypted('old', 'z'.repeat(500), { compress: true }), plain(null)] })).toEqual({
      total: 3,
      encrypted: 1,
      byKeyId: { old: 1 },
      compressed: 1,
      ...NONE_UNINSPECTED,
      plain: 1,
      other: 0,
    });
  });

  it("counts a Go worker's binary/zlib payload around binary/encrypted as encrypted under the key id inside it", () => {
    const document = { payloads: [goCompressed('old', { go: 1 }), goCompressed('new', 2), compressedPlain('z'.repeat(500))] };
    const counts = { total: 3, encrypted: 2, byKeyId: { old: 1, new: 1 }, compressed: 1, ...NONE_UNINSPECTED, plain: 0, other: 0 };
    expect(countKeyIds(document)).toEqual(counts);
    // The same in protobuf message form, as a scan reads it.
    expect(protoCounts(document.payloads)).toEqual(counts);
  });

  // Bug: such payloads counted as compressed, as if they held no encrypted payload.
  it('counts a binary/zlib payload it cannot open as uninspected, by reason, in JSON and in protobuf form alike', () => {
    const go = goCompressed('old', 'x'.repeat(400));
    const truncated = { ...go, data: Buffer.from(go.data!, 'base64').subarray(0, 20).toString('base64') };
    const empty = { metadata: go.metadata };
    const document = { payloads: [go, truncated, empty, compressedPlain('z'.repeat(500))] };
    const counts = {
      total: 4,
      encrypted: 0,
      byKeyId: {},
      compressed: 0,
      uninspected: 4,
      uninspectedByReason: { tooLarge: 2, notZlib: 2, nested: 0 },
      plain: 0,
      other: 0,
    };
    // With a cap below what they inflate to, the Go payload and the compressed plain one are not opened.
    expect(countKeyIds(document, { maxDecompressedBytes: 100 })).toEqual(counts);
    expect(protoCounts(document.payloads, zlibInflater(100))).toEqual(counts);
    expect(countKeyIds(document)).toMatchObject({
      encrypted: 1,
      byKeyId: { old: 1 },
      compressed: 1,
      uninspected: 2,
      uninspectedByReason: { tooLarge: 0, notZlib: 2 },
    });
  });

  // Bug: zlib(zlib(encrypted(old))) counted as compressed, as if it held no encrypted payload, so a scan called itself
  // complete and `old` safe to retire while that payload needs it.
  it('counts a binary/zlib payload holding another as uninspected (nested): one layer is opened, as decode opens it', () => {
    const deep = payloadToJson(goZlib(goZlib(goEncrypted(plainPayload({ order: 1 }), KEYS.old, 'old'))));
    const zlibOfZlib = payloadToJson(goZlib(goZlib(plainPayload('z'))));
    // Any other payload inside is what it would be outside zlib: a standard converter's or another codec's, which no
    // count opens either.
    const zlibOfForeign = payloadToJson(goZlib(rawPayload('binary/snappy', '\u0000opaque')));
    const document = { payloads: [deep, zlibOfZlib, goCompressed('old', 1), compressedPlain('z'.repeat(500)), zlibOfForeign] };
    const counts = {
      total: 5,
      encrypted: 1,
      byKeyId: { old: 1 },
      compressed: 2,
      uninspected: 2,
      uninspectedByReason: { tooLarge: 0, notZlib: 0, nested: 2 },
      plain: 0,
      other: 0,
    };
    expect(countKeyIds(document)).toEqual(counts);
    expect(protoCounts(document.payloads)).toEqual(counts);
  });

  it('keeps any key id as a plain entry, including one named __proto__ and a missing one', () => {
    const withKeyId = (keyId: string | undefined) => ({
      metadata: { encoding: b64('binary/encrypted'), ...(keyId === undefined ? {} : { 'encryption-key-id': b64(keyId) }) },
      data: b64('x'.repeat(40)),
    });
    const counts = countKeyIds([withKeyId('__proto__'), withKeyId('__proto__'), withKeyId(undefined), withKeyId('constructor')]);
    expect(Object.keys(counts.byKeyId)).toEqual(['__proto__', '', 'constructor']);
    expect(counts.byKeyId['__proto__']).toBe(2);
    expect(counts.byKeyId['']).toBe(1);
    expect(counts.byKeyId['constructor']).toBe(1);
  });

  it('counts nothing in a document without payloads', () => {
    expect(countKeyIds({ events: [] })).toEqual({ total: 0, encrypted: 0, byKeyId: {}, compressed: 0, ...NONE_UNINSPECTED, plain: 0, other: 0 });
  });
});

describe('walkProtoPayloads', () => {
  const { History } = protoModule.temporal.api.history.v1;

  /**
   * The fixture history as the gRPC client hands it over: protobuf message objects, bytes as Buffers. protobufjs's
   * fromObject reads base64 bytes and enum names but not the JSON forms of Timestamp and Duration, which hold no
   * payload: those are left out.
   */
  function protoHistory(): ReturnType<typeof History.decode> {
    const withoutTimes = JSON.parse(JSON.stringify(realisticHistory()), (_key, value: unknown) =>
      typeof value === 'string' && /^(\d{4}-\d\d-\d\dT.*Z|\d+(\.\d+)?s)$/.test(value) ? undefined : value,
    ) as Record<string, unknown>;
    return History.decode(History.encode(History.fromObject(withoutTimes)).finish());
  }

  it('finds in a raw history exactly the payloads the JSON walk finds in its proto3 JSON, with the same counts', () => {
    const history = protoHistory();
    const fromJson = countKeyIds(history.toJSON());
    const counts = emptyCounts();
    const visited = walkProtoPayloads(history, (payload) => tallyProtoPayload(counts, payload));
    expect(visited).toBe(fromJson.total);
    expect(counts).toEqual(fromJson);
    // Every payload of the fixture the proto schema knows about: a history carries them in no other place.
    expect(fromJson).toEqual({ total: 36, encrypted: 30, byKeyId: { old: 28, new: 2 }, compressed: 0, ...NONE_UNINSPECTED, plain: 5, other: 1 });
  });

  it('tells a payload message by bytes in metadata.encoding, and never walks into bytes', () => {
    expect(isPayloadProto({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('1') })).toBe(true);
    expect(isPayloadProto({ metadata: { encoding: 'json/plain' } })).toBe(false);
    expect(isPayloadProto({ metadata: {} })).toBe(false);
    expect(isPayloadProto(Buffer.from('x'))).toBe(false);
    const huge = { data: new Uint8Array(50_000_000), nested: [{ metadata: { encoding: new Uint8Array([0x78]) } }] };
    const started = process.hrtime.bigint();
    expect(walkProtoPayloads(huge, () => {})).toBe(1);
    // Walking 50 million indices would take seconds; skipping the bytes takes nothing.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(1000);
  });
});
