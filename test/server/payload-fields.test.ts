import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, jsonPayload, payloadJson, postJson, startServer, testCodecs, type TestServer } from './helpers.js';

/** `[[[ ... "x" ... ]]]`, `depth` arrays deep, as text (JSON.stringify of it would itself overflow the stack). */
function nestedText(depth: number): string {
  return `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
}

describe('payload fields on the codec routes', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  const encrypted = payloadJson(testCodecs().encryption!.encryptPayload(jsonPayload({ secret: 1 })));

  // Bug: a 10 KB body nested 5000 deep inside a carried-through member made JSON.stringify of the answer overflow the
  // stack: a 500, which a browser retries.
  it.each(['/decode', '/encode'])('answers %s with 400, not 500, for a carried member nested 5000 deep', async (path) => {
    const body = `{"payloads":[{"externalPayloads":[{"sizeBytes":"1","x":${nestedText(5000)}}]}]}`;
    expect(body.length).toBeLessThan(11_000);
    const response = await postJson(server, path, body);
    expect(response.status).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'invalid_payloads',
        message:
          path === '/decode'
            ? 'payloads[0].externalPayloads[0].x: nested deeper than 32 levels'
            : 'payloads[0].externalPayloads[0].x: unknown field',
      },
    });
  });

  it('answers /decode with 400 for an unknown payload member nested 5000 deep', async () => {
    const response = await postJson(server, '/decode', `{"payloads":[{"data":"AA==","future":${nestedText(5000)}}]}`);
    expect(response.status).toBe(400);
    expect(response.json().error.message).toBe('payloads[0].future: nested deeper than 32 levels');
  });

  // Bug: an unknown member of a Payload got a 400 on /decode, so a field Temporal adds later would break every decode
  // in the Web UI; the contract says other fields are carried through.
  it('decodes a pass-through payload with unknown members back exactly as it came', async () => {
    const foreign = [
      { data: 'AA==', foo: 'bar' },
      { metadata: { encoding: b64('json/plain') }, data: b64('1'), future: { list: [1, { deep: [null, true] }] } },
      { metadata: { encoding: b64('binary/null') }, externalPayloads: [{ sizeBytes: '12', storage: { ref: 'r1' } }] },
      { metadata: { encoding: b64('binary/null') }, __proto__x: 1, 'a"b\\c\n': 'escaped' },
    ];
    const response = await postJson(server, '/decode', { payloads: foreign });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ payloads: foreign });
  });

  it('decodes a payload the codec made to the inner payload, without the outer unknown members', async () => {
    const response = await postJson(server, '/decode', { payloads: [{ ...encrypted, future: 'outer' }, { data: 'AA==', foo: 'bar' }] });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ payloads: [payloadJson(jsonPayload({ secret: 1 })), { data: 'AA==', foo: 'bar' }] });
  });

  // An unknown JSON member has no field number, so /encode could only drop it: it refuses instead.
  it.each<[string, unknown, string]>([
    ['a payload member', { payloads: [payloadJson(jsonPayload(1)), { data: 'AA==', foo: 'bar' }] }, 'payloads[1].foo'],
    [
      'an external payload member',
      { payloads: [{ data: 'AA==', externalPayloads: [{ sizeBytes: '1', storage: 'r' }] }] },
      'payloads[0].externalPayloads[0].storage',
    ],
  ])('refuses on /encode %s it cannot write into the protobuf Payload, naming it', async (_name, document, path) => {
    const response = await postJson(server, '/encode', document);
    expect(response.status).toBe(400);
    expect(response.json()).toEqual({ error: { code: 'invalid_payloads', message: `${path}: unknown field` } });
  });

  // Bug: sizeBytes accepted any run of digits, and 2^63 came back from /encode then /decode as -2^63.
  it.each(['/encode', '/decode'])('refuses on %s an external payload size past int64', async (path) => {
    for (const sizeBytes of ['9223372036854775808', '18446744073709551615']) {
      const response = await postJson(server, path, { payloads: [{ data: 'AA==', externalPayloads: [{ sizeBytes }] }] });
      expect(response.status).toBe(400);
      expect(response.json().error.message).toBe(
        'payloads[0].externalPayloads[0].sizeBytes: out of range; an int64 is at most 9223372036854775807',
      );
    }
  });

  it('keeps the largest int64 size through /encode and /decode', async () => {
    const payload = { ...payloadJson(jsonPayload(1)), externalPayloads: [{ sizeBytes: '9223372036854775807' }] };
    const encoded = await postJson(server, '/encode', { payloads: [payload] });
    expect(encoded.status).toBe(200);
    const decoded = await postJson(server, '/decode', encoded.json());
    expect(decoded.json()).toEqual({ payloads: [payload] });
  });

  // Bug: "A=" was read as empty data.
  it.each(['/encode', '/decode'])('refuses on %s base64 of a length no base64 has', async (path) => {
    for (const data of ['A=', '==', 'QQ=', 'QUJDR']) {
      const response = await postJson(server, path, { payloads: [{ data }] });
      expect(response.status).toBe(400);
      expect(response.json()).toEqual({ error: { code: 'invalid_payloads', message: 'payloads[0].data: not valid base64' } });
    }
  });
});
