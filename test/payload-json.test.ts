import { randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPayloadCodecs } from '../src/codecs/data-converter.js';
import { EncryptionCodec } from '../src/codecs/encryption-codec.js';
import { PayloadJsonError } from '../src/errors.js';
import { KeyRing } from '../src/keys/key-ring.js';
import { parsePayloadsJson, payloadFromJson, payloadToJson, toPayloadsJson } from '../src/payload-json.js';
import { caughtSync, expectCodecError } from './helpers/errors.js';
import { testKey } from './helpers/keys.js';
import { hex, metadataText, rawPayload, sdkDecode, sdkEncode, view } from './helpers/payloads.js';

const b64 = (text: string): string => Buffer.from(text).toString('base64');

function jsonError(document: unknown, options?: { maxPayloads?: number }): PayloadJsonError {
  const error = caughtSync(() => parsePayloadsJson(document, options));
  return expectCodecError(error, PayloadJsonError, 'ERR_INVALID_PAYLOAD_JSON');
}

describe('parsePayloadsJson and toPayloadsJson', () => {
  it('reads metadata values and data from base64, from JSON text or a parsed object', () => {
    const document = { payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('{"a":1}') }] };
    for (const input of [document, JSON.stringify(document)]) {
      const [payload, ...rest] = parsePayloadsJson(input);
      expect(rest).toEqual([]);
      expect(metadataText(payload!, 'encoding')).toBe('json/plain');
      expect(Buffer.from(payload!.data!).toString()).toBe('{"a":1}');
    }
  });

  it('writes payloads as standard padded base64 and reads them back equal', () => {
    const payloads: Payload[] = [
      rawPayload('json/plain', '{"a":"é"}', { messageType: 'X' }),
      rawPayload('binary/plain', new Uint8Array([0xfb, 0xff, 0x00])),
      { metadata: { encoding: Buffer.from('binary/null') } },
    ];
    const document = toPayloadsJson(payloads);
    expect(document.payloads[1]).toEqual({ metadata: { encoding: b64('binary/plain') }, data: '+/8A' });
    expect(document.payloads[2]).toEqual({ metadata: { encoding: b64('binary/null') } });
    expect(parsePayloadsJson(JSON.stringify(document)).map(view)).toEqual(payloads.map(view));
  });

  it('reads an absent or null data field as empty data, and writes empty data as no field', () => {
    const [absent, nullData] = parsePayloadsJson({ payloads: [{ metadata: { encoding: b64('binary/null') } }, { data: null }] });
    expect(absent!.data).toEqual(new Uint8Array(0));
    expect(nullData!.data).toEqual(new Uint8Array(0));
    expect(payloadToJson({ metadata: {}, data: new Uint8Array(0) })).toEqual({ metadata: {} });
  });

  it('reads an empty list of payloads', () => {
    expect(parsePayloadsJson('{"payloads":[]}')).toEqual([]);
  });

  it('accepts URL-safe and unpadded base64, as proto3 JSON allows', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0x3e]);
    const [standard, urlSafe, unpadded] = parsePayloadsJson({
      payloads: [{ data: bytes.toString('base64') }, { data: bytes.toString('base64url') + '==' }, { data: bytes.toString('base64url') }],
    });
    for (const payload of [standard, urlSafe, unpadded]) expect(hex(payload!.data!)).toBe(bytes.toString('hex'));
    expect(bytes.toString('base64url')).toBe('-_-_Pg');
  });

  it('round-trips any payload through its JSON text', () => {
    const payloadArbitrary = fc.record({
      metadata: fc.dictionary(fc.stringMatching(/^[a-z][a-z-]{0,11}$/), fc.uint8Array({ maxLength: 40 }), { maxKeys: 4 }),
      data: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(fc.array(payloadArbitrary, { maxLength: 5 }), (payloads) => {
        const back = parsePayloadsJson(JSON.stringify(toPayloadsJson(payloads)));
        expect(back.map(view)).toEqual(payloads.map(view));
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});

describe('payloads the codecs pass through', () => {
  const keyRing = KeyRing.fromKeys({ default: testKey('default') }, 'default');
  const codecs = createPayloadCodecs({ keyRing });

  it('writes a pass-through payload back as exactly its input JSON, external payloads and spelling included', async () => {
    const input = JSON.stringify({
      payloads: [
        { metadata: { encoding: b64('json/plain') }, data: 'eyJhIjoxfQ', externalPayloads: [{ sizeBytes: '12' }] },
        { metadata: { encoding: b64('binary/null'), extra: null }, data: null },
        { data: '-_-_Pg' },
      ],
    });
    const decoded = await sdkDecode(codecs, parsePayloadsJson(input));
    expect(JSON.stringify(toPayloadsJson(decoded))).toBe(input);
  });

  it('reads external payloads (field 3) and writes them in proto3 JSON form when a codec made the payload', async () => {
    const [payload] = parsePayloadsJson({
      payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('1'), externalPayloads: [{ sizeBytes: 12 }, {}] }],
    });
    expect(view(payload!).externalPayloads).toEqual(['12', '0']);
    const [decoded] = await sdkDecode(codecs, await sdkEncode(codecs, [payload!]));
    expect(decoded).not.toBe(payload);
    expect(payloadToJson(decoded!)).toEqual({
      metadata: { encoding: b64('json/plain') },
      data: b64('1'),
      externalPayloads: [{ sizeBytes: '12' }, {}], // proto3 JSON leaves out a field at its default (0)
    });
  });

  it('writes a payload a codec made in canonical form, not the JSON of the payload it came from', async () => {
    const [source] = parsePayloadsJson({ payloads: [{ metadata: { encoding: b64('json/plain') }, data: 'eyJhIjoxfQ' }] });
    const [encrypted] = await sdkEncode(codecs, [source!]);
    const json = payloadToJson(encrypted!);
    expect(Object.keys(json.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    expect(json.metadata!.encoding).toBe(b64('binary/encrypted'));
    expect(json.data).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const [decoded] = await sdkDecode(codecs, parsePayloadsJson(JSON.stringify({ payloads: [json] })));
    expect(payloadToJson(decoded!)).toEqual({ metadata: { encoding: b64('json/plain') }, data: b64('{"a":1}') });
  });
});

describe('payload JSON errors', () => {
  it.each<[string, unknown, string]>([
    ['text that is not JSON', '{"payloads": [', 'the body is not valid JSON'],
    ['a document without payloads', { items: [] }, 'expected an object of the form {"payloads": [...]}'],
    ['payloads that are not a list', { payloads: { 0: {} } }, 'expected an object of the form {"payloads": [...]}'],
    ['a list at the top', [{ data: '' }], 'expected an object of the form {"payloads": [...]}'],
    ['null', null, 'expected an object of the form {"payloads": [...]}'],
    ['a payload that is not an object', { payloads: [{}, 'AAAA'] }, 'payloads[1]: expected an object'],
    ['a payload that is a list', { payloads: [[]] }, 'payloads[0]: expected an object'],
    ['metadata that is not an object', { payloads: [{ metadata: ['AAAA'] }] }, 'payloads[0].metadata: expected an object'],
    ['an unknown field', { payloads: [{ data: '', size: 3 }] }, 'payloads[0].size: unknown field'],
    [
      'an unknown field of an external payload',
      { payloads: [{ externalPayloads: [{ sizeBytes: '1', kind: 'blob' }] }] },
      'payloads[0].externalPayloads[0].kind: unknown field',
    ],
    ['data that is not a string', { payloads: [{ data: 12345 }] }, 'payloads[0].data: expected a base64 string'],
    ['data that is not base64', { payloads: [{ data: 'SECRET VALUE!' }] }, 'payloads[0].data: not valid base64'],
    ['data of impossible length', { payloads: [{ data: 'QUJDR' }] }, 'payloads[0].data: not valid base64'],
    ['data with too much padding', { payloads: [{ data: 'QQ===' }] }, 'payloads[0].data: not valid base64'],
    ['padding after a single character', { payloads: [{ data: 'A=' }] }, 'payloads[0].data: not valid base64'],
    ['nothing but padding', { payloads: [{ data: '==' }] }, 'payloads[0].data: not valid base64'],
    ['padding on a length that is not a multiple of 4', { payloads: [{ data: 'QQ=' }] }, 'payloads[0].data: not valid base64'],
    ['padding after 4n+1 characters', { payloads: [{ data: 'QUJDR===' }] }, 'payloads[0].data: not valid base64'],
    ['a single = after 4n+2 characters', { payloads: [{ data: 'QUJDRE==' }, { data: 'QUJDRE=' }] }, 'payloads[1].data: not valid base64'],
    ['a padded metadata value of impossible length', { payloads: [{ metadata: { encoding: 'QUJDREVGR=' } }] }, 'payloads[0].metadata.encoding: not valid base64'],
    ['padding in the middle', { payloads: [{ data: 'QQ==QUJD' }] }, 'payloads[0].data: not valid base64'],
    [
      'a metadata value that is not base64',
      { payloads: [{}, {}, { metadata: { encoding: 'binary plain' } }] },
      'payloads[2].metadata.encoding: not valid base64',
    ],
    ['a metadata value that is a number', { payloads: [{ metadata: { encoding: 7 } }] }, 'payloads[0].metadata.encoding: expected a base64 string'],
    ['externalPayloads that are not a list', { payloads: [{ externalPayloads: {} }] }, 'payloads[0].externalPayloads: expected an array'],
    [
      'an external payload that is not an object',
      { payloads: [{ externalPayloads: ['12'] }] },
      'payloads[0].externalPayloads[0]: expected an object with sizeBytes',
    ],
    [
      'a negative external payload size',
      { payloads: [{ externalPayloads: [{ sizeBytes: '-1' }] }] },
      'payloads[0].externalPayloads[0].sizeBytes: expected a non-negative integer',
    ],
    [
      'an external payload size of 2^63 (one past the largest int64)',
      { payloads: [{ externalPayloads: [{ sizeBytes: '9223372036854775808' }] }] },
      'payloads[0].externalPayloads[0].sizeBytes: out of range; an int64 is at most 9223372036854775807',
    ],
    [
      'an external payload size of 2^64 - 1',
      { payloads: [{}, { externalPayloads: [{}, { sizeBytes: '18446744073709551615' }] }] },
      'payloads[1].externalPayloads[1].sizeBytes: out of range; an int64 is at most 9223372036854775807',
    ],
    [
      'an external payload size of 20 digits',
      { payloads: [{ externalPayloads: [{ sizeBytes: '10000000000000000000' }] }] },
      'payloads[0].externalPayloads[0].sizeBytes: out of range; an int64 is at most 9223372036854775807',
    ],
    [
      'an external payload size given as a JSON number past int64',
      { payloads: [{ externalPayloads: [{ sizeBytes: 2 ** 63 }] }] },
      'payloads[0].externalPayloads[0].sizeBytes: out of range; an int64 is at most 9223372036854775807',
    ],
  ])('refuses %s, naming the field', (_name, document, message) => {
    const error = jsonError(document);
    expect(error.message).toBe(message);
    expect(error.path).toBe(/^(payloads\S*): /.exec(message)?.[1] ?? '');
  });

  it('refuses more payloads than maxPayloads before reading any of them', () => {
    const error = jsonError({ payloads: [{}, {}, 'not even a payload'] }, { maxPayloads: 2 });
    expect(error.path).toBe('payloads');
    expect(error.message).toBe('payloads: 3 payloads; at most 2 are allowed');
    expect(parsePayloadsJson({ payloads: [{}, {}] }, { maxPayloads: 2 })).toHaveLength(2);
  });

  it('never puts the offending value in the message', () => {
    const secret = 'c2VjcmV0LXBheWxvYWQtY29udGVudHM!';
    for (const document of [
      { payloads: [{ data: secret }] },
      { payloads: [{ metadata: { encoding: secret } }] },
      { payloads: [{ externalPayloads: [{ sizeBytes: secret }] }] },
      `{"payloads": [{"data": "${secret}"`,
    ]) {
      expect(jsonError(document).message).not.toContain(secret.slice(0, 8));
    }
  });

  it('names payloads by index in a single payload read with payloadFromJson', () => {
    expectCodecError(caughtSync(() => payloadFromJson(3)), PayloadJsonError, 'ERR_INVALID_PAYLOAD_JSON', 'payload: expected an object');
  });

  // Bug (hardening): field names and metadata keys come from the request body, like key ids, but go into the path
  // raw: a name with a line break or an ANSI escape forges log lines, and a 100 kB name makes a 100 kB message.
  // describeKeyId already quotes and cuts key ids for this reason.
  it('quotes and cuts field names and metadata keys it cannot show plainly', () => {
    const hostile = `x\nlevel=error msg="forged"\u001b[2J${'y'.repeat(10_000)}`;
    for (const document of [{ payloads: [{ [hostile]: 1 }] }, { payloads: [{ metadata: { [hostile]: '!' } }] }]) {
      const error = jsonError(document);
      expect(error.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      expect(error.message.length).toBeLessThan(200);
    }
  });
});

describe('base64 that proto3 JSON allows', () => {
  it.each([
    ['', ''],
    ['QQ', '41'],
    ['QQ==', '41'],
    ['QUI', '4142'],
    ['QUI=', '4142'],
    ['QUJD', '414243'],
    ['QUJDRA', '41424344'],
    ['-_-_Pg==', 'fbffbf3e'],
  ])('reads %j', (text, bytes) => {
    const [payload] = parsePayloadsJson({ payloads: [{ data: text, metadata: { encoding: text } }] });
    expect(hex(payload!.data!)).toBe(bytes);
    expect(hex(payload!.metadata!.encoding!)).toBe(bytes);
  });
});

describe('external payload sizes (int64)', () => {
  const keyRing = KeyRing.fromKeys({ default: testKey('default') }, 'default');
  const codecs = createPayloadCodecs({ keyRing });

  it('keeps the largest int64 exact through encode and decode', async () => {
    const [payload] = parsePayloadsJson({
      payloads: [{ data: b64('1'), externalPayloads: [{ sizeBytes: '9223372036854775807' }, { sizeBytes: '0009223372036854775807' }] }],
    });
    const [decoded] = await sdkDecode(codecs, await sdkEncode(codecs, [payload!]));
    expect(payloadToJson(decoded!).externalPayloads).toEqual([{ sizeBytes: '9223372036854775807' }, { sizeBytes: '9223372036854775807' }]);
  });
});

describe('fields this package does not model', () => {
  const keyRing = KeyRing.fromKeys({ default: testKey('default') }, 'default');
  const codecs = createPayloadCodecs({ keyRing });
  const carry = { unknownFields: 'carry' } as const;

  it('by default refuses an unknown field rather than drop it, so an encode never loses data silently', () => {
    const error = jsonError({ payloads: [{ data: 'AA==', futureField: { a: 1 } }] });
    expect(error.path).toBe('payloads[0].futureField');
    const explicit = caughtSync(() => parsePayloadsJson({ payloads: [{ data: 'AA==', futureField: 1 }] }, { unknownFields: 'reject' }));
    expectCodecError(explicit, PayloadJsonError, 'ERR_INVALID_PAYLOAD_JSON', 'payloads[0].futureField: unknown field');
  });

  it('with unknownFields "carry", writes a payload the codecs pass through back with its unknown fields, untouched', async () => {
    const input = JSON.stringify({
      payloads: [
        { metadata: { encoding: b64('json/plain') }, data: 'eyJhIjoxfQ', futureField: { nested: [1, 'two', null, true] } },
        { data: 'AA==', foo: 'bar', externalPayloads: [{ sizeBytes: '3', storage: { ref: 'abc' } }] },
      ],
    });
    const decoded = await sdkDecode(codecs, parsePayloadsJson(input, carry));
    expect(JSON.stringify(toPayloadsJson(decoded))).toBe(input);
  });

  it('with unknownFields "carry", a payload a codec decodes is the inner payload, without the outer unknown fields', async () => {
    const [encrypted] = await sdkEncode(codecs, parsePayloadsJson({ payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('1') }] }));
    const outer = { ...payloadToJson(encrypted!), futureField: 'outer only' };
    const [decoded] = await sdkDecode(codecs, parsePayloadsJson({ payloads: [outer] }, carry));
    expect(payloadToJson(decoded!)).toEqual({ metadata: { encoding: b64('json/plain') }, data: b64('1') });
  });

  it('carries values nested up to 32 levels and refuses deeper ones, naming the field', () => {
    const nest = (depth: number): unknown => (depth === 0 ? 'leaf' : depth % 2 ? [nest(depth - 1)] : { a: nest(depth - 1) });
    const [payload] = parsePayloadsJson({ payloads: [{ deep: nest(32), externalPayloads: [{ deep: nest(32) }] }] }, carry);
    expect(JSON.parse(JSON.stringify(toPayloadsJson([payload!])))).toEqual({ payloads: [{ deep: nest(32), externalPayloads: [{ deep: nest(32) }] }] });
    for (const [document, path] of [
      [{ payloads: [{ deep: nest(33) }] }, 'payloads[0].deep'],
      [{ payloads: [{}, { externalPayloads: [{ sizeBytes: '1', x: nest(33) }] }] }, 'payloads[1].externalPayloads[0].x'],
      [{ payloads: [{ externalPayloads: [{ sizeBytes: '1', x: nest(5000) }] }] }, 'payloads[0].externalPayloads[0].x'],
    ] as const) {
      const error = caughtSync(() => parsePayloadsJson(document, carry));
      expectCodecError(error, PayloadJsonError, 'ERR_INVALID_PAYLOAD_JSON', `${path}: nested deeper than 32 levels`);
    }
  });

  it('refuses carried values JSON cannot hold, from a document given as objects', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const [value, problem] of [
      [cycle, 'nested deeper than 32 levels'],
      [10n, 'expected a JSON value'],
      [Number.NaN, 'expected a JSON value'],
      [{ when: new Date(0) }, 'expected a JSON value'],
      [[() => 1], 'expected a JSON value'],
    ] as const) {
      const error = caughtSync(() => parsePayloadsJson({ payloads: [{ extra: value }] }, carry));
      expectCodecError(error, PayloadJsonError, 'ERR_INVALID_PAYLOAD_JSON', `payloads[0].extra: ${problem}`);
    }
  });
});

describe('metadata keys from the document', () => {
  it('keeps a metadata key named "__proto__" as data, through encryption and back', async () => {
    const document = `{"payloads":[{"metadata":{"encoding":"${Buffer.from('json/plain').toString('base64')}","__proto__":"AQI="},"data":"MQ=="}]}`;
    const [payload] = parsePayloadsJson(document);
    expect(Object.keys(payload!.metadata!)).toEqual(['encoding', '__proto__']);
    const codec = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ k: randomBytes(32) }, 'k') });
    const [decoded] = await codec.decode(await codec.encode([payload!]));
    expect(Buffer.from(decoded!.metadata!['__proto__']!).toString('hex')).toBe('0102');
  });
});
