import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { ReloadOutcome } from '../key-reload.js';
import { watchDir } from '../watch-dir.js';
import type { StaticToken } from './static-tokens.js';

/**
 * A token list read again: every token (the file's and the variable's) with the warnings start-up would give about
 * them, or the problems that refuse it.
 */
export type TokenRead =
  | { tokens: readonly StaticToken[]; warnings?: readonly string[] }
  | { problems: readonly string[] };

export interface TokenReloaderOptions {
  /** The tokens in use, read at start-up. */
  initial: readonly StaticToken[];
  /** Reads the tokens file (and the variable's tokens) again, with the checks of start-up. */
  read: () => TokenRead;
  /** Puts new tokens in use. */
  apply: (tokens: readonly StaticToken[]) => void;
  logger: Logger;
  /** The directory of the tokens file, watched when given. */
  dir?: string;
  debounceMs?: number;
  pollMs?: number;
  registry?: Registry;
}

/**
 * Swaps the static tokens when the tokens file changes: on {@link reload} (SIGHUP) and, with {@link watch}, when files
 * in its directory change, so that a token is added or revoked without a restart. A list that does not read (a file
 * gone or unreadable, malformed, a duplicate, no token at all) is refused and the tokens in use kept. Log lines name
 * tokens, never show them.
 */
export class TokenReloader {
  #current: readonly StaticToken[];
  readonly #options: TokenReloaderOptions;
  readonly #reloads: Counter<'outcome'>;
  #stopWatching: (() => void) | undefined;
  #lastRejection = '';

  constructor(options: TokenReloaderOptions) {
    this.#options = options;
    this.#current = options.initial;
    this.#reloads = new Counter({
      name: 'temporal_codec_token_reloads_total',
      help: 'Reloads of the tokens file by outcome: reloaded (new tokens in use), unchanged, rejected (previous kept).',
      labelNames: ['outcome'],
      registers: options.registry ? [options.registry] : [],
    });
  }

  /** Reads the tokens now and puts them in use if they changed and are usable. */
  reload(trigger: string): ReloadOutcome {
    const { logger } = this.#options;
    let read: TokenRead;
    try {
      read = this.#options.read();
    } catch (error) {
      // It runs from timers and signal handlers: anything else that goes wrong also keeps the tokens in use.
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
      read = { problems: [`the tokens could not be read (${code})`] };
    }
    if ('problems' in read) {
      this.#reloads.labels('rejected').inc();
      const text = read.problems.join('\n');
      // A poll finds the same broken list again and again: say it once per distinct problem (an operator's SIGHUP
      // always gets its answer). The rejected count keeps growing meanwhile, for an alert.
      logger[text === this.#lastRejection && trigger !== 'SIGHUP' ? 'debug' : 'error'](
        { trigger, problems: read.problems },
        'token reload rejected: keeping the previous tokens',
      );
      this.#lastRejection = text;
      return 'rejected';
    }
    this.#lastRejection = '';
    if (signature(read.tokens) === signature(this.#current)) {
      this.#reloads.labels('unchanged').inc();
      logger[trigger === 'SIGHUP' ? 'info' : 'debug']({ trigger }, 'tokens unchanged');
      return 'unchanged';
    }
    const before = new Set(this.#current.map((token) => token.name));
    const after = read.tokens.map((token) => token.name);
    this.#options.apply(read.tokens);
    this.#current = read.tokens;
    this.#reloads.labels('reloaded').inc();
    for (const warning of read.warnings ?? []) logger.warn(warning);
    logger.info(
      {
        trigger,
        tokens: after,
        added: after.filter((name) => !before.has(name)),
        removed: [...before].filter((name) => !after.includes(name)),
      },
      'tokens reloaded',
    );
    return 'reloaded';
  }

  /** Reloads when files in the tokens file's directory change (debounced), and polls as a fallback. */
  watch(): void {
    const { dir, logger, debounceMs, pollMs } = this.#options;
    if (dir === undefined || this.#stopWatching) return;
    const options = { what: 'tokens directory', logger, debounceMs, pollMs };
    this.#stopWatching = watchDir(dir, options, (trigger) => this.reload(trigger));
  }

  /** Stops watching. */
  close(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
  }
}

/** What identifies a token list: each token's name, digest, namespaces and rights, in order. Digests, not tokens. */
function signature(tokens: readonly StaticToken[]): string {
  return tokens
    .map((token) => {
      const namespaces = token.namespaces === '*' ? '*' : [...token.namespaces].sort().join(',');
      return `${token.name}:${token.digest.toString('hex')}:${namespaces}:${[...token.rights].sort().join(',')}`;
    })
    .join('|');
}
