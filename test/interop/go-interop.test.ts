/**
 * Interoperability with Temporal's Go SDK, both ways: payloads made by ./go (the real Go SDK's default data converter
 * and ZlibCodec, and an AES-256-GCM codec written to shared/design/wire-format.md) decode here, and payloads made
 * here decode there. Needs the Go toolchain: without it the suite is skipped locally and fails under CI=true.
 *
 * Output rule: no key material and no payload bytes in any message; failures show Go's stderr, which names key ids
 * and variables only.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';
// The Temporal SDK's own codec runner, which decodes last to first (see test/helpers/payloads.ts).
import { decode as sdkDecode } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompressionCodec,
  createPayloadCodecs,
  EncryptionCodec,
  KeyRing,
  METADATA_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
  parsePayloadsJson,
  toPayloadsJson,
} from '../../src/index.js';

const GO_MODULE = join(dirname(fileURLToPath(import.meta.url)), 'go');
const GO_BINARY = join(GO_MODULE, 'bin', 'interop');
/** The first `go build` downloads the Go SDK and its dependencies from the module proxy and compiles them. */
const GO_BUILD_TIMEOUT_MS = 300_000;
const GO_RUN_TIMEOUT_MS = 60_000;

const goVersion = spawnSync('go', ['version'], { encoding: 'utf8', timeout: GO_RUN_TIMEOUT_MS });
const goMissing = goVersion.error !== undefined || goVersion.status !== 0;
const goRequired = process.env.CI === 'true';
if (goMissing && !goRequired) {
  console.warn('go-interop: skipped, no `go` toolchain on PATH (under CI=true this suite fails instead)');
}

const utf8 = new TextDecoder();

function encodingOf(payload: Payload): string | undefined {
  const value = payload.metadata?.[METADATA_ENCODING];
  return value ? utf8.decode(value) : undefined;
}

function keyIdOf(payload: Payload): string | undefined {
  const value = payload.metadata?.[METADATA_ENCRYPTION_KEY_ID];
  return value ? utf8.decode(value) : undefined;
}

/** TypeScript SDK order: encode runs the codecs first to last. */
async function encodeValues(codecs: PayloadCodec[], values: unknown[]): Promise<Payload[]> {
  let payloads = values.map((value) => defaultPayloadConverter.toPayload(value));
  for (const codec of codecs) payloads = await codec.encode(payloads);
  return payloads;
}

/** TypeScript SDK order: decode runs the codecs last to first. */
async function decodeValues(codecs: PayloadCodec[], encoded: Payload[]): Promise<unknown[]> {
  let payloads = encoded;
  for (const codec of [...codecs].reverse()) payloads = await codec.decode(payloads);
  return payloads.map((payload) => defaultPayloadConverter.fromPayload(payload));
}

interface GoResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the Go program with only the given key variables in its environment (none inherited, so a developer's own
 * TEMPORAL_ENCRYPTION_KEY_* cannot change the outcome).
 */
