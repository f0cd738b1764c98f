/**
 * @internal The AES-256-GCM layer of the encryption codec, on its own so that it can be tested against published
 * vectors (Wycheproof) without the Payload framing. Not re-exported from the package entry point.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

const CIPHER = 'aes-256-gcm';
/** 96-bit random nonce, the length NIST SP 800-38D section 8.2 recommends for GCM. */
export const NONCE_LENGTH = 12;
/** Full 128-bit tag; pinned because Node would otherwise accept tags as short as 4 bytes. */
export const TAG_LENGTH = 16;

/**
 * nonce || ciphertext || tag, with a fresh random nonce and no associated data. The plaintext may come in parts,
 * encrypted in turn as one message. The output is allocated once and each piece of ciphertext copied into place, so
 * encryption copies the message once (Buffer.concat after a whole-message update made two copies).
 */
export function encryptAesGcm(key: Buffer, plaintext: Uint8Array | readonly Uint8Array[]): Buffer {
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  let length = 0;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafe(NONCE_LENGTH + length + TAG_LENGTH);
  const nonce = randomFillSync(out, 0, NONCE_LENGTH).subarray(0, NONCE_LENGTH);
  const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_LENGTH });
  let offset = NONCE_LENGTH;
  for (const part of parts) offset += cipher.update(part).copy(out, offset);
  offset += cipher.final().copy(out, offset);
  cipher.getAuthTag().copy(out, offset);
  return out;
}

/** Opens nonce || ciphertext || tag; throws when the tag does not verify. The caller checks the length first. */
export function decryptAesGcm(key: Buffer, data: Uint8Array): Buffer {
  const nonce = data.subarray(0, NONCE_LENGTH);
  const tagStart = data.length - TAG_LENGTH;
  const decipher = createDecipheriv(CIPHER, key, nonce, { authTagLength: TAG_LENGTH });
  decipher.setAuthTag(data.subarray(tagStart));
  const body = decipher.update(data.subarray(NONCE_LENGTH, tagStart));
  const tail = decipher.final();
  return tail.length === 0 ? body : Buffer.concat([body, tail]);
}
