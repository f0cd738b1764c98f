import { readFileSync } from 'node:fs';
import type { CliIo } from '../../src/cli/io.js';

/**
 * CLI I/O held in memory, for running `main` in process: `stdin` is what `-` reads, any other name is read from disk;
 * `stdout()` and `stderr()` give what the command wrote so far.
 */
export function memoryIo(
  env: Record<string, string> = {},
  stdin = '',
): { io: CliIo; stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env,
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    readInput: async (file) => (file === '-' ? stdin : readFileSync(file, 'utf8')),
  };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}
