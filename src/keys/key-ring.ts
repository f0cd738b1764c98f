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

/**
 * One character an environment variable name cannot hold. With the `u` flag the pattern matches a whole code point, so
 * a character outside the Basic Multilingual Plane (two UTF-16 code units, e.g. an emoji) becomes one `_`, as it does
 * where a string is read as characters (Go's `range` over a string yields code points too).
 */
const NOT_ENV_NAME_CHAR = /[^A-Za-z0-9_]/gu;
const HAS_NON_ENV_NAME_CHAR = /[^A-Za-z0-9_]/u;

/**
 * The name under which a key id whose characters an environment variable cannot hold is also looked up: each such
 * character (per code point) as `_`, then upper-cased (`prod-eu` is also found as `PROD_EU`, `straße` as `STRA_E`).
 */
export function environmentSafeKeyId(keyId: string): string {
  // Replace first, then upper-case: the string is ASCII by then, so toUpperCase cannot expand a character (Unicode
  // rules turn "ß" into "SS" and "ſ" into "S", which would name another variable than the one `keygen` prints).
  return keyId.replace(NOT_ENV_NAME_CHAR, '_').toUpperCase();
}

/**
 * The environment-safe spelling a key id is also looked up under ({@link environmentSafeKeyId}), or undefined when the
 * wire format tries none: an id made only of environment-name characters is looked up only as written.
 */
export function environmentAliasOf(keyId: string): string | undefined {
  return HAS_NON_ENV_NAME_CHAR.test(keyId) ? environmentSafeKeyId(keyId) : undefined;
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

  /**
   * Every key's id, source, fingerprint and whether it is active, with no key material. The active one is the key that
   * encrypts new payloads: the active id's own key, its environment-safe alias, or the fallback.
   */
  describe(): KeyInfo[] {
    const activeEntry = this.#entryFor(this.activeKeyId);
    const infos: KeyInfo[] = this.keyIds().map((keyId) => {
      const entry = this.#keys.get(keyId)!;
      return { keyId, source: entry.source, fingerprint: entry.fingerprint, active: entry === activeEntry };
    });
    if (this.#fallback) {
      infos.push({
        keyId: FALLBACK_KEY_ID,
        source: this.#fallback.source,
        fingerprint: this.#fallback.fingerprint,
        active: this.#fallback === activeEntry,
      });
    }
    return infos;
  }

  /**
   * The id under which {@link KeyRing.describe} lists the key that serves this key id: the id itself, its
   * environment-safe alias (`PROD_EU` for `prod-eu`), or `"*"` for the fallback; undefined when no key serves it.
   */
  servingKeyId(keyId: string): string | undefined {
    return this.#lookUp(keyId)?.listedAs;
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
    return this.#lookUp(keyId)?.entry;
  }

  /** The entry serving a key id and the id `describe()` lists it under: the one lookup every method goes through. */
  #lookUp(keyId: string): { entry: KeyEntry; listedAs: string } | undefined {
    // A payload without an encryption-key-id names no key: it is not "an id without a key of its own".
    if (keyId === '') return undefined;
    const own = this.#keys.get(keyId);
    if (own) return { entry: own, listedAs: keyId };
    // The wire format tries the environment-safe spelling only for ids that have characters a variable cannot hold.
    const alias = environmentAliasOf(keyId);
    const aliased = alias === undefined ? undefined : this.#keys.get(alias);
    if (alias !== undefined && aliased) return { entry: aliased, listedAs: alias };
    return this.#fallback ? { entry: this.#fallback, listedAs: FALLBACK_KEY_ID } : undefined;
  }
}

/** @internal */
export function makeEntry(key: Uint8Array, source: KeySource): KeyEntry {
  const copy = Buffer.from(key);
  return { key: copy, source, fingerprint: keyFingerprint(copy) };
}
