import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { registerScan } from '../../src/cli/scan-command.js';
import type { ScanReport } from '../../src/rotation/index.js';
import { memoryIo } from '../helpers/cli.js';
import { expectNoSecret } from '../helpers/errors.js';
import { eventsWith, type FakeRun, fakeTemporal, type FakeTemporal } from './fake-temporal.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EncryptionCodec } from '../../src/codecs/encryption-codec.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { payloadToJson, type PayloadJson } from '../../src/payload-json.js';
import { tempDir } from '../helpers/keys.js';
import { CLI_ENV, encrypted, goCompressed, KEY_SECRETS, KEYS, NONE_UNINSPECTED, plain, plainPayload } from './fixtures.js';
import { runCli } from './cli-runner.js';

// The command connects through connectTemporal; here it gets the fake server instead, and the rest of main is real.
const connection = vi.hoisted(() => ({
  fake: undefined as FakeTemporal | undefined,
  flags: undefined as unknown,
  closed: 0,
}));
vi.mock('../../src/cli/temporal-connection.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/cli/temporal-connection.js')>()),
  connectTemporal: async (flags: unknown) => {
    connection.flags = flags;
    const fake = connection.fake!;
    return {
      client: fake.client,
      namespace: fake.client.options.namespace,
      address: 'fake:7233',
      close: async () => void connection.closed++,
    };
  },
}));

afterEach(() => {
  connection.fake = undefined;
  connection.closed = 0;
});

const SECRET_ORDER = { card: 'tok_live_0123456789abcdef', email: 'ada@example.com' };

function runs(): FakeRun[] {
  return [
    { workflowId: 'order-open-old', open: true, events: eventsWith({ input: [encrypted('old', SECRET_ORDER)] }) },
    { workflowId: 'order-closed-old', open: false, events: eventsWith({ input: [encrypted('old', SECRET_ORDER)] }) },
    { workflowId: 'order-new', open: false, events: eventsWith({ input: [encrypted('new', SECRET_ORDER)], result: [plain(1)] }) },
  ];
}

/** Secrets made by a test (keys from `keygen`) that output must not show either. */
const extraSecrets: string[] = [];
afterEach(() => {
  extraSecrets.length = 0;
});

async function scan(args: readonly string[], env: Record<string, string> = CLI_ENV) {
  const { io, stdout, stderr } = memoryIo(env);
  const code = await runCli(['scan', ...args], io);
  const result = { code, stdout: stdout(), stderr: stderr() };
  expectNoSecret(result.stdout + result.stderr, [...KEY_SECRETS, ...extraSecrets, SECRET_ORDER.card, SECRET_ORDER.email]);
  return result;
}

/** `temporal-codec keygen --id <id>`: the variable it prints, and the key. */
async function keygen(id: string): Promise<{ name: string; value: string; key: Buffer }> {
  const out: string[] = [];
  const io: CliIo = { env: {}, stdout: (text) => void out.push(text), stderr: () => {}, readInput: async () => '' };
  expect(await runCli(['keygen', '--id', id], io)).toBe(0);
  const [, name, value] = /^([^=]+)=(base64:.+)\n$/.exec(out.join(''))!;
  const key = Buffer.from(value!.slice('base64:'.length), 'base64');
  extraSecrets.push(key.toString('base64'), key.toString('hex'));
  return { name: name!, value: value!, key };
}

/** `value` encrypted under any key id with `key`, as a worker whose active id is `keyId` writes it. */
function encryptedUnder(keyId: string, key: Buffer, value: unknown): PayloadJson {
  const codec = new EncryptionCodec({ keyRing: KeyRing.fromKeys({ [keyId]: key }, keyId) });
  return payloadToJson(codec.encryptPayload(plainPayload(value)));
}

