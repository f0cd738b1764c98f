/**
 * Faults: payloads that make the codecs throw, and clients that misbehave, against the real server process.
 *
 *   npx tsx bench/endurance/faults.ts [--scale 1]
 *
 * Payload faults, each sent `repeat` times: a valid AES-GCM ciphertext whose plaintext is not a Payload (decrypts to
 * garbage), a zlib stream of garbage, a zlib bomb past the 64 MiB cap (bare and inside encryption), a truncated zlib
 * stream, a zlib stream with a wrong Adler-32, an unknown key id, a ciphertext shorter than nonce + tag, a flipped tag.
 * Each must get a JSON 4xx (422 expected). Client faults: uploads aborted mid-body (many at once), requests whose
 * client leaves before the answer, a client that pipelines big decodes and never reads, connection churn. After
 * every burst an ordinary decode must still succeed.
 *
 * Pass: every payload fault answered < 500 with a JSON error, every liveness decode 200, the server's metrics count
 * no 5xx, and the process never crashes: nothing on stderr (an uncaughtException or unhandledRejection would print
 * there and exit), no error or fatal log line, exit code 0 on SIGTERM.
 *
 * Then a hanging identity provider, against a second server process that verifies JWTs against a JWKS URL that
 * accepts connections and never answers (`--jwks-timeout 1s`) and also holds a static token: JWT-bearing decodes get a
 * JSON 503 `unavailable` with `Retry-After` within the fetch timeout (the first one waits for it, the rest fail fast),
 * while static-token decodes, sent at the same time, keep getting 200. The 503s are warnings in the log: no error
 * line is allowed there either.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { deflateSync } from 'node:zlib';
import type { Payload } from '@temporalio/common';
import { serializePayload } from '../../src/codecs/payload-proto.js';
import { toPayloadsJson } from '../../src/index.js';
import { decodeBody } from '../peers/bodies.js';
import { send } from '../peers/http-client.js';
import { exchange, isMain, type Ours, requestBytes, requestCounts, startOurs, stopAndCheck } from './lib.js';

export interface FaultsOptions {
  /** Multiplies every count (CI form: a small fraction). */
  scale?: number;
  log?: (text: string) => void;
}

export interface FaultsResult {
  payloadFaults: Record<string, Record<string, number>>;
  clientFaults: Record<string, number>;
  livenessFailures: number;
  serverStatus: Record<string, number>;
  serverFiveXx: number;
  exitMs: number;
  /** The hanging identity provider: answers by kind of caller, and the slowest JWT answer. */
  jwksHang: { jwt: Record<string, number>; staticToken: Record<string, number>; slowestJwtMs: number };
  violations: string[];
}

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

