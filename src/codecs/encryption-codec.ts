import type { Payload, PayloadCodec } from '@temporalio/common';
import { DecryptionError, describeKeyId, KeyConfigError } from '../errors.js';
import type { KeyRing } from '../keys/key-ring.js';
import { decryptAesGcm as decrypt, encryptAesGcm as encrypt, NONCE_LENGTH, TAG_LENGTH } from './aes-gcm.js';
import {
  deserializePayload,
  ENCODING_ENCRYPTED,
  METADATA_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
  metadataEquals,
  metadataText,
  serializePayloadParts,
} from './payload-proto.js';

export { NONCE_LENGTH, TAG_LENGTH };
/** The shortest `data` that can be a ciphertext: nonce and tag around an empty message. */
export const MIN_ENCRYPTED_LENGTH = NONCE_LENGTH + TAG_LENGTH;

const ENCODING_ENCRYPTED_BYTES = new TextEncoder().encode(ENCODING_ENCRYPTED);

/** Options of {@link EncryptionCodec}. */
export interface EncryptionCodecOptions {
  /** The keys; new payloads use `keyRing.activeKeyId`. */
  keyRing: KeyRing;
  /**
   * Fail at construction when the active key id has no key; default true. Tools that only decode pass false, and
   * then `encode` fails instead.
   */
  requireActiveKey?: boolean;
}

/**
 * AES-256-GCM encryption of whole payloads (`binary/encrypted`), byte-compatible with Temporal's Go, Java, Python
 * and TypeScript encryption samples.
 *
 * ```text
 * encode: Payload --serialize--> plaintext --AES-256-GCM(active key, random nonce)--> nonce || ciphertext || tag
 * decode: key = keyRing[payload.metadata["encryption-key-id"]] --> verify tag --> deserialize --> Payload
 * ```
 *
 * Decode passes through, unchanged, every payload that is not `binary/encrypted`.
 *
 * @example
 * const codec = new EncryptionCodec({ keyRing: loadKeyRing({ encryptionKeyID: 'production' }) });
 */
export class EncryptionCodec implements PayloadCodec {
  readonly keyRing: KeyRing;
  readonly #activeKey: Buffer | undefined;
  readonly #activeKeyIdBytes: Uint8Array;

  constructor(options: EncryptionCodecOptions) {
    this.keyRing = options.keyRing;
    this.#activeKey = options.keyRing.keyFor(options.keyRing.activeKeyId);
    if (!this.#activeKey && (options.requireActiveKey ?? true)) throw this.#missingActiveKey();
    this.#activeKeyIdBytes = new TextEncoder().encode(options.keyRing.activeKeyId);
  }

  /** The key id new payloads are encrypted with. */
  get activeKeyId(): string {
    return this.keyRing.activeKeyId;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encryptPayload(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decryptPayload(payload));
  }

  /** Encrypts one payload with the active key (synchronous form of {@link encode}). */
  encryptPayload(payload: Payload): Payload {
    return this.#seal(serializePayloadParts(payload));
  }

  #missingActiveKey(): KeyConfigError {
    return new KeyConfigError([`no key for the active key id ${describeKeyId(this.keyRing.activeKeyId)}`]);
  }

  /** Decrypts one payload if it is `binary/encrypted`, else returns it unchanged (synchronous form of {@link decode}). */
  decryptPayload(payload: Payload): Payload {
    if (!isEncrypted(payload)) return payload;
    const { keyId, plaintext } = this.#decrypt(payload);
    try {
      return deserializePayload(plaintext);
    } catch {
      throw new DecryptionError(keyId);
    }
  }

  /**
   * Re-encrypts a `binary/encrypted` payload with the active key (key rotation): decrypts it with the key of its own
   * key id and encrypts the same plaintext bytes, so the payload inside, compressed or not and with fields this
   * package does not model, is kept byte for byte. Returns any other payload unchanged.
   */
  rewrapPayload(payload: Payload): Payload {
    if (!isEncrypted(payload)) return payload;
    if (!this.#activeKey) throw this.#missingActiveKey();
    const { keyId, plaintext } = this.#decrypt(payload);
    try {
      deserializePayload(plaintext); // what decryptPayload checks too: a payload inside, not just bytes that decrypt
    } catch {
      throw new DecryptionError(keyId);
    }
    return this.#seal(plaintext);
  }

  /** A `binary/encrypted` payload of these plaintext bytes (whole or in parts) under the active key. */
  #seal(plaintext: Uint8Array | readonly Uint8Array[]): Payload {
    if (!this.#activeKey) throw this.#missingActiveKey();
    return {
      metadata: { [METADATA_ENCODING]: ENCODING_ENCRYPTED_BYTES, [METADATA_ENCRYPTION_KEY_ID]: this.#activeKeyIdBytes },
      data: encrypt(this.#activeKey, plaintext),
    };
  }

  #decrypt(payload: Payload): { keyId: string; plaintext: Buffer } {
    const keyId = metadataText(payload, METADATA_ENCRYPTION_KEY_ID) ?? '';
    const key = this.keyRing.keyFor(keyId);
    const data = payload.data;
    if (!key || !data || data.length < MIN_ENCRYPTED_LENGTH) throw new DecryptionError(keyId);
    try {
      return { keyId, plaintext: decrypt(key, data) };
    } catch {
      // The cause is dropped on purpose: OpenSSL's text would tell a bad tag from a bad length.
      throw new DecryptionError(keyId);
    }
  }
}

/** Whether a payload is `binary/encrypted`. */
export function isEncrypted(payload: Payload): boolean {
  return metadataEquals(payload, METADATA_ENCODING, ENCODING_ENCRYPTED);
}

/** The `encryption-key-id` of a `binary/encrypted` payload, or undefined for any other payload. */
export function encryptionKeyIdOf(payload: Payload): string | undefined {
  return isEncrypted(payload) ? (metadataText(payload, METADATA_ENCRYPTION_KEY_ID) ?? '') : undefined;
}