describe('temporal-codec scan', () => {
  it('prints a table: a verdict per key id, and the open workflows still on an old key', async () => {
    connection.fake = fakeTemporal(runs());
    const result = await scan([]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^scanned 3 workflow run\(s\) and 0 schedule\(s\) in namespace "default" \(all executions\) in \d+\.\d s: 1 open, 2 closed; 4 payload\(s\), 3 encrypted\n/,
    );
    expect(result.stdout).toContain(
      [
        'KEY ID  VERDICT     PAYLOADS  OPEN  CLOSED  SCHEDULES  NOTE',
        'new     active             1     0       1          0  new payloads are encrypted with it',
        'old     referenced         2     1       1          0  keep: 1 open and 1 closed workflow(s) need it',
        '',
        'open workflows still on a non-active key (1):',
        '  order-open-old  run order-open-old-run  old',
        '',
      ].join('\n'),
    );
    expect(connection.closed).toBe(1);
  });

  it('says an old key no history needs is safe to retire in this namespace', async () => {
    connection.fake = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) }]);
    const result = await scan([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^old +unreferenced +0 +0 +0 +0 +safe to retire in this namespace$/m);
  });

  // Bug: a key id with no key (missing) let the other keys be called safe to retire, with exit 0: payloads under
  // `2025` whose key sat in a keys-dir file named `prod_2025` made `prod_2025`, the one key that opens them, retirable.
  it('calls a key id with no key unreadable, retires no key while it is missing, says why and exits 1', async () => {
    connection.fake = fakeTemporal([
      { workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('new', 1), encrypted('gone', 2)] }) },
    ]);
    const result = await scan([]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/; 1 key id\(s\) MISSING\n/);
    expect(result.stdout).toMatch(/^gone +missing +1 +0 +1 +0 +UNREADABLE: no key configured$/m);
    expect(result.stdout).toMatch(/^old +unseen +0 +0 +0 +0 +no payload in what was scanned \(not a complete scan\)$/m);
    expect(result.stdout).not.toContain('unreferenced');
    expect(result.stderr).toBe(
      'temporal-codec: 1 key id(s) missing (gone): no key configured for these ids opens their payloads, and the one ' +
        'that does may be configured under another id, so no key is called safe to retire\n',
    );
  });

  it('names the configured key that opens a missing id\'s payloads: the same key under another id', async () => {
    const { dir, remove } = tempDir('scan-moved-key');
    try {
      // The 2025 key, moved to a file named prod_2025: payloads say 2025, and no key is configured under it.
      writeFileSync(join(dir, 'prod_2025'), `base64:${KEYS.gone.toString('base64')}\n`);
      writeFileSync(join(dir, 'new'), `base64:${KEYS.new.toString('base64')}\n`);
      connection.fake = fakeTemporal([
        { workflowId: 'w', open: true, events: eventsWith({ input: [encryptedUnder('2025', KEYS.gone, 1), encrypted('new', 2)] }) },
      ]);
      const env = { TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'new' };
      const result = await scan(['--keys-dir', dir], env);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(
        [
          'KEY ID     VERDICT  PAYLOADS  OPEN  CLOSED  SCHEDULES  NOTE',
          '2025       missing         1     1       0          0  UNREADABLE: no key configured; key prod_2025 decrypts it',
          'new        active          1     1       0          0  new payloads are encrypted with it',
          'prod_2025  unseen          0     0       0          0  keep: the payloads of missing key id(s) 2025 decrypt with it',
          '',
        ].join('\n'),
      );
      expect(result.stderr).toBe(
        'temporal-codec: 1 key id(s) missing (2025): no key configured for these ids opens their payloads, and the one ' +
          'that does may be configured under another id, so no key is called safe to retire (the payloads under 2025 ' +
          'decrypt with key prod_2025: configure that key under id 2025)\n',
      );
      const json = await scan(['--keys-dir', dir, '-o', 'json'], env);
      const report = JSON.parse(json.stdout) as ScanReport;
      expect(report.complete).toBe(false);
      expect(report.keys.map((key) => [key.keyId, key.verdict, key.decryptedBy])).toEqual([
        ['2025', 'missing', 'prod_2025'],
        ['new', 'active', undefined],
        ['prod_2025', 'unseen', undefined],
      ]);
    } finally {
      remove();
    }
  });

  it('says in --help that safe to retire covers the scanned namespace only', async () => {
    const help = await scan(['--help']);
    expect(help.code).toBe(0);
    const text = help.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('safe to retire in this namespace (scan every namespace whose workers or clients hold the key before removing it)');
  });

  it('does not call a key safe to retire from a scan limited by --query', async () => {
    connection.fake = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) }]);
    const result = await scan(['--query', "WorkflowType = 'orderWorkflow'"]);
    expect(result.stdout).toContain('(executions matching "WorkflowType = \'orderWorkflow\'")');
    expect(result.stdout).toMatch(/^old +unseen +0 +0 +0 +0 +no payload in what was scanned \(not a complete scan\)$/m);
  });

  it('prints the whole report as JSON with --output json', async () => {
    connection.fake = fakeTemporal(runs());
    const result = await scan(['--output', 'json', '--concurrency', '2']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as ScanReport;
    expect(report).toMatchObject({
      namespace: 'default',
      activeKeyId: 'new',
      partial: false,
      complete: true,
      workflows: { scanned: 3, open: 1, closed: 2 },
      payloads: { total: 4, encrypted: 3, byKeyId: { new: 1, old: 2 } },
      openWorkflowsOnInactiveKeys: [{ workflowId: 'order-open-old', runId: 'order-open-old-run', keyIds: ['old'] }],
    });
    expect(report.keys.map((key) => [key.keyId, key.verdict, key.openWorkflows, key.closedWorkflows])).toEqual([
      ['new', 'active', 0, 1],
      ['old', 'referenced', 1, 1],
    ]);
  });

  it('passes the connection flags on and takes the active key id from --key-id', async () => {
    connection.fake = fakeTemporal(runs());
    const result = await scan(['--address', 'temporal.example:7233', '-n', 'default', '--tls', '--key-id', 'old', '-o', 'json']);
    expect(connection.flags).toMatchObject({ address: 'temporal.example:7233', namespace: 'default', tls: true });
    expect((JSON.parse(result.stdout) as ScanReport).keys.map((key) => [key.keyId, key.verdict])).toEqual([
      ['new', 'referenced'],
      ['old', 'active'],
    ]);
  });

  it('exits 1 naming the first history it could not read', async () => {
    connection.fake = fakeTemporal([...runs(), { workflowId: 'broken', open: true, events: [], failWith: { code: 14, details: 'unavailable' } }]);
    const result = await scan([]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('; 1 COULD NOT BE READ');
    expect(result.stderr).toBe(
      'temporal-codec: 1 history(ies) could not be read, so the report does not cover them (first: broken: unavailable)\n',
    );
  });

  it('keeps a key that only a schedule still uses, and lists the schedules on old keys', async () => {
    connection.fake = fakeTemporal(
      [{ workflowId: 'order-new', open: false, events: eventsWith({ input: [encrypted('new', SECRET_ORDER)] }) }],
      {
        schedules: [
          { scheduleId: 'nightly-orders', input: [encrypted('old', SECRET_ORDER)], memo: { placedBy: encrypted('old', SECRET_ORDER.email) } },
          { scheduleId: 'hourly-orders', input: [encrypted('new', SECRET_ORDER)] },
        ],
      },
    );
    const result = await scan([]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^scanned 1 workflow run\(s\) and 2 schedule\(s\) in namespace "default" \(all executions\)/);
    expect(result.stdout).toContain(
      [
        'KEY ID  VERDICT     PAYLOADS  OPEN  CLOSED  SCHEDULES  NOTE',
        'new     active             2     0       1          1  new payloads are encrypted with it',
        'old     referenced         2     0       0          1  keep: 1 schedule(s) need it',
        '',
        'schedules still on a non-active key (1):',
        '  nightly-orders  old',
        '',
      ].join('\n'),
    );

    const json = await scan(['-o', 'json']);
    const report = JSON.parse(json.stdout) as ScanReport;
    expect(report.schedules).toEqual({ skipped: false, scanned: 2, vanished: 0, failed: 0 });
    expect(report.schedulesOnInactiveKeys).toEqual([{ scheduleId: 'nightly-orders', keyIds: ['old'] }]);
    expect(report.keys.map((key) => [key.keyId, key.verdict, key.schedules])).toEqual([
      ['new', 'active', 1],
      ['old', 'referenced', 1],
    ]);
  });

  it('with --no-schedules, reads no schedule and calls no key safe to retire', async () => {
    connection.fake = fakeTemporal(runs().slice(2), { schedules: [{ scheduleId: 'nightly-orders', input: [encrypted('old', SECRET_ORDER)] }] });
    const result = await scan(['--no-schedules']);
    expect(result.code).toBe(0);
    expect(connection.fake.scheduleListRequests).toBe(0);
    expect(result.stdout).toMatch(/^scanned 1 workflow run\(s\) in namespace "default" \(all executions; schedules not read\) in /);
    expect(result.stdout).toMatch(/^old +unseen +0 +0 +0 +- +no payload in what was scanned \(not a complete scan\)$/m);
    expect(result.stdout).not.toContain('schedules still on');
    const report = JSON.parse((await scan(['--no-schedules', '-o', 'json'])).stdout) as ScanReport;
    expect(report.schedules).toEqual({ skipped: true, scanned: 0, vanished: 0, failed: 0 });
    expect(report.keys.find((key) => key.keyId === 'old')).toMatchObject({ verdict: 'unseen', schedules: 0 });
  });

  it('exits 1 when the schedules cannot be listed, pointing at --no-schedules', async () => {
    connection.fake = fakeTemporal(runs(), { scheduleListFailure: { code: 7, details: 'request unauthorized' } });
    const result = await scan([]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('temporal-codec: could not list the schedules: request unauthorized (--no-schedules skips them)\n');
    expect(connection.closed).toBe(1);
    expect((await scan(['--no-schedules'])).code).toBe(0);
  });

  it('exits 1 naming the first schedule it could not read, and does not call a key safe to retire', async () => {
    connection.fake = fakeTemporal(runs().slice(2), {
      schedules: [
        { scheduleId: 'denied', failWith: { code: 7, details: 'permission denied' } },
        { scheduleId: 'gone-meanwhile', failWith: { code: 5, details: 'not found' } },
      ],
    });
    const result = await scan([]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('; 1 schedule(s) deleted while scanning; 1 schedule(s) COULD NOT BE READ');
    expect(result.stdout).toMatch(/^old +unseen +0 +0 +0 +0 +no payload in what was scanned \(not a complete scan\)$/m);
    expect(result.stderr).toBe(
      'temporal-codec: 1 schedule(s) could not be read, so the report does not cover them ' +
        '(first schedule: denied: permission denied)\n',
    );
  });

  it('exits 2 on a bad --concurrency or --output', async () => {
    connection.fake = fakeTemporal(runs());
    expect((await scan(['--concurrency', '0'])).code).toBe(2);
    expect((await scan(['--output', 'yaml'])).code).toBe(2);
  });

  it('on Ctrl-C, prints the partial report, marked partial, and exits 130', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    connection.fake = fakeTemporal([
      ...runs(),
      ...Array.from({ length: 10 }, (_, index): FakeRun => ({
        workflowId: `held-${index}`,
        open: false,
        events: eventsWith({ input: [encrypted('old', index)] }),
        hold: { until: held, afterPages: 0 },
      })),
    ]);
    const listenersBefore = process.listenerCount('SIGINT');
    const running = scan(['--concurrency', '1', '-o', 'json']);
    await vi.waitFor(() => expect(connection.fake!.historyRequests).toContain('held-0/0'));
    expect(process.listenerCount('SIGINT')).toBe(listenersBefore + 1);
    process.emit('SIGINT');
    const result = await running;
    release();
    expect(result.code).toBe(130);
    const report = JSON.parse(result.stdout) as ScanReport;
    expect(report.partial).toBe(true);
    expect(report.workflows.scanned).toBe(3);
    expect(result.stderr).toBe('temporal-codec: interrupted: the report is partial (3 workflow run(s) and 0 schedule(s) scanned)\n');
    expect(process.listenerCount('SIGINT')).toBe(listenersBefore);
    expect(connection.closed).toBe(1);
  });

  it('marks the table partial too', async () => {
    connection.fake = fakeTemporal(runs());
    const program = new Command().exitOverride();
    const out: string[] = [];
    const io: CliIo = { env: CLI_ENV, stdout: (text) => void out.push(text), stderr: () => {}, readInput: async () => '' };
    const interrupt = AbortSignal.abort();
    registerScan(program, io, {
      connect: async () => ({ client: connection.fake!.client, namespace: 'default', close: async () => {} }),
      interrupt,
    });
    await expect(program.parseAsync(['scan'], { from: 'user' })).rejects.toMatchObject({ exitCode: 130 });
    expect(out.join('')).toMatch(/^PARTIAL \(interrupted\): scanned 0 workflow run\(s\)/);
  });

  // Bug: scan inflated binary/zlib payloads with the default 64 MiB cap whatever was asked; decode took the flag.
  it('inflates a binary/zlib payload up to --max-decompressed-bytes', async () => {
    // Go's zlib(encrypted(x)): the payload inside inflates to a little over 5000 bytes.
    const go = goCompressed('old', 'z'.repeat(5000));
    connection.fake = fakeTemporal([{ workflowId: 'go', open: false, events: eventsWith({ input: [go] }) }]);
    for (const args of [['--max-decompressed-bytes', '100000'], []]) {
      const result = await scan(['-o', 'json', ...args]);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as ScanReport;
      expect(report.payloads).toEqual({
        total: 1,
        encrypted: 1,
        byKeyId: { old: 1 },
        compressed: 0,
        ...NONE_UNINSPECTED,
        plain: 0,
        other: 0,
      });
      expect(report.keys.find((key) => key.keyId === 'old')?.verdict).toBe('referenced');
    }
    expect((await scan(['--max-decompressed-bytes', '0'])).code).toBe(2);
  });

  // Bug: a binary/zlib payload inflating past the cap counted as compressed, its key id unseen, and the old key it
  // needs was called "unreferenced ... safe to retire" with exit 0: deleting it would lose the payload.
  it('never calls a key safe to retire while a binary/zlib payload could not be opened, says why, and exits 1', async () => {
    const go = goCompressed('old', 'z'.repeat(5000));
    connection.fake = fakeTemporal([
      { workflowId: 'go', open: false, events: eventsWith({ input: [go] }) },
      { workflowId: 'new', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) },
    ]);
    const result = await scan(['--max-decompressed-bytes', '1000']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/; 2 payload\(s\), 1 encrypted; 1 binary\/zlib payload\(s\) COULD NOT BE OPENED\n/);
    expect(result.stdout).not.toContain('safe to retire');
    expect(result.stdout).toMatch(/^old +unseen +0 +0 +0 +0 +no payload in what was scanned \(not a complete scan\)$/m);
    expect(result.stderr).toBe(
      'temporal-codec: 1 binary/zlib payload(s) could not be opened, so the key ids inside them are unknown and no key ' +
        'is called safe to retire (1 inflate(s) past --max-decompressed-bytes (1000): raise it to open them)\n',
    );

    const json = await scan(['-o', 'json', '--max-decompressed-bytes', '1000']);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as ScanReport).payloads).toEqual({
      total: 2,
      encrypted: 1,
      byKeyId: { new: 1 },
      compressed: 0,
      uninspected: 1,
      uninspectedByReason: { tooLarge: 1, notZlib: 0, nested: 0 },
      plain: 0,
      other: 0,
    });
    expect(json.stderr).toBe(result.stderr);
    // For scripts: the verdict itself is not "unreferenced" while the report is not complete.
    expect((JSON.parse(json.stdout) as ScanReport).complete).toBe(false);
    expect((JSON.parse(json.stdout) as ScanReport).keys.find((key) => key.keyId === 'old')?.verdict).toBe('unseen');

    // The same cap from the variable: the message gives the cap in force.
    const fromEnv = await scan([], { ...CLI_ENV, TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES: '2000' });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain('(1 inflate(s) past --max-decompressed-bytes (2000): raise it to open them)');
  });

  it('counts a binary/zlib payload that is not a valid zlib stream as not opened, next to a history it could not read', async () => {
    const go = goCompressed('old', 1);
    const truncated = { ...go, data: Buffer.from(go.data!, 'base64').subarray(0, 20).toString('base64') };
    connection.fake = fakeTemporal([
      { workflowId: 'damaged', open: false, events: eventsWith({ input: [truncated] }) },
      { workflowId: 'broken', open: false, events: [], failWith: { code: 14, details: 'unavailable' } },
      { workflowId: 'new', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) },
    ]);
    const result = await scan([]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('; 1 COULD NOT BE READ; 1 binary/zlib payload(s) COULD NOT BE OPENED\n');
    expect(result.stdout).not.toContain('safe to retire');
    expect(result.stderr).toBe(
      'temporal-codec: 1 history(ies) could not be read, so the report does not cover them (first: broken: ' +
        'unavailable); 1 binary/zlib payload(s) could not be opened, so the key ids inside them are unknown and no key ' +
        'is called safe to retire (1 not a valid zlib stream)\n',
    );
  });

  // Bug: a cap of 0 from the variable or the config file was not refused as the flag's is.
  it('refuses a cap of 0 from the variable (exit 2) or the config file (exit 1), naming it, before connecting', async () => {
    connection.fake = fakeTemporal(runs());
    const result = await scan([], { ...CLI_ENV, TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES: '0' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('temporal-codec: TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES must be an integer greater than 0\n');
    expect(result.stdout).toBe('');
    const { dir, remove } = tempDir('scan-config');
    try {
      const config = join(dir, 'config.yaml');
      writeFileSync(config, 'temporal:\n  security:\n    maxDecompressedBytes: 0\n');
      const fromFile = await scan(['--config', config]);
      expect(fromFile.code).toBe(1);
      expect(fromFile.stderr).toBe(
        `temporal-codec: ${config}: temporal.security.maxDecompressedBytes must be an integer greater than 0 (ERR_CONFIG)\n`,
      );
    } finally {
      remove();
    }
    expect(connection.fake.historyRequests).toEqual([]);
    expect(connection.closed).toBe(0);
  });

  // Bug: a malformed codec variable exited 1 (ERR_CONFIG), though the README calls it a usage error (exit 2).
  it('exits 2 on a malformed codec variable, and 1 on a config file it cannot read, before connecting', async () => {
    connection.fake = fakeTemporal(runs());
    const result = await scan([], { ...CLI_ENV, TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES: 'abc' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('temporal-codec: TEMPORAL_CODEC_MAX_DECOMPRESSED_BYTES must be an integer greater than 0\n');
    expect(result.stdout).toBe('');
    const { dir, remove } = tempDir('scan-no-config');
    try {
      const missing = join(dir, 'config.yaml');
      const unreadable = await scan(['--config', missing]);
      expect(unreadable.code).toBe(1);
      expect(unreadable.stderr).toBe(`temporal-codec: config file ${missing} cannot be read (ENOENT) (ERR_CONFIG)\n`);
    } finally {
      remove();
    }
    expect(connection.fake.historyRequests).toEqual([]);
    expect(connection.closed).toBe(0);
  });

  it('draws a progress bar with the rate and ETA on a terminal, and none elsewhere', async () => {
    const many = Array.from({ length: 30 }, (_, index): FakeRun => ({
      workflowId: `w${index}`,
      open: false,
      events: eventsWith({ input: [encrypted('new', index)] }),
    }));
    const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 120 }) as unknown as NodeJS.WriteStream;
    let drawn = '';
    (terminal as unknown as PassThrough).on('data', (chunk: Buffer) => (drawn += chunk.toString()));
    for (const progressStream of [terminal, Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream]) {
      const program = new Command().exitOverride();
      const io: CliIo = { env: CLI_ENV, stdout: () => {}, stderr: () => {}, readInput: async () => '' };
      registerScan(program, io, {
        connect: async () => ({ client: fakeTemporal(many).client, namespace: 'default', close: async () => {} }),
        progressStream,
      });
      await program.parseAsync(['scan', '--concurrency', '1'], { from: 'user' });
    }
    expect(drawn).toMatch(/scan \|[█░]+\| \d+% \| \d+\/30 workflows \| \d+\/s \| ETA /);
  });
});

