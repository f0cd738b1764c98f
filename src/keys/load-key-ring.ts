import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeKeyId, KeyConfigError } from '../errors.js';
import { looksLikeKeyValue, parseKeyValue } from './key-material.js';
import { environmentAliasOf, type KeySource, KeyRing, makeEntry } from './key-ring.js';

/** The variable whose key serves every key id that has no variable of its own. */
export const FALLBACK_KEY_VARIABLE = 'TEMPORAL_ENCRYPTION_KEY';
const KEY_VARIABLE_PREFIX = `${FALLBACK_KEY_VARIABLE}_`;

/** The key id new payloads are encrypted with when none is configured. */
export const DEFAULT_ENCRYPTION_KEY_ID = 'default';

/** What {@link validKeyId} accepts, in words, for messages. */
export const KEY_ID_RULE = '1-128 printable ASCII characters, no spaces';

/**
 * The largest key file read. A key value is 44 to a few hundred bytes; a longer text value gets the same warning as in
 * the environment ("only the first 32 bytes are used"). The cap only keeps a file mounted there by mistake (a
 * certificate bundle, a log) from being read whole and parsed as a key.
 */
const MAX_KEY_FILE_BYTES = 4096;

/** Where to read keys from. */
export interface LoadKeyRingOptions {
  /** The environment to read `TEMPORAL_ENCRYPTION_KEY` and `TEMPORAL_ENCRYPTION_KEY_<id>` from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** A directory with one file per key id (the file name is the id), as Kubernetes mounts a Secret. */
  keysDir?: string;
  /** The active key id (`encryptionKeyID`); default `"default"`. */
  encryptionKeyID?: string;
  /** Require a key for the active id (needed to encrypt); default true. */
  requireActiveKey?: boolean;
  /** Receives warnings (for example a text key longer than 32 bytes); they name the source, never the value. */
  onWarning?: (message: string) => void;
}

/**
 * Reads every key from the environment and the keys directory, checks them all, and throws one
 * {@link KeyConfigError} that lists every problem (naming variables and files, never values).
 *
 * @example
 * const keyRing = loadKeyRing({ encryptionKeyID: 'production' });
 * // TEMPORAL_ENCRYPTION_KEY_production=base64:... must be set
 */
