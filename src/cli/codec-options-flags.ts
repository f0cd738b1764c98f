import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CodecOptions, loadCodecOptions } from '../codec-options.js';
import type { CliIo } from './io.js';

/** The flags every command that builds codecs shares; each overrides the config file and `TEMPORAL_CODEC_*`. */
export interface CodecFlags {
  config?: string;
  keysDir?: string;
  keyId?: string;
  compression?: boolean;
  compressionThreshold?: number;
  maxDecompressedBytes?: number;
}

/** Adds `--config`, `--keys-dir` and `--key-id` (and, for encoding, the compression flags). */
export function addCodecFlags(command: Command, { encoding }: { encoding: boolean }): Command {
  command
    .option('--config <file>', 'YAML or JSON config file with a temporal.security section (env: TEMPORAL_CODEC_CONFIG)')
    .option('--keys-dir <dir>', 'directory with one key file per key id (env: TEMPORAL_CODEC_KEYS_DIR)');
  if (encoding) {
    command
      .option('--key-id <id>', 'active key id new payloads are encrypted with (default: "default")')
      .addOption(
        new Option('--compression-threshold <bytes>', 'compress payloads of at least this many bytes (default: 1024)')
          .argParser(parseByteCount),
      )
      .option('--no-compression', 'do not compress (compressed payloads still decode)');
  }
  command.addOption(
    new Option('--max-decompressed-bytes <bytes>', 'cap on the inflated size of one payload (default: 67108864)')
      .argParser(parseByteCount),
  );
  return command;
}

/** Codec options from the config file, then the environment, then the flags. */
export function codecOptionsFrom(flags: CodecFlags, io: CliIo): CodecOptions {
  const options = loadCodecOptions({ configFile: flags.config, env: io.env });
  if (flags.keysDir !== undefined) options.keysDir = flags.keysDir;
  if (flags.keyId !== undefined) options.encryptionKeyID = flags.keyId;
  if (flags.compression === false) options.enableCompression = false;
  if (flags.compressionThreshold !== undefined) options.compressionThreshold = flags.compressionThreshold;
  if (flags.maxDecompressedBytes !== undefined) options.maxDecompressedBytes = flags.maxDecompressedBytes;
  return options;
}

/** Parses a non-negative integer flag value, for commander. */
export function parseByteCount(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError('expected a non-negative integer');
  }
  return Number(text);
}
