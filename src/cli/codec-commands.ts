import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Command } from 'commander';
import { createPayloadCodecs } from '../codecs/data-converter.js';
import { PayloadJsonError } from '../errors.js';
import { parsePayloadsJson, toPayloadsJson, type UnknownFields } from '../payload-json.js';
import { parseLocatedJson } from '../rotation/located-json.js';
import { addCodecFlags, type CodecFlags, codecOptionsFrom } from './codec-options-flags.js';
import { CliExit, type CliIo } from './io.js';

const FORMAT_HELP = `
Input and output are {"payloads": [...]} in proto3 JSON (metadata values and data in base64), the codec
server's body format. Keys come from TEMPORAL_ENCRYPTION_KEY_<id> / TEMPORAL_ENCRYPTION_KEY and --keys-dir.`;

/** `encode` and `decode`: payload files through the codecs, to stdout. */
export function registerCodecCommands(program: Command, io: CliIo): void {
  addCodecFlags(
    program
      .command('encode')
      .description('compress and encrypt the payloads of a file (or - for stdin) and print them')
      .argument('[file]', 'a {"payloads": [...]} JSON file, or - for standard input', '-')
      .addHelpText('after', FORMAT_HELP),
    { encoding: true },
  ).action(async (file: string, flags: CodecFlags) => {
    const codecs = createPayloadCodecs({ ...codecOptionsFrom(flags, io), env: io.env });
    const payloads = await readPayloads(file, io);
    io.stdout(`${JSON.stringify(toPayloadsJson(await encodeAll(codecs, payloads)))}\n`);
  });

  addCodecFlags(
    program
      .command('decode')
      .description('decrypt and decompress the payloads of a file (or - for stdin) and print them')
      .argument('[file]', 'a {"payloads": [...]} JSON file, or - for standard input', '-')
      .addHelpText('after', `${FORMAT_HELP}\nPayloads this codec did not make are printed unchanged.`),
    { encoding: false, decompression: true },
  ).action(async (file: string, flags: CodecFlags) => {
    const codecs = createPayloadCodecs({ ...codecOptionsFrom(flags, io), env: io.env, requireActiveKey: false });
    // As the server's /decode: a payload passed through keeps members this package does not model.
    const payloads = await readPayloads(file, io, 'carry');
    io.stdout(`${JSON.stringify(toPayloadsJson(await decodeAll(codecs, payloads)))}\n`);
  });
}

/**
 * The payloads of a `{"payloads": [...]}` file, or of standard input for `-`. Read with the parser `rewrap` uses, so
 * that both commands accept the same files (a UTF-8 byte order mark included) and a syntax error names the input,
 * line and column; every error names the input.
 */
async function readPayloads(file: string, io: CliIo, unknownFields: UnknownFields = 'reject'): Promise<Payload[]> {
  const name = file === '-' ? 'standard input' : file;
  let text: string;
  try {
    text = await io.readInput(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw error;
    throw new CliExit(1, `cannot read ${name} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
  try {
    if (text.replace(/^\uFEFF/, '').trim() === '') {
      throw new PayloadJsonError('', 'the input is empty; expected a {"payloads": [...]} document');
    }
    const { value, jsonLines } = parseLocatedJson(text, () => false);
    if (jsonLines) {
      throw new PayloadJsonError('', 'several JSON values, one per line; expected one {"payloads": [...]} document');
    }
    return parsePayloadsJson(value, { unknownFields });
  } catch (error) {
    if (!(error instanceof PayloadJsonError)) throw error;
    // The library cannot know where its text came from: put the input's name before the field path, if any.
    const field = error.path !== '' && error.message.startsWith(`${error.path}: `);
    throw field
      ? new PayloadJsonError(`${name}: ${error.path}`, error.message.slice(error.path.length + 2))
      : new PayloadJsonError(name, error.message);
  }
}

/** Runs codecs in the SDK's encode order: first to last. */
export async function encodeAll(codecs: readonly PayloadCodec[], payloads: Payload[]): Promise<Payload[]> {
  let result = payloads;
  for (const codec of codecs) result = await codec.encode(result);
  return result;
}

/** Runs codecs in the SDK's decode order: last to first. */
export async function decodeAll(codecs: readonly PayloadCodec[], payloads: Payload[]): Promise<Payload[]> {
  let result = payloads;
  for (let i = codecs.length - 1; i >= 0; i--) result = await codecs[i]!.decode(result);
  return result;
}
