import type { Payload } from '@temporalio/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serializePayload, serializePayloadParts } from '../../src/codecs/payload-proto.js';

const payloadArbitrary: fc.Arbitrary<Payload> = fc.record({
  metadata: fc.dictionary(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 40 }), { maxKeys: 4 }),
  data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1000, maxLength: 5000 })),
});

describe('serializePayloadParts', () => {
  it('gives parts that concatenate to exactly the bytes of serializePayload', () => {
    fc.assert(
      fc.property(payloadArbitrary, (payload) => {
        const parts = serializePayloadParts(payload);
        expect(Buffer.concat(parts)).toEqual(Buffer.from(serializePayload(payload)));
      }),
      { numRuns: 2000 },
    );
  });

  it('hands the payload data to the cipher without copying it when it is large', () => {
    const data = new Uint8Array(4096).fill(7);
    const parts = serializePayloadParts({ metadata: { encoding: new TextEncoder().encode('binary/plain') }, data });
    expect(parts).toHaveLength(2);
    expect(parts[1]).toBe(data);
  });

  it('serializes a payload with external payload details whole, so field order is kept', () => {
    const payload = {
      metadata: {},
      data: new Uint8Array(4096),
      externalPayloads: [{ sizeBytes: 12 }],
    } as unknown as Payload;
    const parts = serializePayloadParts(payload);
    expect(parts).toHaveLength(1);
    expect(Buffer.from(parts[0]!)).toEqual(Buffer.from(serializePayload(payload)));
  });
});
