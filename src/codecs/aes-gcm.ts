/**
 * @internal The AES-256-GCM layer of the encryption codec, on its own so that it can be tested against published
 * vectors (Wycheproof) without the Payload framing. Not re-exported from the package entry point.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const CIPHER = 'aes-256-gcm';
/** 96-bit random nonce, the length NIST SP 800-38D section 8.2 recommends for GCM. */
export const NONCE_LENGTH = 12;
/** Full 128-bit tag; pinned because Node would otherwise accept tags as short as 4 bytes. */
export const TAG_LENGTH = 16;

/** nonce || ciphertext || tag, with a fresh random nonce and no associated data. */
export function encryptAesGcm(key: Buffer, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_LENGTH);
  const cipher = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_LENGTH });
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([nonce, body, cipher.getAuthTag()], NONCE_LENGTH + body.length + TAG_LENGTH);
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