describe('temporal-codec scan: unreferenced only from a complete scan', () => {
  // Bug: from a scan that was not complete, --output json called a configured key with no payload `unreferenced`,
  // the verdict that means "safe to retire"; only the table's note and `complete: false` said otherwise, so a script
  // reading the verdict would delete a key that what the scan did not see may need.
  const newRun = (): FakeRun => ({ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('new', 1)] }) });
  const verdicts = (stdout: string) =>
    (JSON.parse(stdout) as ScanReport).keys.map((key) => [key.keyId, key.verdict, key.payloads]);

  it('calls a configured key with no payload unreferenced from a complete scan, and exits 0', async () => {
    connection.fake = fakeTemporal([newRun()]);
    const result = await scan(['-o', 'json']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as ScanReport).complete).toBe(true);
    expect(verdicts(result.stdout)).toEqual([
      ['new', 'active', 1],
      ['old', 'unreferenced', 0],
    ]);
  });

  it('calls it unseen from a scan limited by --query or --no-schedules, and still exits 0', async () => {
    for (const args of [['--query', "WorkflowType = 'order'"], ['--no-schedules']]) {
      connection.fake = fakeTemporal([newRun()]);
      const json = await scan(['-o', 'json', ...args]);
      expect(json.code).toBe(0);
      expect(json.stderr).toBe('');
      expect((JSON.parse(json.stdout) as ScanReport).complete).toBe(false);
      expect(verdicts(json.stdout)).toEqual([
        ['new', 'active', 1],
        ['old', 'unseen', 0],
      ]);
      const table = await scan(args);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^old +unseen +0 +0 +0 +(0|-) +no payload in what was scanned \(not a complete scan\)$/m);
      expect(table.stdout).not.toContain('unreferenced');
    }
  });

  it('calls it unseen from an interrupted scan, and still exits 130', async () => {
    connection.fake = fakeTemporal([newRun()]);
    const program = new Command().exitOverride();
    const out: string[] = [];
    const io: CliIo = { env: CLI_ENV, stdout: (text) => void out.push(text), stderr: () => {}, readInput: async () => '' };
    registerScan(program, io, {
      connect: async () => ({ client: connection.fake!.client, namespace: 'default', close: async () => {} }),
      interrupt: AbortSignal.abort(),
    });
    await expect(program.parseAsync(['scan', '-o', 'json'], { from: 'user' })).rejects.toMatchObject({ exitCode: 130 });
    expect(JSON.parse(out.join(''))).toMatchObject({ partial: true, complete: false });
    expect(verdicts(out.join(''))).toEqual([
      ['new', 'active', 0],
      ['old', 'unseen', 0],
    ]);
  });

  it('calls it unseen while a payload could not be opened or a history or schedule read, and still exits 1', async () => {
    const go = goCompressed('old', 1);
    const truncated = { ...go, data: Buffer.from(go.data!, 'base64').subarray(0, 20).toString('base64') };
    const fakes = [
      fakeTemporal([newRun(), { workflowId: 'damaged', open: false, events: eventsWith({ input: [truncated] }) }]),
      fakeTemporal([newRun(), { workflowId: 'broken', open: false, events: [], failWith: { code: 14, details: 'unavailable' } }]),
      fakeTemporal([newRun()], { schedules: [{ scheduleId: 'denied', failWith: { code: 7, details: 'permission denied' } }] }),
    ];
    for (const fake of fakes) {
      connection.fake = fake;
      const result = await scan(['-o', 'json']);
      expect(result.code).toBe(1);
      expect((JSON.parse(result.stdout) as ScanReport).complete).toBe(false);
      expect(verdicts(result.stdout)).toEqual([
        ['new', 'active', 1],
        ['old', 'unseen', 0],
      ]);
    }
  });
});

