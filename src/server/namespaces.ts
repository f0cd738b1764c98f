import { readFileSync } from 'node:fs';
import type { Payload } from '@temporalio/common';
import { parseDocument } from 'yaml';
import { type CodecOptions, CompressionCodec, EncryptionCodec, encryptionKeyIdOf, type KeyRing } from '../index.js';
import { FALLBACK_KEY_ID } from '../keys/key-ring.js';
import { KEY_ID_RULE, validKeyId } from '../keys/load-key-ring.js';
import { AuthError } from './auth/auth-error.js';
import type { CodecsLookup } from './codec-route.js';
import type { Given, SettingsReader } from './config-source.js';
import { createServerCodecs, type ServerCodecs } from './codecs.js';

/** The keys of one namespace: the key ids it may decode (exact, or a prefix ending in `*`) and the one it encodes with. */
export interface NamespaceKeys {
  keyIds: readonly string[];
  /**
   * The key id it encodes with; absent: the key set's active id (`--key-id`, or `.active-key-id` in the keys
   * directory, which a reload picks up), which must then be one of `keyIds`.
   */
  activeKeyId?: string;
}

/** Namespace name to its keys; the entry `"*"` serves every namespace without one of its own. */
export type NamespaceKeyMap = ReadonlyMap<string, NamespaceKeys>;
export const OTHER_NAMESPACES = '*';

/**
 * Reads `{ <namespace>: { keyIds: [...], activeKeyId } }` (from `--namespace-keys` or the `namespaces:` section of
 * the config file). Problems go to `problems`, naming `where` and the namespace.
 */
export function parseNamespaceKeys(value: unknown, where: string, problems: string[]): NamespaceKeyMap | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0) {
    problems.push(`${where} must map namespace names to {keyIds: [...], activeKeyId}`);
    return undefined;
  }
  const map = new Map<string, NamespaceKeys>();
  for (const [namespace, entry] of Object.entries(value)) {
    const at = `${where}: namespace "${namespace.slice(0, 100)}"`;
    const before = problems.length;
    const fields = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    for (const field of Object.keys(fields)) {
      if (field !== 'keyIds' && field !== 'activeKeyId') problems.push(`${at} has an unknown field "${field.slice(0, 40)}"`);
    }
    const { activeKeyId } = fields;
    if (activeKeyId !== undefined && (typeof activeKeyId !== 'string' || !validKeyId(activeKeyId))) {
      problems.push(`${at}: activeKeyId must be a key id (${KEY_ID_RULE})`);
    }
    const keyIds = fields.keyIds ?? (typeof activeKeyId === 'string' ? [activeKeyId] : undefined);
    if (keyIds === undefined) {
      problems.push(`${at} needs keyIds, the key ids it may decode, or activeKeyId`);
    } else if (!Array.isArray(keyIds) || keyIds.length === 0 || !keyIds.every((id) => typeof id === 'string' && validKeyId(id))) {
      problems.push(`${at}: keyIds must be a non-empty list of key ids (a trailing * matches by prefix)`);
    } else if (typeof activeKeyId === 'string' && !keyIds.some((pattern) => matches(pattern, activeKeyId))) {
      problems.push(`${at}: activeKeyId "${activeKeyId}" must be one of its keyIds`);
    }
    if (problems.length === before) {
      map.set(namespace, { keyIds: keyIds as string[], ...(typeof activeKeyId === 'string' ? { activeKeyId } : {}) });
    }
  }
  return map;
}

/** Reads the namespace-keys file a setting names: YAML or JSON, the mapping itself or `{namespaces: {...}}`. */
function readNamespaceKeysFile(reader: SettingsReader, given: Given): NamespaceKeyMap | undefined {
  const text = reader.readFile(given)?.toString('utf8');
  if (text === undefined) return undefined;
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    reader.problems.push(`${given.source}: ${given.text} is not valid YAML or JSON`);
    return undefined;
  }
  const root = document.toJSON() as Record<string, unknown> | null;
  const mapping = root && typeof root === 'object' && 'namespaces' in root ? root.namespaces : root;
  return parseNamespaceKeys(mapping, `${given.source} ${given.text}`, reader.problems);
}

/**
 * The namespace keys of `--namespace-keys` (`TEMPORAL_CODEC_NAMESPACE_KEYS`), or of the `namespaces:` section of the
 * config file; undefined when neither is given. A broken config file was already reported by the codec options.
 */
export function readNamespaceKeys(reader: SettingsReader, configFile: string | undefined): NamespaceKeyMap | undefined {
  const given = reader.given('namespaceKeys');
  let section: unknown;
  if (configFile) {
    try {
      const root = parseDocument(readFileSync(configFile, 'utf8')).toJSON() as Record<string, unknown> | null;
      section = root && typeof root === 'object' ? root.namespaces : undefined;
    } catch {
      section = undefined;
    }
  }
  if (given && section !== undefined) {
    reader.problems.push(`${given.source} and the namespaces section of ${configFile}: give one of them`);
    return undefined;
  }
  if (given) return readNamespaceKeysFile(reader, given);
  if (section === undefined || section === null) return undefined;
  return parseNamespaceKeys(section, `${configFile}: namespaces`, reader.problems);
}

