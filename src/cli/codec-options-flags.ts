import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CodecOptions, readCodecOptions } from '../codec-options.js';
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
}

/**
 * Where the active key id comes from without `--key-id`, for the `--key-id` help of every command that has one: the
 * order {@link codecOptionsFrom} reads them in.
 */
export const ACTIVE_KEY_ID_DEFAULT_HELP =
  'default: DIR/.active-key-id of --keys-dir, else TEMPORAL_CODEC_ENCRYPTION_KEY_ID or the config file, else "default"';

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
      .option('--key-id <id>', `active key id new payloads are encrypted with (${ACTIVE_KEY_ID_DEFAULT_HELP})`)
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
  }
  return command;
}

/**
 * Codec options from the config file, then the environment, then the flags. The active key id is the one `serve`
 * encrypts with: `DIR/.active-key-id` of the keys directory when it has one, else the configured id; `--key-id`
 * overrides both (a tool may ask about another key than the server's).
 *
 * As in `serve`, the file and the variables are read apart: a malformed `TEMPORAL_CODEC_*` value
 * (`TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES=abc`) is a usage error (exit 2), as a malformed flag is, while a config file
 * that cannot be read or holds a bad value stays a failure (`ERR_CONFIG`, exit 1). Both name where the value was
 * set (a cap of 0 included).
 */
export function codecOptionsFrom(flags: CodecFlags, io: CliIo): CodecOptions {
  const { options, fileError, envError } = readCodecOptions({ configFile: flags.config, env: io.env });
  if (envError) throw new CliExit(2, envError.message);
  if (fileError) throw fileError;
  if (flags.keysDir !== undefined) options.keysDir = flags.keysDir;
  const encryptionKeyID = flags.keyId ?? resolveActiveKeyId(options.keysDir, options.encryptionKeyID);
  if (encryptionKeyID !== undefined) options.encryptionKeyID = encryptionKeyID;
  if (flags.compression === false) options.enableCompression = false;
  if (flags.compressionThreshold !== undefined) options.compressionThreshold = flags.compressionThreshold;
  if (flags.maxDecompressedBytes !== undefined) options.maxDecompressedBytes = flags.maxDecompressedBytes;
  return options;
}

/**
 * Why `binary/zlib` payloads were not opened, for scan's and rewrap's messages: `2 inflate(s) past
 * --max-decompressed-bytes (1000): raise it to open them; 1 not a valid zlib stream; 1 hold(s) another binary/zlib
 * payload, which is not opened (decode opens one layer)`.
 */
export function uninspectedReasons(counts: PayloadCounts, options: CodecOptions): string {
  const { tooLarge, notZlib, nested } = counts.uninspectedByReason;
  const cap = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const reasons: string[] = [];
  if (tooLarge > 0) {
    reasons.push(`${tooLarge} inflate(s) past --max-decompressed-bytes (${cap}): raise it to open them`);
  }
  if (notZlib > 0) reasons.push(`${notZlib} not a valid zlib stream`);
  if (nested > 0) {
    reasons.push(`${nested} hold(s) another binary/zlib payload, which is not opened (decode opens one layer)`);
  }
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
