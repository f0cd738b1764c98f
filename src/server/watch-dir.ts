import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from 'pino';

export interface WatchDirOptions {
  /** What the directory holds, for the trigger and log lines: `keys directory`, `tokens directory`. */
  what: string;
  logger: Logger;
  /** Milliseconds of quiet after a change before `onChange` (a Secret update is several file events). */
  debounceMs?: number | undefined;
  /**
   * Milliseconds between calls that need no event: fs.watch misses changes on some file systems and when the watched
   * directory itself is replaced. 0 turns them off.
   */
  pollMs?: number | undefined;
}

/**
 * Calls `onChange` when files in `dir` change (debounced, with the trigger `<what> changed`) and every `pollMs` (with
 * the trigger `poll`) as a fallback; a watch that fails is started again at the next poll. Returns the function that
 * stops it all. The timers do not keep the process alive.
 */
export function watchDir(dir: string, options: WatchDirOptions, onChange: (trigger: string) => void): () => void {
  const { what, logger, debounceMs = 500, pollMs = 30_000 } = options;
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => onChange(`${what} changed`), debounceMs);
    debounce.unref();
  };
  const startWatching = (): void => {
    try {
      // Kubernetes swaps the `..data` symlink in a mounted Secret's directory: a rename event here, whatever changed.
      watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', (error) => {
        logger.warn({ dir, code: (error as NodeJS.ErrnoException).code }, `${what} watch failed; polling`);
        watcher?.close();
        watcher = undefined;
      });
    } catch (error) {
      logger.warn({ dir, code: (error as NodeJS.ErrnoException).code }, `cannot watch the ${what}; polling`);
    }
  };
  startWatching();
  const poll =
    pollMs > 0
      ? setInterval(() => {
          if (!watcher) startWatching();
          onChange('poll');
        }, pollMs)
      : undefined;
  poll?.unref();
  return () => {
    clearTimeout(debounce);
    clearInterval(poll);
    watcher?.close();
    watcher = undefined;
  };
}