function matches(pattern: string, keyId: string): boolean {
  return pattern.endsWith('*') ? keyId.startsWith(pattern.slice(0, -1)) : pattern === keyId;
}

/**
 * The key ids a namespace may use in this ring: its exact ids, every ring id one of its prefixes matches, and the id it
 * encodes with (which a prefix may name while its key is an environment-safe alias's or the fallback's: `ord-*` with
 * `TEMPORAL_ENCRYPTION_KEY_ORD_1` serving `ord-1`).
 */
export function namespaceKeyIds(entry: NamespaceKeys, ring: KeyRing): string[] {
  const ids = new Set(entry.keyIds.filter((pattern) => !pattern.endsWith('*')));
  for (const id of ring.keyIds()) if (entry.keyIds.some((pattern) => matches(pattern, id))) ids.add(id);
  const active = entry.activeKeyId ?? ring.activeKeyId;
  if (ring.has(active)) ids.add(active);
  return [...ids];
}

/**
 * What the mapping needs that the ring lacks: every exact key id and every active key id must have a key, and a
 * namespace that follows the ring's active id must list it.
 */
export function namespaceKeyProblems(map: NamespaceKeyMap, ring: KeyRing): string[] {
  const problems: string[] = [];
  for (const [namespace, entry] of map) {
    const active = entry.activeKeyId ?? ring.activeKeyId;
    if (entry.activeKeyId === undefined && !entry.keyIds.some((pattern) => matches(pattern, active))) {
      problems.push(
        `namespace "${namespace}" encodes with the active key id "${active}", which is not one of its keyIds ` +
          '(give it an activeKeyId of its own, or list that key id)',
      );
      continue;
    }
    const missing = entry.keyIds.filter((id) => !id.endsWith('*') && !ring.has(id));
    if (!missing.includes(active) && !ring.has(active)) missing.unshift(active);
    for (const id of missing) problems.push(`namespace "${namespace}" uses key id "${id}", which has no key`);
  }
  return problems;
}

/** Keys an anonymous-decode namespace opens that others can encrypt with. */
export interface AnonymousKeySharing {
  /** The anonymous-decode namespace. */
  namespace: string;
  /** It has no entry of its own: the `"*"` entry serves it. */
  throughOtherEntry: boolean;
  /**
   * Who else can encrypt with those keys: the entry of another namespace (or {@link OTHER_NAMESPACES}, every namespace
   * without an entry of its own); `fallback`, the `TEMPORAL_ENCRYPTION_KEY` that serves every key id without a key of
   * its own, which any worker may be encrypting with under any id; or `unlisted`, key ids of the ring that no entry
   * names, which workers may be encrypting with.
   */
  other: { entry: string } | { fallback: true } | { unlisted: true };
  /** The key ids through which the other side uses the keys, each with the anonymous namespace's id when that differs. */
  keys: { keyId: string; as?: string }[];
}

/**
 * Where anonymous decoding reaches payloads that nobody may decode anonymously: the keys (not only the key ids) an
 * anonymous namespace's ring holds that others can encrypt with. Keys are compared by fingerprint, since a payload's
 * key id is not authenticated: a caller who may use a key under one id decrypts payloads written under any other id
 * of it (an environment-safe alias, a value given twice). Others are another namespace's entry; the `"*"` entry, which
 * always counts (it serves every namespace without an entry, and only the listed ones are anonymous, so an anonymous
 * namespace without an entry shares every key of the `"*"` entry, and one without either has no keys at all: 404);
 * the `TEMPORAL_ENCRYPTION_KEY` fallback, which serves every id without a key of its own, whoever encrypts with it;
 * and ring ids no entry names. Call {@link namespaceKeyProblems} first.
 */