function runGo(args: string[], keys: Record<string, string>, input?: string): GoResult {
  const result = spawnSync(GO_BINARY, args, {
    input,
    env: { ...keys },
    encoding: 'utf8',
    timeout: GO_RUN_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new Error(`the Go interop program did not run: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Go's stderr, shortened: it names key ids and variables, never keys or payload bytes. */
function goFailure(what: string, result: GoResult): string {
  return `${what}: go exited with status ${String(result.status)}: ${result.stderr.trim().slice(0, 500)}`;
}

function goProduce(keys: Record<string, string>, keyId: string, expectedFile: string): Payload[] {
  const result = runGo(['produce', '-key-id', keyId, '-expected', expectedFile], keys);
  if (result.status !== 0) throw new Error(goFailure('interop produce', result));
  return parsePayloadsJson(result.stdout);
}

function goDecode(keys: Record<string, string>, payloads: Payload[]): unknown[] {
  const result = runGo(['decode'], keys, JSON.stringify(toPayloadsJson(payloads)));
  if (result.status !== 0) throw new Error(goFailure('interop decode', result));
  return JSON.parse(result.stdout) as unknown[];
}

/** A record list far above the 1 KiB compression threshold, and very compressible. */
function largeValue(source: string): { source: string; records: unknown[] } {
  const records = Array.from({ length: 80 }, (_, id) => ({
    id,
    status: 'delivered',
    comment: 'a shipment record repeated to make the payload large and compressible',
  }));
  return { source, records };
}

const smallValue = { source: 'typescript', count: 7, ok: true, tags: ['x', 'y'], text: 'héllo ✓ 日本' };

if (goMissing && goRequired) {
  it('finds the Go toolchain, which CI=true requires for the Go SDK interop test', () => {
    expect.fail('`go` is not on PATH: CI must install Go to run test/interop');
  });
}

describe.skipIf(goMissing)('interop with the Temporal Go SDK', () => {
  let workDir: string;
  const key = randomBytes(32);
  const keyRing = KeyRing.fromKeys({ interop: key }, 'interop');
  const goKeys = { TEMPORAL_ENCRYPTION_KEY_interop: `base64:${key.toString('base64')}` };

  beforeAll(() => {
    // A HOME-less environment leaves Go without a build cache or module cache: give it temporary ones.
    const env = { ...process.env };
    if (!env.HOME && !env.GOCACHE) env.GOCACHE = join(tmpdir(), 'temporal-payload-codec-gocache');
    if (!env.HOME && !env.GOPATH) env.GOPATH = join(tmpdir(), 'temporal-payload-codec-gopath');
    const build = spawnSync('go', ['build', '-o', GO_BINARY, '.'], {
      cwd: GO_MODULE,
      env,
      encoding: 'utf8',
      timeout: GO_BUILD_TIMEOUT_MS,
    });
    if (build.error || build.status !== 0) {
      const reason = build.error?.message ?? build.stderr.trim().slice(-2000);
      throw new Error(`go build of test/interop/go failed: ${reason}`);
    }
    workDir = mkdtempSync(join(tmpdir(), 'go-interop-'));
  }, GO_BUILD_TIMEOUT_MS + 30_000);

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('decodes in TypeScript the payloads Go encrypted, compressed then encrypted, and compressed only', async () => {
    const expectedFile = join(workDir, 'expected-a.json');
    const payloads = goProduce(goKeys, 'interop', expectedFile);
    const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as unknown[];

    expect(payloads.map(encodingOf)).toEqual(['binary/encrypted', 'binary/encrypted', 'binary/zlib', 'binary/zlib']);
    expect(payloads.slice(0, 2).map(keyIdOf)).toEqual(['interop', 'interop']);
    // Go's codec list (encryption, zlib) compressed the large value before encrypting it: under the encryption
    // layer lies a binary/zlib payload, as TypeScript's [compression, encryption] would have made.
    const decrypted = await new EncryptionCodec({ keyRing }).decode(payloads.slice(0, 2));
    expect(decrypted.map(encodingOf)).toEqual(['json/plain', 'binary/zlib']);

    const values = await decodeValues(createPayloadCodecs({ keyRing }), payloads);
    expect(values).toEqual(expected);
    expect(values).toHaveLength(4);
    expect(values[2]).toBe("compressed by the Go SDK's ZlibCodec");
  });

  it("decodes in TypeScript Go's (zlib, encryption) order, Trenova's: zlib(encrypted(x)) through the SDK's decode", async () => {
    const expectedFile = join(workDir, 'expected-b.json');
    const payloads = goProduce(goKeys, 'interop', expectedFile);
    const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as unknown[];
    const goOrder = payloads[3]!;

    // Go encrypted first and compressed last (AlwaysEncode): under the binary/zlib layer lies a binary/encrypted one.
    expect(encodingOf(goOrder)).toBe('binary/zlib');
    const [inflated] = await new CompressionCodec().decode([goOrder]);
    expect([encodingOf(inflated!), keyIdOf(inflated!)]).toEqual(['binary/encrypted', 'interop']);

    const [decoded] = (await sdkDecode(createPayloadCodecs({ keyRing }), [goOrder])) as Payload[];
    expect(encodingOf(decoded!)).toBe('json/plain');
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(expected[3]);
    expect(expected[3]).toMatchObject({ source: "go, Trenova's codec order" });
  });

  it('decodes in Go the payloads TypeScript compressed and encrypted, small and large', async () => {
    const values = [smallValue, largeValue('typescript'), 'a plain string', null, 12.5];
    const payloads = await encodeValues(createPayloadCodecs({ keyRing }), values);

    expect(payloads.map(encodingOf)).toEqual(Array(values.length).fill('binary/encrypted'));
    const inner = await new EncryptionCodec({ keyRing }).decode(payloads);
    expect(inner.map(encodingOf)).toEqual(['json/plain', 'binary/zlib', 'json/plain', 'json/plain', 'json/plain']);

    expect(goDecode(goKeys, payloads)).toEqual(values);
  });

  it('inflates in Go the payloads TypeScript compressed without encryption', async () => {
    const values = [largeValue('typescript, compression only')];
    const payloads = await encodeValues(createPayloadCodecs({ enableEncryption: false }), values);

    expect(payloads.map(encodingOf)).toEqual(['binary/zlib']);
    expect(goDecode({}, payloads)).toEqual(values);
  });

  it('makes Go exit non-zero when one bit of an encrypted payload flips (nonce, ciphertext, tag)', async () => {
    const [payload] = await encodeValues(createPayloadCodecs({ keyRing }), [smallValue]);
    if (!payload?.data) throw new Error('the encryption codec returned no payload data');
    const data = payload.data;
    // The untampered payload decodes, so each failure below is the flipped bit's doing.
    expect(goDecode(goKeys, [payload])).toEqual([smallValue]);

    for (const position of [0, Math.floor(data.length / 2), data.length - 1]) {
      const flipped = Uint8Array.from(data);
      flipped[position]! ^= 0x01;
      const tampered: Payload = { metadata: payload.metadata, data: flipped };
      const result = runGo(['decode'], goKeys, JSON.stringify(toPayloadsJson([tampered])));

      expect(result.status, `bit flipped at byte ${position}`).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('decryption failed (key id "interop")');
      // A boolean, so that a failure does not print the key it looked for.
      expect(result.stderr.includes(key.toString('base64')), 'Go stderr shows the key').toBe(false);
    }
  });

  it('agrees with Go on a 40-character text key: the first 32 bytes are the key, in both directions', async () => {
    const textKey = randomBytes(30).toString('base64url');
    expect(textKey.length).toBe(40);
    const keys = { TEMPORAL_ENCRYPTION_KEY_textkey: textKey };
    // The TypeScript side reads the same variable the way a deployment does, through the environment.
    const codecs = createPayloadCodecs({ env: keys, encryptionKeyID: 'textkey' });

    const values = [smallValue, largeValue('typescript, text key')];
    const fromTypeScript = await encodeValues(codecs, values);
    expect(fromTypeScript.map(keyIdOf)).toEqual(['textkey', 'textkey']);
    expect(goDecode(keys, fromTypeScript)).toEqual(values);

    const expectedFile = join(workDir, 'expected-d.json');
    const fromGo = goProduce(keys, 'textkey', expectedFile);
    expect(fromGo.slice(0, 2).map(keyIdOf)).toEqual(['textkey', 'textkey']);
    const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as unknown[];
    expect(await decodeValues(codecs, fromGo)).toEqual(expected);
  });
});
