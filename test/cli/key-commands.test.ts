import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { memoryIo } from '../helpers/cli.js';
import { expectNoSecret } from '../helpers/errors.js';
import { expectedFingerprint, tempDir, testKey } from '../helpers/keys.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function keysDir(): string {
  const { dir, remove } = tempDir('key-commands');
  cleanups.push(remove);
  return dir;
}

const b64 = (key: Buffer): string => `base64:${key.toString('base64')}`;

/** Every form of the test keys that output must never show. */
const SECRETS = ['eu', 'fallback', 'other', 'written', 'safe', 'file', 'old', 'new'].flatMap((label) => [
  testKey(label).toString('base64'),
  testKey(label).toString('hex'),
]);

/** Runs `temporal-codec <args>` in process with `env`; checks that no test key shows in its output. */
async function run(args: readonly string[], env: Record<string, string> = {}, input = '') {
  const { io, stdout, stderr } = memoryIo(env, input);
  const code = await main(args, io);
  const result = { code, stdout: stdout(), stderr: stderr() };
  expectNoSecret(result.stdout + result.stderr, SECRETS);
  return result;
}

interface KeysJson {
  activeKeyId: string;
  activeKeyFound: boolean;
  keys: { keyId: string; fingerprint: string; active: boolean; source: { kind: string; name: string } }[];
}