describe('temporal-codec scan: which key is which', () => {
  // Bug: with keys named as `keygen --id 2026-11` prints them (TEMPORAL_ENCRYPTION_KEY_2026_11), scan printed
  // "2026_11 unreferenced ... safe to retire" for the active key's own variable, and "2025_06 ... safe to retire" while
  // payloads under 2025-06 existed.
  it('never calls a key that keygen named for an id retirable while that id is active or has payloads', async () => {
    const current = await keygen('2026-11');
    const previous = await keygen('2025-06');
    const retired = await keygen('2024-01');
    expect([current.name, previous.name, retired.name]).toEqual([
      'TEMPORAL_ENCRYPTION_KEY_2026_11',
      'TEMPORAL_ENCRYPTION_KEY_2025_06',
      'TEMPORAL_ENCRYPTION_KEY_2024_01',
    ]);
    connection.fake = fakeTemporal([
      { workflowId: 'open-2025', open: true, events: eventsWith({ input: [encryptedUnder('2025-06', previous.key, SECRET_ORDER)] }) },
      { workflowId: 'done-2026', open: false, events: eventsWith({ input: [encryptedUnder('2026-11', current.key, SECRET_ORDER)] }) },
    ]);
    const env = {
      [current.name]: current.value,
      [previous.name]: previous.value,
      [retired.name]: retired.value,
      TEMPORAL_CODEC_ENCRYPTION_KEY_ID: '2026-11',
    };
    const result = await scan([], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      [
        'KEY ID   VERDICT       PAYLOADS  OPEN  CLOSED  SCHEDULES  NOTE',
        '2024_01  unreferenced         0     0       0          0  safe to retire in this namespace',
        '2025-06  referenced           1     1       0          0  keep: 1 open and 0 closed workflow(s) need it (served by key 2025_06)',
        '2026-11  active               1     0       1          0  new payloads are encrypted with it (served by key 2026_11)',
        '',
      ].join('\n'),
    );
    const report = JSON.parse((await scan(['-o', 'json'], env)).stdout) as ScanReport;
    expect(report.keys.map((key) => [key.keyId, key.verdict, key.servedBy, key.decrypts])).toEqual([
      ['2024_01', 'unreferenced', '2024_01', undefined],
      ['2025-06', 'referenced', '2025_06', true],
      ['2026-11', 'active', '2026_11', true],
    ]);
  });

  // Bug: scan ignored DIR/.active-key-id, which `serve` encrypts with, and called the really active key retirable.
  it('takes the active key id from DIR/.active-key-id of --keys-dir as serve does, and --key-id over it', async () => {
    const { dir, remove } = tempDir('scan-keys');
    try {
      writeFileSync(join(dir, 'old'), `base64:${KEYS.old.toString('base64')}\n`);
      writeFileSync(join(dir, 'new'), `base64:${KEYS.new.toString('base64')}\n`);
      writeFileSync(join(dir, '.active-key-id'), 'new\n');
      connection.fake = fakeTemporal([{ workflowId: 'w', open: false, events: eventsWith({ input: [encrypted('old', 1)] }) }]);
      const verdicts = async (args: string[], env: Record<string, string> = {}) =>
        (JSON.parse((await scan(['--keys-dir', dir, '-o', 'json', ...args], env)).stdout) as ScanReport).keys.map(
          (key) => [key.keyId, key.verdict],
        );
      expect(await verdicts([])).toEqual([
        ['new', 'active'],
        ['old', 'referenced'],
      ]);
      // The file wins over the configured id, exactly as in `serve`; only an explicit --key-id asks about another.
      expect(await verdicts([], { TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'old' })).toEqual([
        ['new', 'active'],
        ['old', 'referenced'],
      ]);
      expect(await verdicts(['--key-id', 'old'])).toEqual([
        ['new', 'unreferenced'],
        ['old', 'active'],
      ]);
      writeFileSync(join(dir, '.active-key-id'), 'not one id\n');
      const bad = await scan(['--keys-dir', dir]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`${join(dir, '.active-key-id')} must hold one key id`);
    } finally {
      remove();
    }
  });
});
