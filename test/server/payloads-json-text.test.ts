import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePayloadsJson, toPayloadsJson } from '../../src/index.js';
import { payloadsJsonText } from '../../src/server/codec-route.js';

describe('payloadsJsonText (the answer body of /encode and /decode)', () => {
  it('is exactly JSON.stringify(toPayloadsJson(...)) for payloads the codecs made', () => {
    const payload = fc.record(
      {
        // Any metadata name, quotes, backslashes, control characters and "__proto__" included.
        metadata: fc.dictionary(fc.oneof(fc.string(), fc.constant('__proto__'), fc.constant('a"b\\c\n')), fc.uint8Array({ maxLength: 40 }), {
          maxKeys: 4,
        }),
        data: fc.uint8Array({ maxLength: 300 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 5 }), (payloads) => {
        expect(payloadsJsonText(payloads)).toBe(JSON.stringify(toPayloadsJson(payloads)));
      }),
      { numRuns: 500 },
    );
  });

  it('is exactly JSON.stringify(toPayloadsJson(...)) for payloads passed through as they were read', () => {
    const base64 = fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes).toString('base64'));
    const payloadJson = fc.record(
      {
        metadata: fc.oneof(fc.constant(null), fc.dictionary(fc.string(), fc.oneof(base64, fc.constant(null)), { maxKeys: 3 })),
        data: fc.oneof(base64, fc.constant(null), base64.map((text) => text.replace(/\+/g, '-').replace(/\//g, '_'))),
        externalPayloads: fc.array(fc.record({ sizeBytes: fc.oneof(fc.nat().map(String), fc.nat()) }), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(payloadJson, { maxLength: 4 }), (documentPayloads) => {
        const payloads = parsePayloadsJson(JSON.stringify({ payloads: documentPayloads }));
        const text = payloadsJsonText(payloads);
        expect(text).toBe(JSON.stringify(toPayloadsJson(payloads)));
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify({ payloads: documentPayloads })));
      }),
      { numRuns: 500 },
    );
  });

  it('is exactly JSON.stringify(toPayloadsJson(...)) and the input for payloads read with unknown members carried', () => {
    const base64 = fc.uint8Array({ maxLength: 30 }).map((bytes) => Buffer.from(bytes).toString('base64'));
    const carried = fc.jsonValue({ maxDepth: 4 });
    // Any member name but the three modelled ones: quotes, control characters and "__proto__" included.
    const name = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'a"b\\c\n', 'sizeBytes2')).filter(
      (key) => !['metadata', 'data', 'externalPayloads'].includes(key),
    );
    const payloadJson = fc
      .tuple(
        fc.record(
          {
            metadata: fc.dictionary(fc.string(), base64, { maxKeys: 2 }),
            data: base64,
            externalPayloads: fc.array(
              fc.tuple(fc.record({ sizeBytes: fc.nat().map(String) }), fc.dictionary(name.filter((key) => key !== 'sizeBytes'), carried, { maxKeys: 2 })),
              { maxLength: 2 },
            ),
          },
          { requiredKeys: [] },
        ),
        fc.dictionary(name, carried, { maxKeys: 3 }),
      )
      .map(([known, unknown]) => ({
        ...known,
        ...(known.externalPayloads ? { externalPayloads: known.externalPayloads.map(([size, extra]) => ({ ...size, ...extra })) } : {}),
        ...unknown,
      }));
    fc.assert(
      fc.property(fc.array(payloadJson, { maxLength: 4 }), (documentPayloads) => {
        const input = JSON.stringify({ payloads: documentPayloads });
        const payloads = parsePayloadsJson(input, { unknownFields: 'carry' });
        const text = payloadsJsonText(payloads);
        expect(text).toBe(JSON.stringify(toPayloadsJson(payloads)));
        expect(text).toBe(input);
      }),
      { numRuns: 500 },
    );
  });
});
