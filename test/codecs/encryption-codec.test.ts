import { createCipheriv, createDecipheriv } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  EncryptionCodec,
  encryptionKeyIdOf,
  isEncrypted,
  MIN_ENCRYPTED_LENGTH,
  NONCE_LENGTH,
  TAG_LENGTH,
} from '../../src/codecs/encryption-codec.js';
import { DecryptionError, KeyConfigError } from '../../src/errors.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { caught, caughtSync, expectCodecError } from '../helpers/errors.js';
import { testKey } from '../helpers/keys.js';
import {
  flipBit,
  hex,
  metadataText,
  PayloadMessage,
  rawPayload,
  serialize,
  view,
  withData,
  withMetadata,
} from '../helpers/payloads.js';

const KEY = testKey('production');
const ring = KeyRing.fromKeys({ production: KEY }, 'production');
const codec = new EncryptionCodec({ keyRing: ring });

/** The one message every decryption failure of a key id reads as (errors.ts, DecryptionError). */
function decryptionMessage(quotedKeyId: string): string {
  return (
    `decryption operation failed for encryption-key-id ${quotedKeyId}: the key is not configured, ` +
    'or the payload was altered or encrypted with a different key'
  );
}

async function encrypt(payload: Payload, using = codec): Promise<Payload> {
  const [encrypted] = await using.encode([payload]);
  return encrypted!;
}

async function decryptionFailure(payload: Payload, using = codec): Promise<DecryptionError> {
  const error = await caught(() => using.decode([payload]));
  const decryptionError = expectCodecError(error, DecryptionError, 'ERR_DECRYPTION_FAILED');
  // The cause is dropped on purpose: OpenSSL's text would tell a bad tag from a bad length.
  expect(decryptionError.cause).toBeUndefined();
  return decryptionError;
}

