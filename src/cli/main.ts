import { Command, CommanderError } from 'commander';
import { CodecError } from '../errors.js';
import { registerCodecCommands } from './codec-commands.js';
import { CliExit, type CliIo, processIo } from './io.js';
import { registerKeyCommands } from './key-commands.js';
import { registerRewrap } from './rewrap-command.js';
import { registerScan } from './scan-command.js';
import { registerServe } from './serve.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/**
 * The reader of standard output closed it early (`temporal-codec decode big.json | head`). A C program such as
 * `cat` is killed by SIGPIPE there and the shell reports 128 + 13 = 141, silently; Node ignores SIGPIPE, so the CLI
 * exits with that status itself. Not 0: the output was not all delivered, and `set -o pipefail` should see that as it
 * does for every other tool in the pipeline.
 */
export const EXIT_BROKEN_PIPE = 141;

/** Builds the `temporal-codec` program; each command registers itself from its own file. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('temporal-codec')
    .description('Encrypt, compress and decode Temporal payloads; serve the remote codec; manage keys.')
    .showHelpAfterError(false)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  registerCodecCommands(program, io);
  registerKeyCommands(program, io);
  registerRewrap(program, io);
  registerScan(program, io);
  registerServe(program, io);
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  }
  return program;
}

/**
 * Runs the CLI and returns its exit code: 0 ok, 1 failure, 2 usage (a bad flag, or no command), 141 when standard
 * output was closed before all of it was written. Never calls `process.exit`; `bin.ts` does.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const code = await run(argv, io);
  const writeError = await io.flush?.();
  if (writeError === undefined || code !== EXIT_OK) return code;
  if (writeError.code === 'EPIPE') return EXIT_BROKEN_PIPE;
  io.stderr(`temporal-codec: cannot write to standard output (${writeError.code ?? writeError.message})\n`);
  return EXIT_FAILURE;
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  // Commander prints help to stderr, as an error, when no command is given, and to stdout when it is asked for.
  let helpForUsageError = false;
  program.on('beforeAllHelp', (context: { error: boolean }) => {
    if (context.error) helpForUsageError = true;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed help, the version or the usage error.
      if (error.code === 'commander.help') return helpForUsageError ? EXIT_USAGE : EXIT_OK;
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_OK;
      return EXIT_USAGE;
    }
    if (error instanceof CliExit) {
      io.stderr(`temporal-codec: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof CodecError) {
      io.stderr(`temporal-codec: ${error.message} (${error.code})\n`);
      return EXIT_FAILURE;
    }
    io.stderr(`temporal-codec: unexpected error: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT_FAILURE;
  }
}
