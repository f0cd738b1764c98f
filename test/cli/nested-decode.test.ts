/**
 * `temporal-codec decode` reads Go's payloads, `binary/zlib(serialized binary/encrypted(serialized x))` (the Go SDK's
 * codec list (zlib, encryption) encrypts first), built here by hand with node:crypto and node:zlib.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import protoModule from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../helpers/cli.js';

const PayloadMessage = protoModule.temporal.api.common.v1.Payload;
const KEY = randomBytes(32);
const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');
const serialize = (payload: protoModule.temporal.api.common.v1.IPayload) => PayloadMessage.encode(payload).finish();

function goPayload(text: string, keyId: string, key: Uint8Array) {
  const original = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(text) };
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(serialize(original)), cipher.final()]);
  const encrypted = {
    metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from(keyId) },
    data: Buffer.concat([nonce, body, cipher.getAuthTag()]),
  };
  return { metadata: { encoding: b64('binary/zlib') }, data: b64(deflateSync(serialize(encrypted))) };
}

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
