import { type Command, InvalidArgumentError, Option } from 'commander';
import { CODEC_ENV, type CodecOptions, loadCodecOptions } from '../codec-options.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../codecs/compression-codec.js';
import { resolveActiveKeyId } from '../keys/active-key-id-file.js';
import type { PayloadCounts } from '../rotation/walk-payloads.js';
import { CliExit, type CliIo } from './io.js';

/** The flags of the commands that read codec options; each overrides the config file and `TEMPORAL_CODEC_*`. */
export interface CodecFlags {
  config?: string;
  keysDir?: string;
  keyId?: string;
  compression?: boolean;
  compressionThreshold?: number;
  /** Offered by the commands that inflate: `decode`, `scan` and `rewrap` (see {@link addCodecFlags}). */
  maxDecompressedBytes?: number;
  /**
   * Set by {@link addCodecFlags} (no flag sets it) on the commands it gives `--max-decompressed-bytes`, so that
   * {@link codecOptionsFrom} checks the cap's other sources for exactly those commands.
   */
  offersMaxDecompressedBytes?: boolean;
}

/**
 * Adds `--config` and `--keys-dir`; with `encoding`, `--key-id` and the compression flags; with `decompression`
 * (decode, and scan and rewrap, which inflate binary/zlib payloads to find a binary/encrypted one inside),
 * `--max-decompressed-bytes`. A flag is offered only where it changes something, so that no command accepts a value
 * and then ignores it.
 */
export function addCodecFlags(
  command: Command,
  { encoding, decompression = false }: { encoding: boolean; decompression?: boolean },
): Command {
  command
    .option('--config <file>', 'YAML or JSON config file with a temporal.security section (env: TEMPORAL_CODEC_CONFIG)')
    .option('--keys-dir <dir>', 'directory with one key file per key id (env: TEMPORAL_CODEC_KEYS_DIR)');
  if (encoding) {
    command
      .option(
        '--key-id <id>',
        'active key id new payloads are encrypted with (default: DIR/.active-key-id of --keys-dir, else ' +
          'TEMPORAL_CODEC_ENCRYPTION_KEY_ID or the config file, else "default")',
      )
      .addOption(
        new Option(
          '--compression-threshold <bytes>',
          'compress payloads of at least this many bytes (env: TEMPORAL_CODEC_COMPRESSION_THRESHOLD; default: 1024)',
        ).argParser(parseByteCount),
      )
      .option(
        '--no-compression',
        'do not compress (env: TEMPORAL_CODEC_ENABLE_COMPRESSION=false; compressed payloads still decode)',
      );
  }
  if (decompression) {
    command.addOption(
      new Option(
        '--max-decompressed-bytes <bytes>',
        'cap on the inflated size of one payload (env: TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES; default: 67108864)',
      ).argParser(parsePositiveByteCount),
    );
    // Stored as a default value is, so every parse hands it to the action with the flags; no flag can set it.
    command.setOptionValue('offersMaxDecompressedBytes', true);
  }
  return command;
}

/**
 * Codec options from the config file, then the environment, then the flags. The active key id is the one `serve`
 * encrypts with: `DIR/.active-key-id` of the keys directory when it has one, else the configured id; `--key-id`
 * overrides both (a tool may ask about another key than the server's).
 *
 * For the commands that offer `--max-decompressed-bytes` (decode, scan, rewrap), a cap of 0 from the variable or the
 * config file is a usage error (exit 2) naming where it came from, as `--max-decompressed-bytes 0` is: the codecs would
 * refuse it later, once per file, without saying where it was set.
 */
export function codecOptionsFrom(flags: CodecFlags, io: CliIo): CodecOptions {
  const options = loadCodecOptions({ configFile: flags.config, env: io.env });
  const zeroCap = flags.maxDecompressedBytes === undefined && options.maxDecompressedBytes === 0;
  if (flags.offersMaxDecompressedBytes && zeroCap) {
    throw new CliExit(2, `${sourceOfMaxDecompressedBytes(flags, io)} must be greater than 0`);
  }
  if (flags.keysDir !== undefined) options.keysDir = flags.keysDir;
  const encryptionKeyID = flags.keyId ?? resolveActiveKeyId(options.keysDir, options.encryptionKeyID);
  if (encryptionKeyID !== undefined) options.encryptionKeyID = encryptionKeyID;
  if (flags.compression === false) options.enableCompression = false;
  if (flags.compressionThreshold !== undefined) options.compressionThreshold = flags.compressionThreshold;
  if (flags.maxDecompressedBytes !== undefined) options.maxDecompressedBytes = flags.maxDecompressedBytes;
  return options;
}

/** Where `maxDecompressedBytes` was set, the flag aside: its variable, which wins, else the config file's field. */
function sourceOfMaxDecompressedBytes(flags: CodecFlags, io: CliIo): string {
  const variable = CODEC_ENV.maxDecompressedBytes;
  if ((io.env[variable] ?? '') !== '') return variable;
  return `${flags.config ?? io.env[CODEC_ENV.configFile]}: maxDecompressedBytes`;
}

/**
 * Why `binary/zlib` payloads could not be opened, for scan's and rewrap's messages: `2 inflate(s) past
 * --max-decompressed-bytes (1000): raise it to open them; 1 not a valid zlib stream`.
 */
export function uninspectedReasons(counts: PayloadCounts, options: CodecOptions): string {
  const { tooLarge, notZlib } = counts.uninspectedByReason;
  const cap = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const reasons: string[] = [];
  if (tooLarge > 0) {
    reasons.push(`${tooLarge} inflate(s) past --max-decompressed-bytes (${cap}): raise it to open them`);
  }
  if (notZlib > 0) reasons.push(`${notZlib} not a valid zlib stream`);
  return reasons.join('; ');
}

/** Parses a non-negative integer flag value, for commander. */
export function parseByteCount(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError('expected a non-negative integer');
  }
  return Number(text);
}

/** Parses a positive integer flag value, for commander: a cap of 0 bytes would refuse every compressed payload. */
export function parsePositiveByteCount(text: string): number {
  const value = parseByteCount(text);
  if (value === 0) throw new InvalidArgumentError('expected a positive integer');
  return value;
}
