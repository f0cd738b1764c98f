/**
 * Payloads as the Go SDK writes them with Trenova's codec, built by hand with node:crypto and node:zlib (not by this
 * package's codecs). Go's `NewCodecDataConverter(parent, zlib, encryption)` applies its codecs last to first: it
 * encrypts first and then zlib-wraps, so its payloads are `binary/zlib(serialized binary/encrypted(serialized x))`.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { Payload } from '@temporalio/common';
import { rawPayload, serialize } from './payloads.js';

/** A binary/encrypted payload as Go's encryption codec makes it: nonce || AES-256-GCM(serialized payload) || tag. */
export function goEncrypted(payload: Payload, key: Uint8Array, keyId: string): Payload {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(serialize(payload)), cipher.final()]);
  return rawPayload('binary/encrypted', Buffer.concat([nonce, body, cipher.getAuthTag()]), { 'encryption-key-id': keyId });
}

/** A binary/zlib payload as Go's ZlibCodec makes it: a zlib stream of the serialized payload. */
export function goZlib(payload: Payload): Payload {
  return rawPayload('binary/zlib', deflateSync(serialize(payload)));
}

/** What Go's `NewCodecDataConverter(parent, NewZlibCodec{AlwaysEncode: true}, &EncryptionCodec)` writes. */
export function goPayload(payload: Payload, key: Uint8Array, keyId: string): Payload {
  return goZlib(goEncrypted(payload, key, keyId));
}
