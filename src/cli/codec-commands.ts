import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Command } from 'commander';
import { createPayloadCodecs } from '../codecs/data-converter.js';
import { parsePayloadsJson, toPayloadsJson } from '../payload-json.js';
import { addCodecFlags, type CodecFlags, codecOptionsFrom } from './codec-options-flags.js';
import type { CliIo } from './io.js';

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
    const payloads = parsePayloadsJson(await io.readInput(file));
    io.stdout(`${JSON.stringify(toPayloadsJson(await encodeAll(codecs, payloads)))}\n`);
  });

  addCodecFlags(
    program
      .command('decode')
      .description('decrypt and decompress the payloads of a file (or - for stdin) and print them')
      .argument('[file]', 'a {"payloads": [...]} JSON file, or - for standard input', '-')
      .addHelpText('after', `${FORMAT_HELP}\nPayloads this codec did not make are printed unchanged.`),
    { encoding: false },
  ).action(async (file: string, flags: CodecFlags) => {
    const codecs = createPayloadCodecs({ ...codecOptionsFrom(flags, io), env: io.env, requireActiveKey: false });
    const payloads = parsePayloadsJson(await io.readInput(file));
    io.stdout(`${JSON.stringify(toPayloadsJson(await decodeAll(codecs, payloads)))}\n`);
  });
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
