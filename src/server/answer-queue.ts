import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ResponseWithError } from './logging.js';

/**
 * How long, at most, an answer waits for the others of its batch, in milliseconds (plus the time of the request being
 * worked on when it runs out). A 1 KiB decode takes about 0.2 ms of CPU, so a batch holds about ten of them.
 */
export const DEFAULT_MAX_ANSWER_DELAY_MS = 2;

/**
 * A request body of this size or more is worked on only after the answers waiting are written: decoding 50 KB of
 * compressed payload or encoding 32 KB of plain payload takes about a millisecond or more.
 */
export const LARGE_BODY_BYTES = 32 * 1024;

/**
 * Codec answers written together: the answers finished while the event loop handles one batch of readable sockets
 * are queued and written in the loop's next check phase (`setImmediate`), one after another.
 *
 * Why: a socket write that makes a waiting client readable wakes that client, and on a virtual machine the wake of an
 * idle CPU is a costly interrupt, charged to the writer. Written together, the client reads the whole batch in one
 * wake and sends its next requests together, so the next batch is as large. See BENCHMARKS.md ("Answers written
 * together") for the figures.
 *
 * An answer waits at most until the other requests of its batch are done: never more than `maxDelayMs` after the
 * first answer of the batch plus the request being worked on then, and never behind a large body (see
 * {@link beforeWork}). With one request at a time (the Web UI's pattern) every batch is one answer, written in the
 * same turn of the loop.
 */
export class AnswerQueue {
  #queue: Array<{ res: ServerResponse; text: string; length: number }> = [];
  #firstQueuedAt = 0;
  readonly #maxDelayMs: number;
  readonly #flush = (): void => this.flush();

  constructor(maxDelayMs: number = DEFAULT_MAX_ANSWER_DELAY_MS) {
    this.#maxDelayMs = maxDelayMs;
  }

  /**
   * Queues a 200 answer: a JSON text of `length` bytes (UTF-8). Nothing is written to `res` before the queue is
   * flushed, so its headers can still change meanwhile (shutdown adds `Connection: close`).
   */
  send(res: ServerResponse, text: string, length: number): void {
    if (this.#queue.length === 0) {
      this.#firstQueuedAt = performance.now();
      setImmediate(this.#flush);
    }
    this.#queue.push({ res, text, length });
    if (this.#queue.length > 1 && this.#batchIsOld()) this.flush();
  }

  /** Called before a request's codec work: writes what waits first if the body is large or the batch is old. */
  beforeWork(bodyBytes: number): void {
    if (this.#queue.length === 0) return;
    if (bodyBytes >= LARGE_BODY_BYTES || this.#batchIsOld()) this.flush();
  }

  #batchIsOld(): boolean {
    return performance.now() - this.#firstQueuedAt >= this.#maxDelayMs;
  }

  /** Writes every queued answer, in the order queued. */
  flush(): void {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    for (const { res, text, length } of batch) {
      // A client that went away meanwhile: its 'close' already logged the request as aborted.
      if (res.destroyed) continue;
      try {
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Content-Length': length,
          // Decoded payloads are plaintext: no browser or proxy cache keeps them.
          'Cache-Control': 'no-store',
        });
        res.end(text);
      } catch (error) {
        // A bug, not the client's doing: this connection is cut and its request line carries the error; the rest of
        // the batch is still answered.
        (res as ResponseWithError).err = error instanceof Error ? error : new Error(String(error));
        res.destroy();
      }
    }
  }
}