describe('temporal-codec keys', () => {
  // Bug: with the active id prod-eu served by TEMPORAL_ENCRYPTION_KEY_PROD_EU, the table marked the fallback key
  // active (or no key, without a fallback), so operators compared the wrong fingerprint.
  it('marks active the key that serves the active id through its environment-safe spelling', async () => {
    const env = {
      TEMPORAL_ENCRYPTION_KEY_PROD_EU: b64(testKey('eu')),
      TEMPORAL_ENCRYPTION_KEY_other: b64(testKey('other')),
      TEMPORAL_ENCRYPTION_KEY: b64(testKey('fallback')),
    };
    const table = await run(['keys', '--key-id', 'prod-eu'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      [
        'ACTIVE  KEY ID   FINGERPRINT       SOURCE',
        `*       PROD_EU  ${expectedFingerprint(testKey('eu'))}  env TEMPORAL_ENCRYPTION_KEY_PROD_EU`,
        `        other    ${expectedFingerprint(testKey('other'))}  env TEMPORAL_ENCRYPTION_KEY_other`,
        `        *        ${expectedFingerprint(testKey('fallback'))}  env TEMPORAL_ENCRYPTION_KEY`,
        'active key id: prod-eu (its key is the row PROD_EU)',
        '',
      ].join('\n'),
    );
    const { TEMPORAL_ENCRYPTION_KEY: _, ...withoutFallback } = env;
    const json = JSON.parse((await run(['keys', '--json', '--key-id', 'prod-eu'], withoutFallback)).stdout) as KeysJson;
    expect(json.keys.map(({ keyId, active }) => [keyId, active])).toEqual([
      ['PROD_EU', true],
      ['other', false],
    ]);
  });

  // Bug: two different keys that both serve prod-eu, under the id as written and under its environment-safe spelling,
  // passed `keys --check`.
  it('--check reports two different keys under an id and its environment-safe spelling, naming both, never a value', async () => {
    const env = {
      'TEMPORAL_ENCRYPTION_KEY_prod-eu': b64(testKey('written')),
      TEMPORAL_ENCRYPTION_KEY_PROD_EU: b64(testKey('safe')),
    };
    const result = await run(['keys', '--check', '--key-id', 'prod-eu'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'problem: key id "prod-eu" has two different keys, in environment variable TEMPORAL_ENCRYPTION_KEY_prod-eu and ' +
        'environment variable TEMPORAL_ENCRYPTION_KEY_PROD_EU (its environment-safe spelling PROD_EU)\n' +
        'temporal-codec: 1 key configuration problem(s)\n',
    );

    const dir = keysDir();
    writeFileSync(join(dir, 'prod-eu'), `${b64(testKey('file'))}\n`);
    const mixed = await run(['keys', '--check', '--keys-dir', dir, '--key-id', 'prod-eu'], {
      TEMPORAL_ENCRYPTION_KEY_PROD_EU: b64(testKey('safe')),
    });
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain(
      `problem: key id "prod-eu" has two different keys, in key file ${join(dir, 'prod-eu')} and environment variable ` +
        'TEMPORAL_ENCRYPTION_KEY_PROD_EU (its environment-safe spelling PROD_EU)\n',
    );
  });

  // Bug: `keys --keys-dir kd --check` said "no key for the active key id default" for a directory whose
  // .active-key-id names the key `serve` encrypts with.
  it('takes the active key id from DIR/.active-key-id of --keys-dir as serve does, and --key-id over it', async () => {
    const dir = keysDir();
    writeFileSync(join(dir, 'old'), `${b64(testKey('old'))}\n`);
    writeFileSync(join(dir, 'new'), `${b64(testKey('new'))}\n`);
    writeFileSync(join(dir, '.active-key-id'), 'new\n');
    const check = await run(['keys', '--check', '--keys-dir', dir]);
    expect(check.stderr).toBe('keys: ok\n');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`*       new     ${expectedFingerprint(testKey('new'))}  file ${join(dir, 'new')}\n`);
    expect(check.stdout).toContain('active key id: new\n');
    // The file wins over the configured id, exactly as in `serve`.
    const configured = await run(['keys', '--json', '--keys-dir', dir], { TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'old' });
    expect((JSON.parse(configured.stdout) as KeysJson).activeKeyId).toBe('new');
    const explicit = await run(['keys', '--json', '--keys-dir', dir, '--key-id', 'old']);
    expect((JSON.parse(explicit.stdout) as KeysJson).activeKeyId).toBe('old');

    // encode encrypts with that key too; --key-id over it.
    const doc = JSON.stringify({ payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'MQ==' }] });
    const keyIdOf = (stdout: string): string => {
      const [payload] = (JSON.parse(stdout) as { payloads: [{ metadata: Record<string, string> }] }).payloads;
      return Buffer.from(payload.metadata['encryption-key-id']!, 'base64').toString();
    };
    expect(keyIdOf((await run(['encode', '--keys-dir', dir], {}, doc)).stdout)).toBe('new');
    expect(keyIdOf((await run(['encode', '--keys-dir', dir, '--key-id', 'old'], {}, doc)).stdout)).toBe('old');

    // A key pasted where its id belongs is refused, never printed nor written into payload metadata.
    for (const pasted of [b64(testKey('written')), testKey('written').toString('base64')]) {
      writeFileSync(join(dir, '.active-key-id'), `${pasted}\n`);
      const refused = await run(['keys', '--check', '--keys-dir', dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `problem: ${join(dir, '.active-key-id')} holds what looks like a key value, not a key id: write the key id there\n`,
      );
    }

    // keygen's whole line, and a text key (no form of its own: recognised as one of the loaded keys).
    const line = (await run(['keygen', '--id', 'new'])).stdout;
    const text = (await run(['keygen', '--format', 'text', '--value-only'])).stdout.trim();
    writeFileSync(join(dir, 'texty'), `${text}\n`);
    for (const pasted of [line, text]) {
      writeFileSync(join(dir, '.active-key-id'), pasted.endsWith('\n') ? pasted : `${pasted}\n`);
      const refused = await run(['keys', '--check', '--keys-dir', dir]);
      expect(refused.code).toBe(1);
      expect(refused.stdout + refused.stderr).not.toContain(pasted.trim().slice(-20));
      expect(refused.stderr).toMatch(/looks like a key value/);
    }
    writeFileSync(join(dir, 'texty'), `${b64(testKey('other'))}\n`);

    writeFileSync(join(dir, '.active-key-id'), 'two ids\n');
    const bad = await run(['keys', '--check', '--keys-dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `problem: ${join(dir, '.active-key-id')} must hold one key id (1-128 printable ASCII characters, no spaces)\n` +
        'temporal-codec: 1 key configuration problem(s)\n',
    );
  });
});

describe('temporal-codec keygen', () => {
  /** The variable `keygen --id <id>` prints, and its value. */
  async function keygen(id: string): Promise<{ name: string; value: string }> {
    const result = await run(['keygen', '--id', id]);
    expect(result.code).toBe(0);
    const [, name, value] = /^([^=]+)=(base64:[A-Za-z0-9+/]{43}=)\n$/.exec(result.stdout)!;
    return { name: name!, value: value! };
  }

  it('prints the variable that `keys --check` then finds for the id, with the same fingerprint', async () => {
    for (const [id, variable] of [
      ['prod.eu-1', 'TEMPORAL_ENCRYPTION_KEY_PROD_EU_1'],
      ['staging', 'TEMPORAL_ENCRYPTION_KEY_staging'],
      ['a~b', 'TEMPORAL_ENCRYPTION_KEY_A_B'],
    ] as const) {
      const { name, value } = await keygen(id);
      expect(name).toBe(variable);
      const check = await run(['keys', '--check', '--json', '--key-id', id], { [name]: value });
      expect(check.code).toBe(0);
      const report = JSON.parse(check.stdout) as KeysJson;
      expect(report.activeKeyFound).toBe(true);
      expect(report.keys).toEqual([expect.objectContaining({ keyId: variable.slice('TEMPORAL_ENCRYPTION_KEY_'.length), active: true })]);
    }
  });

  it('prints, with --format text, 32 random characters that are the key as they are, with no warning', async () => {
    const result = await run(['keygen', '--id', 'production', '--format', 'text']);
    expect(result.code).toBe(0);
    const [, value] = /^TEMPORAL_ENCRYPTION_KEY_production=([A-Za-z0-9_-]{32})\n$/.exec(result.stdout)!;
    expect(result.stderr).toBe(`key id "production", fingerprint ${expectedFingerprint(Buffer.from(value!))}\n`);
    const check = await run(['keys', '--check', '--key-id', 'production'], { TEMPORAL_ENCRYPTION_KEY_production: value! });
    expect(check.code).toBe(0);
    expect(check.stderr).toBe('keys: ok\n');
    const other = await run(['keygen', '--id', 'production', '--format', 'text']);
    expect(other.stdout).not.toBe(result.stdout);
  });

  it('prints the value alone with --value-only, ready for a key file; the whole line in a key file is refused', async () => {
    for (const format of ['base64', 'text']) {
      const dir = keysDir();
      const result = await run(['keygen', '--id', 'prod-2026', '--format', format, '--value-only']);
      expect(result.stdout).toMatch(format === 'base64' ? /^base64:[A-Za-z0-9+/]{43}=\n$/ : /^[A-Za-z0-9_-]{32}\n$/);
      writeFileSync(join(dir, 'prod-2026'), result.stdout);
      const check = await run(['keys', '--check', '--keys-dir', dir, '--key-id', 'prod-2026']);
      expect(check.code).toBe(0);
      expect(check.stdout).toContain(result.stderr.slice(result.stderr.indexOf('fingerprint ') + 'fingerprint '.length, -1));
    }
    const dir = keysDir();
    writeFileSync(join(dir, 'prod-2026'), (await run(['keygen', '--id', 'prod-2026'])).stdout);
    const check = await run(['keys', '--check', '--keys-dir', dir, '--key-id', 'prod-2026']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(
      `problem: key file ${join(dir, 'prod-2026')} holds a whole NAME=value line, not a key value: store the value alone (keygen --value-only)`,
    );
  });

  // Bug: `keygen --id prod-2025` printed TEMPORAL_ENCRYPTION_KEY_PROD_2025 without a word that only this package
  // reads that spelling: a Go worker looks the key up under TEMPORAL_ENCRYPTION_KEY_ + the id as written.
  it('warns on stderr, in one line, that Go workers cannot read the variable of an id that needs another spelling', async () => {
    for (const args of [[], ['--value-only'], ['--format', 'text']]) {
      const result = await run(['keygen', '--id', 'prod-2025', ...args]);
      expect(result.code).toBe(0);
      const lines = result.stderr.split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toBe(
        'warning: key id "prod-2025" has characters a variable name cannot hold: this package also reads its key from ' +
          'TEMPORAL_ENCRYPTION_KEY_PROD_2025 (or a keys directory file named prod-2025), but a Go worker looks up ' +
          'TEMPORAL_ENCRYPTION_KEY_prod-2025, which a shell cannot set; key ids of letters, digits and _ work everywhere',
      );
      expect(lines[1]).toMatch(/^key id "prod-2025", fingerprint [0-9a-f]{16}$/);
    }
    for (const id of ['prod_2025', 'Prod2025', '2025']) {
      const result = await run(['keygen', '--id', id]);
      expect(result.stderr).toMatch(new RegExp(`^key id "${id}", fingerprint [0-9a-f]{16}\n$`));
    }
  });

  it('refuses an id that is not printable ASCII without spaces, and says so', async () => {
    for (const id of ['straße', 'two words', '']) {
      const result = await run(['keygen', '--id', id]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe('temporal-codec: --id must be 1-128 printable ASCII characters, no spaces\n');
    }
  });
});
