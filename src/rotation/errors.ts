import { describeKeyId, KeyConfigError } from '../errors.js';

/**
 * A document holds payloads under key ids the key ring has no key for, so they cannot be rewrapped; nothing was
 * changed. A key configuration problem (`ERR_KEY_CONFIG`): load the old keys too, then run again. `keyIds` lists
 * every missing id; the message names each with how many payloads need it and where the first one is.
 */
export class RewrapKeyMissingError extends KeyConfigError {
  /** The missing key ids, sorted. */
  readonly keyIds: readonly string[];

  constructor(missing: ReadonlyMap<string, { count: number; firstPath: string }>) {
    const keyIds = [...missing.keys()].sort();
    super(
      keyIds.map((keyId) => {
        const { count, firstPath } = missing.get(keyId)!;
        return (
          `no key for encryption-key-id ${describeKeyId(keyId)}, which ${count} payload(s) to rewrap need ` +
          `(the first at ${firstPath === '' ? 'the top level' : firstPath})`
        );
      }),
    );
    this.keyIds = keyIds;
  }
}
