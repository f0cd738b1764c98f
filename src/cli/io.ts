import { readFileSync } from 'node:fs';

/** What a command may touch of the outside world; tests pass their own. */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads a file, or standard input for `-`. */
  readInput: (file: string) => Promise<string>;
  /**
   * Waits until what was written to `stdout` has been handed to the system, and resolves to the error that stopped
   * a write, if any (`EPIPE` when the reader closed the pipe early). Optional: output kept in memory cannot fail.
   */
  flush?: () => Promise<NodeJS.ErrnoException | undefined>;
}

/** Thrown by a command to end with a one-line message on stderr and the given exit code. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The streams {@link processIo} writes to; the process's own unless a test passes others. */
export interface OutputStreams {
  stdout: NodeJS.WritableStream & { destroyed?: boolean };
  stderr: NodeJS.WritableStream & { destroyed?: boolean };
}

/** The process's own I/O. */
export function processIo(streams: OutputStreams = process): CliIo {
  const { stdout, stderr } = streams;
  let writeError: NodeJS.ErrnoException | undefined;
  // A stream's 'error' with no listener ends the process with a stack trace: that is what a closed pipe
  // (`temporal-codec decode big.json | head -c 100`) did. Keep the first error for main() to report when the command
  // is done, and stop writing to a stream that failed.
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    writeError ??= error;
  });
  // Standard error has nowhere to report its own failure: drop the output rather than crash.
  stderr.on('error', () => {});
  return {
    env: process.env,
    stdout: (text) => {
      if (writeError === undefined && !stdout.destroyed) stdout.write(text);
    },
    stderr: (text) => {
      if (!stderr.destroyed) stderr.write(text);
    },
    readInput: (file) => (file === '-' ? readStdin() : Promise.resolve(readFileSync(file, 'utf8'))),
    flush: () =>
      new Promise((resolve) => {
        if (writeError !== undefined || stdout.destroyed) {
          resolve(writeError);
          return;
        }
        // The callback of an empty write runs once every earlier write is done, with the error of a failed one.
        stdout.write('', (error?: Error | null) => resolve(writeError ?? (error as NodeJS.ErrnoException) ?? undefined));
      }),
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
