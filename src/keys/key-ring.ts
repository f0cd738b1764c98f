import { describeKeyId, KeyConfigError } from '../errors.js';
import { KEY_LENGTH, keyFingerprint } from './key-material.js';

/** Where a key came from: an environment variable or a file, by name only. */
export interface KeySource {
  kind: 'env' | 'file';
  /** The variable name or file path. */
  name: string;
}

/** What may be shown of a key: its id, where it came from, its fingerprint and whether it is active. */
export interface KeyInfo {
  /** The key id (`"*"` for the fallback key of `TEMPORAL_ENCRYPTION_KEY`). */
  keyId: string;
  source: KeySource;
  fingerprint: string;
  active: boolean;
}

interface KeyEntry {
  key: Buffer;
  source: KeySource;
  fingerprint: string;
}

/** The id shown for the fallback key, which serves every id that has no key of its own. */
export const FALLBACK_KEY_ID = '*';

const ENV_NAME_CHARS = /[^A-Za-z0-9_]/g;
const HAS_NON_ENV_NAME_CHAR = /[^A-Za-z0-9_]/;

/**
 * The name under which a key id whose characters an environment variable cannot hold is also looked up: upper-cased,
 * with each such character as `_` (`prod-eu` is also found as `PROD_EU`).
 */
export function environmentSafeKeyId(keyId: string): string {
  return keyId.toUpperCase().replace(ENV_NAME_CHARS, '_');
}

/**
 * The keys a codec may use, by key id, and the active id new payloads are encrypted with.
 *
 * A payload is decrypted with the key of its own `encryption-key-id`; an id with no key of its own falls back to the
 * key of `TEMPORAL_ENCRYPTION_KEY` when one is set. Key bytes never leave the ring except to the cipher.
 */
export class KeyRing {
  /** The key id new payloads are encrypted with (`encryptionKeyID`). */
  readonly activeKeyId: string;
  readonly #keys: ReadonlyMap<string, KeyEntry>;
  readonly #fallback: KeyEntry | undefined;

  /** @internal Use {@link loadKeyRing} or {@link KeyRing.fromKeys}. */
  constructor(activeKeyId: string, keys: ReadonlyMap<string, KeyEntry>, fallback: KeyEntry | undefined) {
    this.activeKeyId = activeKeyId;
    this.#keys = keys;
    this.#fallback = fallback;
  }

  /**
   * A ring from keys held in memory (tests, scripts, secrets fetched from a vault).
   *
   * @example
   * const ring = KeyRing.fromKeys({ production: randomBytes(32) }, 'production');
   */
  static fromKeys(keys: Record<string, Uint8Array>, activeKeyId: string, fallbackKey?: Uint8Array): KeyRing {
    const problems = Object.entries(keys)
      .filter(([, key]) => key.length !== KEY_LENGTH)
      .map(([keyId, key]) => `key id ${describeKeyId(keyId)} is ${key.length} bytes; AES-256 needs exactly ${KEY_LENGTH}`);
    if (fallbackKey && fallbackKey.length !== KEY_LENGTH) {
      problems.push(`the fallback key is ${fallbackKey.length} bytes; AES-256 needs exactly ${KEY_LENGTH}`);
    }
    if (problems.length > 0) throw new KeyConfigError(problems);
    const entries = new Map<string, KeyEntry>();
    for (const [keyId, key] of Object.entries(keys)) {
      entries.set(keyId, makeEntry(key, { kind: 'env', name: `memory:${keyId}` }));
    }
    const fallback = fallbackKey ? makeEntry(fallbackKey, { kind: 'env', name: 'memory:*' }) : undefined;
    return new KeyRing(activeKeyId, entries, fallback);
  }

  /** @internal The key for a key id (its own, else the fallback), or undefined. */
  keyFor(keyId: string): Buffer | undefined {
    return this.#entryFor(keyId)?.key;
  }

  /** Whether the ring can decrypt payloads of this key id. */
  has(keyId: string): boolean {
    return this.#entryFor(keyId) !== undefined;
  }

  /** The fingerprint of the key that serves this key id, or undefined when there is none. */
  fingerprint(keyId: string): string | undefined {
    return this.#entryFor(keyId)?.fingerprint;
  }

  /** The key ids with a key of their own, sorted. */
  keyIds(): string[] {
    return [...this.#keys.keys()].sort();
  }

  /** Every key's id, source, fingerprint and whether it is active, with no key material. */
  describe(): KeyInfo[] {
    const activeServedByOwnKey = this.#keys.has(this.activeKeyId);
    const infos: KeyInfo[] = this.keyIds().map((keyId) => {
      const entry = this.#keys.get(keyId)!;
      return { keyId, source: entry.source, fingerprint: entry.fingerprint, active: keyId === this.activeKeyId };
    });
    if (this.#fallback) {
      infos.push({
        keyId: FALLBACK_KEY_ID,
        source: this.#fallback.source,
        fingerprint: this.#fallback.fingerprint,
        active: !activeServedByOwnKey,
      });
    }
    return infos;
  }

  /** A ring with the same keys and another active key id. */
  withActiveKeyId(activeKeyId: string): KeyRing {
    return new KeyRing(activeKeyId, this.#keys, this.#fallback);
  }

  /**
   * A ring that holds only the keys serving `keyIds` (each under the id as listed, its own key or the fallback key)
   * and no fallback, so that it decrypts payloads of those ids and of no other; `activeKeyId` defaults to this
   * ring's. Ids this ring has no key for are left out: check with {@link KeyRing.has} first.
   *
   * @example
   * const production = ring.restrictedTo(['prod-2025', 'prod-2026'], 'prod-2026');
   */
  restrictedTo(keyIds: Iterable<string>, activeKeyId: string = this.activeKeyId): KeyRing {
    const keys = new Map<string, KeyEntry>();
    for (const keyId of keyIds) {
      const entry = this.#entryFor(keyId);
      if (entry) keys.set(keyId, entry);
    }
    return new KeyRing(activeKeyId, keys, undefined);
  }

  #entryFor(keyId: string): KeyEntry | undefined {
    // A payload without an encryption-key-id names no key: it is not "an id without a key of its own".
    if (keyId === '') return undefined;
    const own = this.#keys.get(keyId);
    if (own) return own;
    // The wire format tries the environment-safe spelling only for ids that have characters a variable cannot hold.
    const alias = HAS_NON_ENV_NAME_CHAR.test(keyId) ? this.#keys.get(environmentSafeKeyId(keyId)) : undefined;
    return alias ?? this.#fallback;
  }
}

/** @internal */
export function makeEntry(key: Uint8Array, source: KeySource): KeyEntry {
  const copy = Buffer.from(key);
  return { key: copy, source, fingerprint: keyFingerprint(copy) };
}