/** nonce || AES-256-GCM(plaintext) || tag, computed here with node:crypto as the other SDKs' samples do. */
function sealIndependently(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

const original = rawPayload('json/plain', '{"customer":"Ada","amount":42}', { messageType: 'Invoice' });

describe('EncryptionCodec wire format (binary/encrypted)', () => {
  it('writes only encoding=binary/encrypted and encryption-key-id=<active id> into metadata', async () => {
    const encrypted = await encrypt(original);
    expect(Object.keys(encrypted.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    expect(metadataText(encrypted, 'encoding')).toBe('binary/encrypted');
    expect(metadataText(encrypted, 'encryption-key-id')).toBe('production');
    expect(isEncrypted(encrypted)).toBe(true);
    expect(encryptionKeyIdOf(encrypted)).toBe('production');
    expect(encryptionKeyIdOf(original)).toBeUndefined();
  });

  it('writes nonce (12) || ciphertext || tag (16) of the plain protobuf serialization of the whole payload', async () => {
    const encrypted = await encrypt(original);
    const data = encrypted.data!;
    const plaintext = serialize(original);
    expect(data.length).toBe(NONCE_LENGTH + plaintext.length + TAG_LENGTH);
    expect([NONCE_LENGTH, TAG_LENGTH, MIN_ENCRYPTED_LENGTH]).toEqual([12, 16, 28]);
    const decipher = createDecipheriv('aes-256-gcm', KEY, data.subarray(0, 12), { authTagLength: 16 });
    decipher.setAuthTag(data.subarray(data.length - 16));
    const opened = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
    // Plain `encode().finish()`: not length-delimited, so Go, Java and Python read the same bytes.
    expect(hex(opened)).toBe(hex(plaintext));
    expect(view(PayloadMessage.decode(opened) as Payload)).toEqual(view(original));
    // The original metadata (here messageType) travels only inside the ciphertext.
    expect(Buffer.from(data).includes(Buffer.from('Invoice'))).toBe(false);
  });

  it('uses a fresh random nonce for every payload', async () => {
    const encrypted = await codec.encode([original, original, original]);
    const nonces = encrypted.map((payload) => hex(payload.data!.subarray(0, NONCE_LENGTH)));
    expect(new Set(nonces).size).toBe(3);
  });

  it('decrypts a payload sealed independently with node:crypto, as the Go, Java and Python samples do', async () => {
    const nonce = Buffer.from('000102030405060708090a0b', 'hex');
    const sealed: Payload = {
      metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from('production') },
      data: sealIndependently(KEY, nonce, serialize(original)),
    };
    const [decrypted] = await codec.decode([sealed]);
    expect(view(decrypted!)).toEqual(view(original));
  });

  it('carries external_payloads (field 3) through encryption', async () => {
    const payload = { ...rawPayload('json/plain', '"x"'), externalPayloads: [{ sizeBytes: 12 }] } as unknown as Payload;
    const [decrypted] = await codec.decode([await encrypt(payload)]);
    expect(view(decrypted!).externalPayloads).toEqual(['12']);
  });

  it.each([
    ['small', 3],
    ['large (serialized in parts on encode)', 4096],
  ])('carries fields its protobuf schema does not know through decode and a new encode, %s data', async (_, size) => {
    // A Payload as a newer SDK writes it: field 9 (varint 42) after metadata and data.
    const newer = Buffer.concat([serialize(rawPayload('json/plain', 'x'.repeat(size))), Buffer.from([0x48, 0x2a])]);
    const sealed: Payload = {
      metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from('production') },
      data: sealIndependently(KEY, Buffer.alloc(NONCE_LENGTH, 1), newer),
    };
    const [decrypted] = await codec.decode([sealed]);
    expect(hex(serialize(decrypted!))).toBe(hex(newer));
    const [again] = await codec.decode(await codec.encode([decrypted!]));
    expect(hex(serialize(again!))).toBe(hex(newer));
  });
});

describe('EncryptionCodec encode', () => {
  it('leaves nothing plain behind: every payload it is given comes out binary/encrypted', async () => {
    const inputs: Payload[] = [
      rawPayload('json/plain', '"hello"'),
      { metadata: { encoding: Buffer.from('binary/null') } },
      {},
      { metadata: {}, data: new Uint8Array(0) },
      rawPayload('binary/zlib', deflateSync(serialize(original))),
      await encrypt(original), // already encrypted: encrypted again, never passed through
    ];
    const encrypted = await codec.encode(inputs);
    expect(encrypted).toHaveLength(inputs.length);
    for (const [index, payload] of encrypted.entries()) {
      expect(metadataText(payload, 'encoding')).toBe('binary/encrypted');
      const [decrypted] = await codec.decode([payload]);
      expect(view(decrypted!)).toEqual(view(inputs[index]!));
    }
  });

  it('refuses to build a codec whose ring has no key for the active id', () => {
    const error = caughtSync(() => new EncryptionCodec({ keyRing: KeyRing.fromKeys({ old: KEY }, 'production') }));
    expectCodecError(
      error,
      KeyConfigError,
      'ERR_KEY_CONFIG',
      'invalid encryption key configuration: no key for the active key id "production"',
    );
  });

  it('decodes without an active key when requireActiveKey is false, and then refuses to encode', async () => {
    const decodeOnly = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ production: KEY }, 'next'), requireActiveKey: false });
    const [decrypted] = await decodeOnly.decode([await encrypt(original)]);
    expect(view(decrypted!)).toEqual(view(original));
    expectCodecError(
      await caught(() => decodeOnly.encode([original])),
      KeyConfigError,
      'ERR_KEY_CONFIG',
      'invalid encryption key configuration: no key for the active key id "next"',
    );
  });
});

