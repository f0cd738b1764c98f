/** Runs `temporal-codec` in process; returns the exit code. */
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';

export function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  return main(argv, io);
}