export function loadKeyRing(options: LoadKeyRingOptions = {}): KeyRing {
  const env = options.env ?? process.env;
  const activeKeyId = options.encryptionKeyID ?? DEFAULT_ENCRYPTION_KEY_ID;
  const problems: string[] = [];
  const warn = (message: string): void => options.onWarning?.(message);
  const keys = new Map<string, ReturnType<typeof makeEntry>>();
  // Ids whose value was malformed: a missing active key is not reported again when its own value already was.
  const malformed = new Set<string>();

  const reject = (keyId: string, problem: string): void => {
    problems.push(problem);
    malformed.add(keyId);
  };

  const add = (keyId: string, value: string, source: KeySource): void => {
    const parsed = parseKeyValue(value, describeSource(source));
    if (!parsed.ok) {
      reject(keyId, parsed.problem);
      return;
    }
    if (parsed.warning) warn(parsed.warning);
    const existing = keys.get(keyId);
    if (existing && !existing.key.equals(parsed.key)) {
      problems.push(
        `key id "${keyId}" has two different keys, in ${describeSource(existing.source)} and ${describeSource(source)}`,
      );
      return;
    }
    if (!existing) keys.set(keyId, makeEntry(parsed.key, source));
  };

  if (!validKeyId(activeKeyId)) {
    problems.push(`the active key id (encryptionKeyID) must be ${KEY_ID_RULE}`);
  }

  let fallback: ReturnType<typeof makeEntry> | undefined;
  // An empty variable is an unset one, as for the Go codec (os.Getenv gives "" for both) and for Compose files that
  // list `NAME=` to be filled in later: an id whose variable is empty falls back to TEMPORAL_ENCRYPTION_KEY there too.
  const isEmpty = (name: string): boolean => {
    if (env[name] !== '') return false;
    warn(`environment variable ${name} is set but empty: ignored, as if unset`);
    return true;
  };
  const fallbackValue = isEmpty(FALLBACK_KEY_VARIABLE) ? undefined : env[FALLBACK_KEY_VARIABLE];
  if (fallbackValue !== undefined) {
    const source: KeySource = { kind: 'env', name: FALLBACK_KEY_VARIABLE };
    const parsed = parseKeyValue(fallbackValue, describeSource(source));
    if (parsed.ok) {
      if (parsed.warning) warn(parsed.warning);
      fallback = makeEntry(parsed.key, source);
    } else {
      reject(FALLBACK_KEY_VARIABLE, parsed.problem);
    }
  }

  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(KEY_VARIABLE_PREFIX)) continue;
    const keyId = name.slice(KEY_VARIABLE_PREFIX.length);
    const value = env[name];
    if (keyId === '' || value === undefined || isEmpty(name)) continue;
    add(keyId, value, { kind: 'env', name });
  }

  if (options.keysDir !== undefined) readKeysDir(options.keysDir, add, reject, problems);

  // `prod-eu` is served by its own key when it has one, else by that of PROD_EU: two different keys under the two
  // spellings mean that whichever one another codec (or a shell that cannot set `..._prod-eu`) uses, half the payloads
  // of the id do not decrypt. The same conflict as two keys for one spelling, reported the same way.
  for (const [keyId, entry] of keys) {
    const alias = environmentAliasOf(keyId);
    const aliased = alias === undefined ? undefined : keys.get(alias);
    if (alias !== undefined && aliased && !aliased.key.equals(entry.key)) {
      problems.push(
        `key id ${describeKeyId(keyId)} has two different keys, in ${describeSource(entry.source)} and ` +
          `${describeSource(aliased.source)} (its environment-safe spelling ${alias})`,
      );
    }
  }

  // A key value given as the active id (pasted into --key-id, the config file or DIR/.active-key-id) would be printed
  // and written into every payload's metadata: refused, and never repeated in a message.
  const loadedKeys = [...keys.values(), ...(fallback ? [fallback] : [])].map((entry) => entry.key);
  const activeIsKeyValue = looksLikeKeyValue(activeKeyId, loadedKeys);
  if (activeIsKeyValue) {
    problems.push('the active key id (encryptionKeyID) looks like a key value, not a key id: give the key id');
  }

  const ring = new KeyRing(activeKeyId, keys, fallback);
  // Malformed values that would have served the active id were reported already. The alias counts only where the
  // wire format tries it: PROD_EU can serve prod-eu, but DEFAULT never serves default.
  const activeAlias = environmentAliasOf(activeKeyId);
  const activeAlreadyReported =
    activeIsKeyValue ||
    !validKeyId(activeKeyId) ||
    malformed.has(activeKeyId) ||
    (activeAlias !== undefined && malformed.has(activeAlias)) ||
    malformed.has(FALLBACK_KEY_VARIABLE);
  if ((options.requireActiveKey ?? true) && !activeAlreadyReported && !ring.has(activeKeyId)) {
    problems.push(
      // An id a variable name cannot hold (2026-11) is named in the spelling a shell can export (2026_11).
      `no key for the active key id "${activeKeyId}": set ${KEY_VARIABLE_PREFIX}${activeAlias ?? activeKeyId} or ` +
        `${FALLBACK_KEY_VARIABLE}${options.keysDir !== undefined ? `, or add the file "${activeKeyId}" to ${options.keysDir}` : ''}`,
    );
  }
  if (problems.length > 0) throw new KeyConfigError(problems);
  return ring;
}

function readKeysDir(
  dir: string,
  add: (keyId: string, value: string, source: KeySource) => void,
  reject: (keyId: string, problem: string) => void,
  problems: string[],
): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    problems.push(`keys directory ${dir} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return;
  }
  // Kubernetes mounts a Secret as files plus `..data` and timestamped `..<date>` entries: skip every dotfile.
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    try {
      const stat = statSync(path);
      if (!stat.isFile()) continue;
      const bytes = stat.size > MAX_KEY_FILE_BYTES ? undefined : readFileSync(path);
      if (bytes === undefined || bytes.length > MAX_KEY_FILE_BYTES) {
        const size = bytes?.length ?? stat.size;
        const limit = `at most ${MAX_KEY_FILE_BYTES} bytes`;
        reject(name, `key file ${path} is ${size} bytes; a key file holds one key value (${limit})`);
        continue;
      }
      // Files written by editors and `echo` end in a newline that is not part of the key.
      add(name, bytes.toString('utf8').replace(/\r?\n$/, ''), { kind: 'file', name: path });
    } catch (error) {
      reject(name, `key file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}

function describeSource(source: KeySource): string {
  return source.kind === 'env' ? `environment variable ${source.name}` : `key file ${source.name}`;
}

/**
 * Whether a configured key id is acceptable: {@link KEY_ID_RULE}. Key ids travel in payload metadata, variable names,
 * log lines and metric labels. ASCII on purpose, not printable Unicode: "clé" can be written as two different code
 * point sequences (NFC and NFD) that look the same in every log and dashboard but are different ids with different
 * keys, confusable letters from other scripts look like ASCII ones, and the environment-safe spelling turns every
 * non-ASCII character into `_`, so distinct ids would share one variable name.
 */
export function validKeyId(keyId: string): boolean {
  return /^[\x21-\x7e]{1,128}$/.test(keyId);
}