export function anonymousKeySharing(
  map: NamespaceKeyMap,
  ring: KeyRing,
  anonymous: readonly string[],
): AnonymousKeySharing[] {
  const open = new Set(anonymous);
  const keysOf = (keyIds: readonly string[]) =>
    keyIds.flatMap((keyId) => {
      const fingerprint = ring.fingerprint(keyId);
      return fingerprint === undefined ? [] : [{ keyId, fingerprint }];
    });
  const idsOf = new Map([...map].map(([name, entry]) => [name, namespaceKeyIds(entry, ring)] as const));
  const named = new Set([...idsOf.values()].flat());
  const unlisted = keysOf(ring.keyIds().filter((keyId) => !named.has(keyId)));
  const found: AnonymousKeySharing[] = [];
  for (const namespace of open) {
    const own = map.has(namespace);
    const ownKeys = keysOf(idsOf.get(own ? namespace : OTHER_NAMESPACES) ?? []);
    if (ownKeys.length === 0) continue;
    const ownIds = new Set(ownKeys.map(({ keyId }) => keyId));
    const opened = new Map<string, string>();
    for (const { keyId, fingerprint } of ownKeys) if (!opened.has(fingerprint)) opened.set(fingerprint, keyId);
    const shared = (other: AnonymousKeySharing['other'], keys: AnonymousKeySharing['keys']): void => {
      if (keys.length > 0) found.push({ namespace, throughOtherEntry: !own, other, keys });
    };
    const sharedWith = (others: readonly { keyId: string; fingerprint: string }[]) =>
      others.flatMap(({ keyId, fingerprint }) => {
        const as = opened.get(fingerprint);
        if (as === undefined) return [];
        return [ownIds.has(keyId) ? { keyId } : { keyId, as }];
      });
    shared(
      { fallback: true },
      ownKeys.filter(({ keyId }) => ring.servingKeyId(keyId) === FALLBACK_KEY_ID).map(({ keyId }) => ({ keyId })),
    );
    for (const [otherEntry, ids] of idsOf) {
      if (otherEntry === namespace || (otherEntry !== OTHER_NAMESPACES && open.has(otherEntry))) continue;
      shared({ entry: otherEntry }, sharedWith(keysOf(ids)));
    }
    shared({ unlisted: true }, sharedWith(unlisted));
  }
  return found;
}

/** An encryption codec that decodes only payloads of its namespace's key ids, refusing others by name. */
class NamespaceEncryptionCodec extends EncryptionCodec {
  readonly #where: string;

  constructor(keyRing: KeyRing, namespace: string) {
    super({ keyRing });
    this.#where =
      namespace === OTHER_NAMESPACES
        ? 'a namespace without keys of its own (the "*" entry)'
        : `namespace ${JSON.stringify(namespace)}`;
  }

  override decryptPayload(payload: Payload): Payload {
    const keyId = encryptionKeyIdOf(payload);
    if (keyId !== undefined && !this.keyRing.has(keyId)) {
      // The same answer whether the id has a key in another namespace or none at all: no oracle across namespaces.
      throw new AuthError(
        'forbidden_key',
        `a payload encrypted with key id ${JSON.stringify(keyId.slice(0, 128))} may not be decoded in ` +
          `${this.#where}: that key id is not one of the namespace's keys`,
      );
    }
    return super.decryptPayload(payload);
  }
}

/** The codecs of one key set: one `ServerCodecs` for every namespace, or one per mapped namespace. Immutable. */
export interface CodecSet {
  keyRing: KeyRing | undefined;
  codecsFor: CodecsLookup;
}

/**
 * Builds the codecs of a key set. Without a mapping, every namespace shares `keyRing`. With one, a namespace gets a
 * ring restricted to its key ids ({@link KeyRing.restrictedTo}) that encrypts with its active key; a namespace with
 * no entry (and no `"*"` entry) gets none, which the codec route answers with 404 (the server names a request without
 * a namespace `default`). Call {@link namespaceKeyProblems} first.
 */
export function buildCodecSet(
  options: CodecOptions,
  keyRing: KeyRing | undefined,
  map: NamespaceKeyMap | undefined,
): CodecSet {
  // The ring decides the active key id (createPayloadCodecs would let an encryptionKeyID option override it).
  const { encryptionKeyID: _active, keysDir: _dir, ...codecOptions } = options;
  const shared = createServerCodecs({ ...codecOptions, ...(keyRing ? { keyRing } : {}) });
  if (!map || !keyRing) return { keyRing, codecsFor: () => shared };
  const byNamespace = new Map<string, ServerCodecs>();
  for (const [namespace, entry] of map) {
    const ring = keyRing.restrictedTo(namespaceKeyIds(entry, keyRing), entry.activeKeyId ?? keyRing.activeKeyId);
    const codecs = createServerCodecs({ ...codecOptions, keyRing: ring });
    const encryption = new NamespaceEncryptionCodec(ring, namespace);
    // The binary/encrypted payload inside a binary/zlib one (Go's zlib(encrypted(x))) is decrypted by the same codec,
    // so an inner key id outside the namespace is refused as an outer one is (forbidden_key, not a decryption error).
    const { compress, compressionThreshold, maxDecompressedBytes } = codecs.compression;
    const compression = new CompressionCodec({
      compress,
      compressionThreshold,
      maxDecompressedBytes,
      innerDecoder: encryption,
    });
    byNamespace.set(namespace, { ...codecs, compression, encryption });
  }
  const other = byNamespace.get(OTHER_NAMESPACES);
  return {
    keyRing,
    codecsFor: (namespace) => byNamespace.get(namespace) ?? other,
  };
}
