/**
 * `temporal-codec decode` reads Go's payloads, `binary/zlib(serialized binary/encrypted(serialized x))` (the Go SDK's
 * codec list (zlib, encryption) encrypts first), built here by hand with node:crypto and node:zlib.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { payloadToJson } from '../../src/payload-json.js';
import { memoryIo } from '../helpers/cli.js';
import { goPayload as goPayloadOf } from '../helpers/go-payloads.js';
import { rawPayload } from '../helpers/payloads.js';

const KEY = randomBytes(32);
const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');

/** A Go payload (test/helpers/go-payloads.ts) of a json/plain payload, in proto3 JSON. */
const goPayload = (text: string, keyId: string, key: Uint8Array) => payloadToJson(goPayloadOf(rawPayload('json/plain', text), key, keyId));

describe('temporal-codec decode of Go payloads', () => {
  it('decodes zlib(encrypted(x)) to x, and fails one under an unknown inner key id naming it', async () => {
    const env = { TEMPORAL_ENCRYPTION_KEY_trenova: `base64:${b64(KEY)}` };
    const ok = memoryIo(env, JSON.stringify({ payloads: [goPayload('{"from":"go"}', 'trenova', KEY)] }));
    expect(await main(['decode'], ok.io)).toBe(0);
    expect(JSON.parse(ok.stdout())).toEqual({
      payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('{"from":"go"}') }],
    });

    const unknown = memoryIo(env, JSON.stringify({ payloads: [goPayload('1', 'retired', randomBytes(32))] }));
    expect(await main(['decode'], unknown.io)).toBe(1);
    expect(unknown.stderr()).toContain('decryption operation failed for encryption-key-id "retired"');
    expect(unknown.stderr()).toContain('ERR_DECRYPTION_FAILED');
    expect(unknown.stdout()).toBe('');
  });
});