function sealRaw(key: Buffer, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function encryptedOf(key: Buffer, plaintext: Uint8Array, keyId = 'default'): Payload {
  return { metadata: { encoding: text('binary/encrypted'), 'encryption-key-id': text(keyId) }, data: sealRaw(key, plaintext) };
}

function body(payloads: Payload[]): string {
  return JSON.stringify(toPayloadsJson(payloads));
}

/** The payload bodies that make a codec throw, by name. */
function payloadFaults(ours: Ours): Record<string, string> {
  const { key, codecs } = ours;
  const zlib = (data: Uint8Array): Payload => ({ metadata: { encoding: text('binary/zlib') }, data });
  // 80 MiB of zeros deflates to about 80 KiB: past the default 64 MiB cap on inflated size.
  const bomb = deflateSync(Buffer.alloc(80 * 1024 * 1024));
  const garbageZlib = deflateSync(randomBytes(4096));
  const valid = deflateSync(Buffer.from('{"x":1}'));
  const badAdler = Buffer.from(valid);
  badAdler[badAdler.length - 1] = badAdler[badAdler.length - 1]! ^ 0xff;
  const good = codecs.encryption.encryptPayload({ metadata: { encoding: text('json/plain') }, data: text('{"ok":true}') });
  const flipped = Buffer.from(good.data!);
  flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
  const flippedTag = { ...good, data: flipped };
  return {
    'decrypts to garbage': body([encryptedOf(key, randomBytes(300))]),
    'zlib of garbage': body([zlib(garbageZlib)]),
    'zlib bomb': body([zlib(bomb)]),
    // What the encryption codec finds inside after compression: a serialized binary/zlib Payload.
    'zlib bomb inside encryption': body([encryptedOf(key, serializePayload(zlib(bomb)))]),
    'truncated zlib': body([zlib(valid.subarray(0, valid.length - 5))]),
    'zlib with a wrong Adler-32': body([zlib(badAdler)]),
    'unknown key id': body([encryptedOf(randomBytes(32), text('x'), 'no-such-key')]),
    'ciphertext shorter than nonce + tag': body([{ ...good, data: good.data!.subarray(0, 20) }]),
    'flipped tag': body([flippedTag]),
  };
}

export async function runFaults(options: FaultsOptions = {}): Promise<FaultsResult> {
  const scale = options.scale ?? 1;
  const n = (count: number): number => Math.max(1, Math.round(count * scale));
  const log = options.log ?? (() => undefined);
  const ours = await startOurs();
  const result: FaultsResult = {
    payloadFaults: {},
    clientFaults: {},
    livenessFailures: 0,
    serverStatus: {},
    serverFiveXx: 0,
    exitMs: 0,
    jwksHang: { jwt: {}, staticToken: {}, slowestJwtMs: 0 },
    violations: [],
  };
  const v = result.violations;
  const alive = async (after: string): Promise<void> => {
    const reply = await send(`${ours.url}/decode`, ours.decode1k.body, { headers: { 'x-namespace': 'default' } }).catch((e: Error) => ({ status: 0, text: e.message }));
    if (reply.status !== 200) {
      result.livenessFailures++;
      v.push(`after ${after}: an ordinary decode got ${reply.status} ${reply.text.slice(0, 100)}`);
    }
  };

  // Payloads that make the codecs throw.
  for (const [name, faultBody] of Object.entries(payloadFaults(ours))) {
    const counts: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: n(20) }, async () => {
        const reply = await send(`${ours.url}/decode`, faultBody, { headers: { 'x-namespace': 'default' } }).catch(() => undefined);
        const status = reply?.status ?? 0;
        let code = 'no-json';
        try {
          code = (JSON.parse(reply?.text ?? '') as { error?: { code?: string } }).error?.code ?? 'no-code';
        } catch {
          // counted as no-json
        }
        const key = `${status} ${code}`;
        counts[key] = (counts[key] ?? 0) + 1;
        if (status >= 500 || status < 400 || code === 'no-json' || code === 'no-code') {
          if (v.length < 30) v.push(`${name}: answered ${status} ${reply?.text.slice(0, 120) ?? '(no reply)'}`);
        }
      }),
    );
    result.payloadFaults[name] = counts;
    await alive(name);
  }
  log('payload faults done');

  const big = decodeBody(ours.codecs, 256 * 1024).body;
  const bigRequest = requestBytes('/decode', big);
  const count = (name: string, outcome: string): void => {
    const key = `${name}: ${outcome}`;
    result.clientFaults[key] = (result.clientFaults[key] ?? 0) + 1;
  };

  // Uploads aborted mid-body, many at once (RST and FIN).
  await Promise.all(
    Array.from({ length: n(300) }, async (_, i) => {
      const cut = bigRequest.subarray(0, 1000 + Math.floor(Math.random() * (bigRequest.length - 2000)));
      const x = await exchange(ours.port, cut, { destroyAfterWrite: i % 2 === 0, keepOpen: i % 2 === 0, timeoutMs: 15_000 });
      count('aborted upload', x.outcome === 'response' ? String(x.response?.status) : x.outcome);
    }),
  );
  await alive('aborted uploads');

  // The client leaves right after sending a whole request, before the answer.
  await Promise.all(
    Array.from({ length: n(100) }, async () => {
      await exchange(ours.port, bigRequest, { destroyAfterWrite: true });
      count('left before the answer', 'done');
    }),
  );
  await alive('clients leaving before the answer');

  // A client pipelines big decodes and never reads the answers, then goes away.
  await Promise.all(
    Array.from({ length: n(10) }, () => {
      return new Promise<void>((resolve) => {
        const socket = connect(ours.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.on('connect', () => {
          socket.pause();
          for (let i = 0; i < 20; i++) socket.write(bigRequest);
          setTimeout(() => {
            socket.destroy();
            count('never reads', 'destroyed after 2 s');
            resolve();
          }, 2000);
        });
      });
    }),
  );
  await alive('clients that never read');

  // Connection churn: connect and close at once.
  await Promise.all(
    Array.from({ length: n(1000) }, () => {
      return new Promise<void>((resolve) => {
        const socket = connect(ours.port, '127.0.0.1', () => socket.destroy());
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
    }),
  );
  count('connection churn', `${n(1000)} connections`);
  await alive('connection churn');
  log('client faults done');

  if (ours.alive()) {
    const counts = await requestCounts(ours.url).catch(() => ({ byStatus: {}, fiveXx: -1 }));
    result.serverStatus = counts.byStatus;
    result.serverFiveXx = counts.fiveXx;
  }
  const stopped = await stopAndCheck(ours);
  result.exitMs = stopped.exitMs;
  v.push(...stopped.problems);
  if (result.serverFiveXx !== 0) v.push(`the server counted ${result.serverFiveXx} replies >= 500`);

  result.jwksHang = await jwksHang(n, log, v);
  return result;
}

/** The codes of a reply, as `<status> <error code>`, or `200`. */
function outcomeOf(reply: { status: number; text: string } | undefined): string {
  if (!reply) return 'no reply';
  if (reply.status < 300) return String(reply.status);
  try {
    return `${reply.status} ${(JSON.parse(reply.text) as { error?: { code?: string } }).error?.code ?? 'no-code'}`;
  } catch {
    return `${reply.status} no-json`;
  }
}

const FETCH_TIMEOUT_MS = 1000;

/** JWT decodes while the JWKS endpoint hangs, side by side with static-token decodes; see the module comment. */
async function jwksHang(
  n: (count: number) => number,
  log: (text: string) => void,
  v: string[],
): Promise<FaultsResult['jwksHang']> {
  const out: FaultsResult['jwksHang'] = { jwt: {}, staticToken: {}, slowestJwtMs: 0 };
  const held: ServerResponse[] = [];
  const idp = createServer((_req, res) => void held.push(res));
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  const idpPort = (idp.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'codec-faults-'));
  const token = randomBytes(32).toString('base64url');
  const tokensFile = join(dir, 'tokens.yaml');
  writeFileSync(tokensFile, `- {name: ops, token: "${token}", namespaces: "*", rights: [decode]}\n`, { mode: 0o600 });
  const issuer = 'https://idp.invalid/';
  const { privateKey } = await generateKeyPair('RS256');
  const jwt = await new SignJWT({ permissions: ['default:read'] })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(issuer)
    .setAudience('temporal-codec')
    .setSubject('alice')
    .setExpirationTime('10m')
    .sign(privateKey);
  const ours = await startOurs({
    args: [
      '--jwks-url', `http://127.0.0.1:${idpPort}/jwks`, '--jwt-issuer', issuer, '--jwt-audience', 'temporal-codec',
      '--jwks-timeout', `${FETCH_TIMEOUT_MS}ms`, '--auth-tokens-file', tokensFile,
    ],
  });
  try {
    const decode = (authorization: string) =>
      send(`${ours.url}/decode`, ours.decode1k.body, {
        headers: { 'x-namespace': 'default', authorization },
        timeoutMs: 15_000,
      }).catch(() => undefined);
    const tally = (counts: Record<string, number>, key: string): void => {
      counts[key] = (counts[key] ?? 0) + 1;
    };
    // 10 rounds, each 20 JWT and 20 static-token decodes at once.
    for (let round = 0; round < n(10); round++) {
      await Promise.all([
        ...Array.from({ length: 20 }, async () => {
          const t0 = performance.now();
          const reply = await decode(`Bearer ${jwt}`);
          out.slowestJwtMs = Math.max(out.slowestJwtMs, performance.now() - t0);
          tally(out.jwt, outcomeOf(reply));
          if (reply?.status === 503 && !reply.headers['retry-after']) tally(out.jwt, '503 without Retry-After');
        }),
        ...Array.from({ length: 20 }, async () => tally(out.staticToken, outcomeOf(await decode(`Bearer ${token}`)))),
      ]);
    }
    log(`JWKS hang: ${JSON.stringify(out)}`);
    if (Object.keys(out.jwt).join() !== '503 unavailable') v.push(`JWKS hang: JWT decodes got ${JSON.stringify(out.jwt)}`);
    if (Object.keys(out.staticToken).join() !== '200') v.push(`JWKS hang: static-token decodes got ${JSON.stringify(out.staticToken)}`);
    if (out.slowestJwtMs > FETCH_TIMEOUT_MS + 2000) v.push(`JWKS hang: a JWT decode took ${Math.round(out.slowestJwtMs)} ms`);
  } finally {
    const stopped = await stopAndCheck(ours);
    v.push(...stopped.problems.map((problem) => `JWKS hang: ${problem}`));
    for (const res of held) res.destroy();
    idp.closeAllConnections();
    idp.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (isMain(import.meta.url)) {
  const { flagValue } = await import('../lib/report.js');
  const result = await runFaults({ scale: Number(flagValue('scale') ?? 1), log: (t) => console.log(t) });
  console.log(JSON.stringify(result, null, 2));
  console.log(result.violations.length === 0 ? 'PASS' : `FAIL: ${result.violations.join('; ')}`);
  process.exitCode = result.violations.length === 0 ? 0 : 1;
}
