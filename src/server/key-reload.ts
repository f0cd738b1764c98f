import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { KeyConfigError, type KeyRing, loadKeyRing } from '../index.js';
import { resolveActiveKeyId } from '../keys/active-key-id-file.js';
import type { CodecsLookup } from './codec-route.js';
import type { CodecSet } from './namespaces.js';
import { watchDir } from './watch-dir.js';

/** Where the server's keys come from; read at start-up and again at every reload. */
export interface KeySource {
  /** The `TEMPORAL_ENCRYPTION_KEY*` variables, as read at start-up (a process's environment does not change). */
  env: Readonly<Record<string, string | undefined>>;
  keysDir?: string;
  /** The configured active key id (`--key-id`); `.active-key-id` in `keysDir` wins over it. */
  encryptionKeyID: string;
}

/** Loads the key ring from `source`; throws one {@link KeyConfigError} listing every problem (never a key value). */
export function loadServerKeyRing(source: KeySource, onWarning?: (message: string) => void): KeyRing {
  const encryptionKeyID = resolveActiveKeyId(source.keysDir, source.encryptionKeyID);
  return loadKeyRing({ env: source.env, keysDir: source.keysDir, encryptionKeyID, ...(onWarning ? { onWarning } : {}) });
}

export interface KeyReloaderOptions {
  /** The codecs built from the keys read at start-up. */
  initial: CodecSet & { keyRing: KeyRing };
  /** Reads the keys again; throws a KeyConfigError. */
  load: (onWarning: (message: string) => void) => KeyRing;
  /**
   * Builds the codecs of a new ring; throws a KeyConfigError when the ring does not suit the configuration. Its
   * warnings are logged once the ring is in use.
   */
  build: (keyRing: KeyRing, onWarning: (message: string) => void) => CodecSet;
  logger: Logger;
  /** Watched for changes when given. */
  keysDir?: string;
  /** Milliseconds of quiet after a change before reloading (a Secret update is several file events). */
  debounceMs?: number;
  /**
   * Milliseconds between checks that need no event: fs.watch misses changes on some file systems and when the
   * watched directory itself is replaced. 0 turns them off.
   */
  pollMs?: number;
  registry?: Registry;
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'rejected';

/**
 * Holds the server's current codecs and swaps them for new ones when the keys change: on {@link reload} (SIGHUP) and,
 * with {@link watch}, when files in the keys directory change. A swap replaces one reference: a request takes its
 * codecs once (`codecsFor`) and keeps them to its end, so in-flight requests finish with the keys they started with.
 * A key set that does not load, or lacks a key the configuration needs, is rejected and the current one kept.
 */
export class KeyReloader {
  #current: CodecSet & { keyRing: KeyRing };
  readonly #options: KeyReloaderOptions;
  readonly #reloads: Counter<'outcome'>;
  #stopWatching: (() => void) | undefined;
  #lastRejection = '';

  constructor(options: KeyReloaderOptions) {
    this.#options = options;
    this.#current = options.initial;
    this.#reloads = new Counter({
      name: 'temporal_codec_key_reloads_total',
      help: 'Key reloads by outcome: reloaded (new keys in use), unchanged, rejected (the previous keys kept).',
      labelNames: ['outcome'],
      registers: options.registry ? [options.registry] : [],
    });
  }

  /** The current codecs for a namespace; the lookup to give `createCodecServer`. */
  readonly codecsFor: CodecsLookup = (namespace) => this.#current.codecsFor(namespace);

  get keyRing(): KeyRing {
    return this.#current.keyRing;
  }

  /** Reads the keys now and swaps them in if they changed and are usable. */
  reload(trigger: string): ReloadOutcome {
    const { logger } = this.#options;
    const warnings: string[] = [];
    let next: CodecSet;
    try {
      const keyRing = this.#options.load((warning) => warnings.push(warning));
      if (signature(keyRing) === signature(this.#current.keyRing)) {
        this.#lastRejection = '';
        this.#count('unchanged');
        // An operator who sent SIGHUP gets an answer; polls and duplicate file events stay quiet.
        logger[trigger === 'SIGHUP' ? 'info' : 'debug']({ trigger, activeKeyId: keyRing.activeKeyId }, 'keys unchanged');
        return 'unchanged';
      }
      next = this.#options.build(keyRing, (warning) => warnings.push(warning));
    } catch (error) {
      // Anything else that goes wrong reading them (it runs from timers and signal handlers) also keeps the old keys.
      const problems =
        error instanceof KeyConfigError
          ? error.problems
          : [`the keys could not be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).name ?? 'error'})`];
      this.#count('rejected');
      const text = problems.join('\n');
      // A poll finds the same broken set again and again: say it once per distinct problem (an operator's SIGHUP
      // always gets its answer).
      const level = text === this.#lastRejection && trigger !== 'SIGHUP' ? 'debug' : 'error';
      this.#lastRejection = text;
      logger[level]({ trigger, problems }, 'key reload rejected: keeping the previous keys');
      return 'rejected';
    }
    const before = new Set(this.#current.keyRing.keyIds());
    const after = next.keyRing!;
    this.#current = next as CodecSet & { keyRing: KeyRing };
    this.#lastRejection = '';
    this.#count('reloaded');
    for (const warning of warnings) logger.warn(warning);
    logger.info(
      {
        trigger,
        activeKeyId: after.activeKeyId,
        keys: after.describe().map((k) => ({ keyId: k.keyId, fingerprint: k.fingerprint, active: k.active })),
        added: after.keyIds().filter((id) => !before.has(id)),
        removed: [...before].filter((id) => !after.keyIds().includes(id)),
      },
      'keys reloaded',
    );
    return 'reloaded';
  }

  /** Reloads when files in the keys directory change (debounced), and polls as a fallback. */
  watch(): void {
    const { keysDir, debounceMs, pollMs, logger } = this.#options;
    if (keysDir === undefined || this.#stopWatching) return;
    const options = { what: 'keys directory', logger, debounceMs, pollMs };
    this.#stopWatching = watchDir(keysDir, options, (trigger) => this.reload(trigger));
  }

  /** Stops watching. */
  close(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
  }

  #count(outcome: ReloadOutcome): void {
    this.#reloads.labels(outcome).inc();
  }
}

/** What identifies a key set: ids, fingerprints, the active id. Not the keys. */
function signature(ring: KeyRing): string {
  const keys = ring.describe().map((k) => `${k.keyId}:${k.fingerprint}`);
  return `${ring.activeKeyId}|${keys.join(',')}`;
}