describe('EncryptionCodec decode', () => {
  it('restores the original payload, metadata included', async () => {
    const [decrypted] = await codec.decode([await encrypt(original)]);
    expect(view(decrypted!)).toEqual(view(original));
    expect(metadataText(decrypted!, 'messageType')).toBe('Invoice');
  });

  it.each<[string, Payload]>([
    ['json/plain', rawPayload('json/plain', '{"a":1}')],
    ['binary/null', { metadata: { encoding: Buffer.from('binary/null') } }],
    ['binary/plain', rawPayload('binary/plain', new Uint8Array([0, 1, 2]))],
    ['json/protobuf', rawPayload('json/protobuf', '{}', { messageType: 'temporal.api.common.v1.Payload' })],
    ['a search attribute', rawPayload('json/plain', '["a","b"]', { type: 'KeywordList' })],
    ['another codec (binary/snappy)', rawPayload('binary/snappy', new Uint8Array([9, 9]))],
    ['a look-alike encoding (binary/encrypted-v2)', rawPayload('binary/encrypted-v2', new Uint8Array(40))],
    ['a look-alike encoding (BINARY/ENCRYPTED)', rawPayload('BINARY/ENCRYPTED', new Uint8Array(40))],
    ['no metadata', { data: new Uint8Array([1]) }],
    ['an empty payload', {}],
  ])('passes %s through unchanged', async (_name, payload) => {
    const before = view(payload);
    const [decoded] = await codec.decode([payload]);
    expect(decoded).toBe(payload);
    expect(view(decoded!)).toEqual(before);
  });

  it('decodes a batch of encrypted and pass-through payloads, each by its own marker', async () => {
    const plain = rawPayload('json/plain', '"plain"');
    const decoded = await codec.decode([await encrypt(original), plain, await encrypt(plain)]);
    expect(decoded.map(view)).toEqual([view(original), view(plain), view(plain)]);
    expect(decoded[1]).toBe(plain);
  });

  it('decrypts old payloads with a decrypt-only key after rotation, by their own key id', async () => {
    const oldPayload = await encrypt(original);
    const rotated = KeyRing.fromKeys({ production: KEY, next: testKey('next') }, 'next');
    const rotatedCodec = new EncryptionCodec({ keyRing: rotated });
    const newPayload = await encrypt(original, rotatedCodec);
    expect(metadataText(newPayload, 'encryption-key-id')).toBe('next');
    const decoded = await rotatedCodec.decode([oldPayload, newPayload]);
    expect(decoded.map(view)).toEqual([view(original), view(original)]);
  });

  it('makes exactly one attempt, with the key of the payload key id, never every key', async () => {
    const both = KeyRing.fromKeys({ production: KEY, other: testKey('other') }, 'production');
    const underOther = await encrypt(original, new EncryptionCodec({ keyRing: both.withActiveKeyId('other') }));
    const relabelled = withMetadata(underOther, 'encryption-key-id', 'production');
    const error = await decryptionFailure(relabelled, new EncryptionCodec({ keyRing: both }));
    expect(error.keyId).toBe('production');
  });
});

