import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyConfigError } from '../errors.js';
import { looksLikeKeyValue } from './key-material.js';
import { KEY_ID_RULE, validKeyId } from './load-key-ring.js';

/**
 * A file in the keys directory that names the active key id. A dotfile, so that the key loader (which skips dotfiles,
 * as Kubernetes adds `..data`) never reads it as a key; kept in the same Secret as the keys, one update adds a key and
 * makes it active at once.
 */
export const ACTIVE_KEY_ID_FILE = '.active-key-id';

/**
 * The key id `DIR/.active-key-id` names, or undefined when the file does not exist; throws a {@link KeyConfigError}
 * naming the file when it cannot be read or does not hold one valid key id. The one reader of the file, shared by
 * `temporal-codec serve` and the key tools, so that they agree on which key is active.
 */
function readActiveKeyIdFile(keysDir: string): string | undefined {
  const path = join(keysDir, ACTIVE_KEY_ID_FILE);
  let text: string;
  try {
    // Editors and `echo` add a trailing newline, and `kubectl create secret --from-file` keeps it.
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new KeyConfigError([`${path} cannot be read (${code ?? 'error'})`]);
  }
  if (!validKeyId(text)) {
    throw new KeyConfigError([`${path} must hold one key id (${KEY_ID_RULE})`]);
  }
  // The form alone here; loadKeyRing also compares the id with the keys it loads (a text key has no form).
  if (looksLikeKeyValue(text)) {
    throw new KeyConfigError([`${path} holds what looks like a key value, not a key id: write the key id there`]);
  }
  return text;
}

/**
 * The active key id as the codec server picks it: the one `DIR/.active-key-id` names when `keysDir` has that file,
 * else `configured` (`--key-id`, `TEMPORAL_CODEC_ENCRYPTION_KEY_ID` or the config file).
 */
export function resolveActiveKeyId(keysDir: string | undefined, configured: string | undefined): string | undefined {
  return (keysDir === undefined ? undefined : readActiveKeyIdFile(keysDir)) ?? configured;
}
