import { randomBytes } from 'node:crypto';
import { type Command, Option } from 'commander';
import { KeyConfigError } from '../errors.js';
import { KEY_LENGTH, keyFingerprint } from '../keys/key-material.js';
import { environmentAliasOf } from '../keys/key-ring.js';
import { FALLBACK_KEY_VARIABLE, KEY_ID_RULE, loadKeyRing, validKeyId } from '../keys/load-key-ring.js';
import { ACTIVE_KEY_ID_DEFAULT_HELP, addCodecFlags, type CodecFlags, codecOptionsFrom } from './codec-options-flags.js';
import { CliExit, type CliIo } from './io.js';

/** `keygen` and `keys`. */
export function registerKeyCommands(program: Command, io: CliIo): void {
  program
    .command('keygen')
    .description('print a new random key as an environment assignment (or, with --value-only, its value)')
    .option('--id <id>', 'key id the variable is named after', 'default')
    .addOption(
      new Option('--format <format>', 'base64: a 256-bit key as base64:<44 characters>; text: 32 random characters')
        .choices(['base64', 'text'])
        .default('base64'),
    )
    .option('--value-only', 'print the value alone, for a key file (--keys-dir) or a secret manager')
    .addHelpText(
      'after',
      '\nPrints TEMPORAL_ENCRYPTION_KEY_<id>=<value> on stdout and the key\'s fingerprint on stderr.\n' +
        'Use --format text when a Go codec that reads the same variable as text (the Trenova application\'s) must\n' +
        'agree on the key: it does not know "base64:". The 32 characters (base64url of 24 random bytes) are the key\n' +
        'as they are, 192 bits of randomness. Store the key in your secret manager; never commit it.\n' +
        'An id with characters a variable name cannot hold (prod-2025) is printed in the spelling this package also\n' +
        'reads (PROD_2025), with a warning: Go workers do not read it. Ids of letters, digits and _ work everywhere.',
    )
    .action((flags: { id: string; format: 'base64' | 'text'; valueOnly?: boolean }) => {
      if (!validKeyId(flags.id)) throw new CliExit(2, `--id must be ${KEY_ID_RULE}`);
      let value: string;
      let key: Buffer;
      if (flags.format === 'text') {
        // Exactly KEY_LENGTH characters, so every reader takes the same 32 bytes and none warns about the rest.
        value = randomBytes((KEY_LENGTH * 3) / 4).toString('base64url');
        key = Buffer.from(value, 'utf8');
      } else {
        key = randomBytes(KEY_LENGTH);
        value = `base64:${key.toString('base64')}`;
      }
      // The spelling the key ring looks the id up under, so that the printed variable is the one that serves it.
      const alias = environmentAliasOf(flags.id);
      if (alias !== undefined) {
        // The Trenova Go codec looks the key up under the id as written, which a shell cannot even export.
        io.stderr(
          `warning: key id "${flags.id}" has characters a variable name cannot hold: this package also reads its key ` +
            `from ${FALLBACK_KEY_VARIABLE}_${alias} (or a keys directory file named ${flags.id}), but a Go worker ` +
            `looks up ${FALLBACK_KEY_VARIABLE}_${flags.id}, which a shell cannot set; key ids of letters, digits and _ ` +
            'work everywhere\n',
        );
      }
      io.stdout(flags.valueOnly ? `${value}\n` : `${FALLBACK_KEY_VARIABLE}_${alias ?? flags.id}=${value}\n`);
      io.stderr(`key id "${flags.id}", fingerprint ${keyFingerprint(key)}\n`);
    });

  addCodecFlags(
    program
      .command('keys')
      .description('list the configured key ids, their sources and fingerprints (never key material)')
      .option(
        '--check',
        'also require a key for the active key id and end with "keys: ok" (a bad key or two keys for one id fail ' +
          'with or without it); warnings are printed and do not fail',
      )
      .option(
        '--strict',
        'as --check, and exit 1 on a warning too (a text key longer than 32 bytes, an empty key variable)',
      )
      .option('--json', 'print JSON instead of a table')
      .option('--key-id <id>', `the active key id (${ACTIVE_KEY_ID_DEFAULT_HELP})`),
    { encoding: false },
  ).action((flags: CodecFlags & { check?: boolean; strict?: boolean; json?: boolean }) => {
    const check = flags.check === true || flags.strict === true;
    const warnings: string[] = [];
    let ring;
    try {
      // Inside: a bad DIR/.active-key-id is one more key configuration problem, listed like the others.
      const options = codecOptionsFrom(flags, io);
      ring = loadKeyRing({
        env: io.env,
        keysDir: options.keysDir,
        encryptionKeyID: options.encryptionKeyID,
        requireActiveKey: check,
        onWarning: (message) => warnings.push(message),
      });
    } catch (error) {
      if (error instanceof KeyConfigError) {
        for (const problem of error.problems) io.stderr(`problem: ${problem}\n`);
        throw new CliExit(1, `${error.problems.length} key configuration problem(s)`);
      }
      throw error;
    }
    const keys = ring.describe();
    const activeFound = ring.has(ring.activeKeyId);
    if (flags.json) {
      io.stdout(`${JSON.stringify({ activeKeyId: ring.activeKeyId, activeKeyFound: activeFound, keys, warnings }, null, 2)}\n`);
    } else {
      io.stdout(formatTable(keys.map((k) => [k.active ? '*' : '', k.keyId, k.fingerprint, `${k.source.kind} ${k.source.name}`])));
      // The row of its key may have another id: an alias (2026_11 for 2026-11) or "*" for TEMPORAL_ENCRYPTION_KEY.
      const listedAs = ring.servingKeyId(ring.activeKeyId);
      const note = !activeFound
        ? ' (NO KEY: encoding will fail)'
        : listedAs !== ring.activeKeyId
          ? ` (its key is the row ${listedAs})`
          : '';
      io.stdout(`active key id: ${ring.activeKeyId}${note}\n`);
      for (const warning of warnings) io.stderr(`warning: ${warning}\n`);
    }
    if (check) {
      // A warning is about a key that works (the Trenova guide's 44-character text keys, of which the Go codec also
      // takes the first 32 bytes): a CI check fails on it only when asked to.
      if (flags.strict && warnings.length > 0) {
        throw new CliExit(1, `${warnings.length} warning(s) in the key configuration (--strict)`);
      }
      io.stderr(warnings.length > 0 ? `keys: ok (${warnings.length} warning(s))\n` : 'keys: ok\n');
    }
  });
}

function formatTable(rows: string[][]): string {
  const all = [['ACTIVE', 'KEY ID', 'FINGERPRINT', 'SOURCE'], ...rows];
  const widths = all[0]!.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n';
}