describe('EncryptionCodec decryption errors', () => {
  it('names the missing key id when a payload was encrypted under a removed key', async () => {
    const oldPayload = await encrypt(original, new EncryptionCodec({ keyRing: KeyRing.fromKeys({ v1: KEY }, 'v1') }));
    const error = await decryptionFailure(oldPayload);
    expect(error.keyId).toBe('v1');
    expect(error.message).toBe(decryptionMessage('"v1"'));
  });

  it('reads the same for an unknown key id, a bad tag, a wrong key, truncated data and a non-Payload plaintext', async () => {
    const encrypted = await encrypt(original);
    const data = encrypted.data!;
    const unknownKey = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ other: KEY }, 'other') });
    const wrongKey = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ production: testKey('wrong') }, 'production') });
    const notAPayload = withData(encrypted, sealIndependently(KEY, Buffer.alloc(12, 7), Buffer.from([0x0a, 0xff])));
    const failures = [
      await decryptionFailure(encrypted, unknownKey),
      await decryptionFailure(encrypted, wrongKey),
      await decryptionFailure(withData(encrypted, flipBit(data, (data.length - 1) * 8))), // tag
      await decryptionFailure(withData(encrypted, flipBit(data, 3))), // nonce
      await decryptionFailure(withData(encrypted, flipBit(data, 12 * 8 + 5))), // ciphertext
      await decryptionFailure(withData(encrypted, data.subarray(0, 27))), // shorter than nonce + tag
      await decryptionFailure(withData(encrypted, data.subarray(0, 28))), // long enough, cut
      await decryptionFailure(withData(encrypted, data.subarray(0, data.length - 1))),
      await decryptionFailure(withData(encrypted, new Uint8Array(0))),
      await decryptionFailure({ metadata: encrypted.metadata }), // no data at all
      await decryptionFailure(notAPayload), // authentic, but the plaintext is not a Payload
    ];
    for (const failure of failures) {
      expect(failure.message).toBe(decryptionMessage('"production"'));
      expect(failure.keyId).toBe('production');
    }
  });

  it('refuses data of every length below 28 bytes (nonce + tag) without a crash', async () => {
    const encrypted = await encrypt(original);
    for (let length = 0; length < MIN_ENCRYPTED_LENGTH; length++) {
      const error = await decryptionFailure(withData(encrypted, encrypted.data!.subarray(0, length)));
      expect(error.message).toBe(decryptionMessage('"production"'));
    }
  });

  it('refuses a payload without encryption-key-id metadata, naming the empty id', async () => {
    const encrypted = await encrypt(original);
    const error = await decryptionFailure(withMetadata(encrypted, 'encryption-key-id', undefined));
    expect(error.keyId).toBe('');
    expect(error.message).toBe(decryptionMessage('""'));
  });

  // Bug: with a fallback key (TEMPORAL_ENCRYPTION_KEY), a payload that has no encryption-key-id at all is looked up
  // as id "" and decrypted with the fallback key. The wire format requires the id ("look the key up by the payload's
  // own encryption-key-id"), and the Go sample fails such a payload; a missing id must not be read as "any id".
  it('refuses a payload without encryption-key-id even when a fallback key could open it', async () => {
    const withFallback = KeyRing.fromKeys({}, 'production', KEY);
    const fallbackCodec = new EncryptionCodec({ keyRing: withFallback });
    const encrypted = await encrypt(original, fallbackCodec);
    const error = await decryptionFailure(withMetadata(encrypted, 'encryption-key-id', undefined), fallbackCodec);
    expect(error.keyId).toBe('');
  });

  it('quotes the key id and cuts a long one to 64 characters', async () => {
    const encrypted = await encrypt(original);
    const long = `k${'x'.repeat(200)}`;
    const error = await decryptionFailure(withMetadata(encrypted, 'encryption-key-id', long));
    expect(error.keyId).toBe(long);
    expect(error.message).toBe(decryptionMessage(`"${long.slice(0, 64)}..."`));
    expect(error.message).not.toContain(long.slice(0, 65));
  });

  it('escapes line breaks and ANSI escapes in a key id, so it cannot forge log lines', async () => {
    const encrypted = await encrypt(original);
    const hostile = 'a\nlevel=info msg="ok"\r\u001b[2Jb\u0000';
    const error = await decryptionFailure(withMetadata(encrypted, 'encryption-key-id', hostile));
    expect(error.message).toBe(decryptionMessage(JSON.stringify(hostile)));
    expect(error.message).not.toMatch(/[\u0000-\u001f]/);
  });

  // Bug: describeKeyId relies on JSON.stringify, which escapes only U+0000-U+001F. DEL (U+007F) and the C1 controls
  // (U+0080-U+009F, among them U+009B, the one-byte CSI that starts a terminal escape) reach messages and logs raw,
  // though errors.ts promises to keep control characters out.
  it('keeps DEL and C1 control characters of a key id out of the message', async () => {
    const encrypted = await encrypt(original);
    const hostile = 'a\u007f\u009b2J\u0085b';
    const error = await decryptionFailure(withMetadata(encrypted, 'encryption-key-id', hostile));
    expect(error.message).not.toMatch(/[\u007f-\u009f]/);
    expect(error.message).toContain('"a\\u007f\\u009b2J\\u0085b"');
  });

  it('shows a key id that is not valid UTF-8 without failing', async () => {
    const encrypted = await encrypt(original);
    const error = await decryptionFailure(withMetadata(encrypted, 'encryption-key-id', new Uint8Array([0x70, 0xff, 0xfe])));
    expect(error.message).toBe(decryptionMessage('"p\ufffd\ufffd"'));
  });

  it('reads a key id byte for byte: a leading byte-order mark is part of the id, not stripped', async () => {
    const [encrypted] = await codec.encode([original]);
    const withBom = withMetadata(encrypted!, 'encryption-key-id', Buffer.from('\ufeffproduction'));
    expect(encryptionKeyIdOf(withBom)).toBe('\ufeffproduction');
    await decryptionFailure(withBom); // no key has that id: "production" is not tried in its place
  });

  it('does not decrypt a payload whose key id differs from the one it was encrypted under (ids are not aliases)', async () => {
    const two = KeyRing.fromKeys({ production: KEY, staging: testKey('staging') }, 'production');
    const encrypted = await encrypt(original, new EncryptionCodec({ keyRing: two }));
    await decryptionFailure(withMetadata(encrypted, 'encryption-key-id', 'staging'), new EncryptionCodec({ keyRing: two }));
  });
});
