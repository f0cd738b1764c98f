/**
 * Malformed requests against the real server process: fast-check generated methods, paths, headers and bodies
 * (well framed), and raw-socket mutations of valid requests (truncated, bytes flipped, bad chunked encoding, huge
 * headers, wrong or conflicting Content-Length, bare LF, control characters, long URLs, pipelining, bad versions).
 *
 *   npx tsx bench/endurance/fuzz.ts [--count 100000] [--concurrency 48] [--seed 7]
 *
 * Pass: the server never crashes (process alive, nothing on stderr, no error log line), never answers >= 500 (the
 * replies seen here and its own temporal_codec_http_requests_total), every 4xx carries a JSON {"error": {"code"}}
 * body, no exchange hangs (each half-closes and must end within 10 s), and a valid decode succeeds after every 1,000.
 * A connection closed without a reply is allowed (unparseable HTTP, or a body cut short by the half-close); resets
 * are counted and reported by kind.
 */
import fc from 'fast-check';
import { encodeBody } from '../peers/bodies.js';
import { send } from '../peers/http-client.js';
import { exchange, type Exchange, isMain, ORIGIN, requestBytes, requestCounts, startOurs, stopAndCheck } from './lib.js';

export interface FuzzOptions {
  count: number;
  concurrency?: number;
  seed?: number;
  log?: (text: string) => void;
}

export interface FuzzResult {
  sent: number;
  byOutcome: Record<string, number>;
  byStatus: Record<string, number>;
  resetsByKind: Record<string, number>;
  fiveXx: number;
  nonJson4xx: number;
  hangs: number;
  livenessFailures: number;
  serverFiveXx: number;
  exitMs: number;
  seconds: number;
  violations: string[];
  examples: string[];
}

interface Case {
  kind: string;
  bytes: Buffer | Buffer[];
  head?: boolean;
}

const headerText = fc.string({ unit: fc.constantFrom(...'abcXYZ019 -_.,;:/=+"\'()[]{}<>?@!#$%&*~^`|\\\t'.split('')), maxLength: 40 });
const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/);

/** A body the generator draws: JSON of any shape, payload documents with wrong parts, binary junk. */
function bodies(valid: { decode: string; encode: string }) {
  const base64ish = fc.oneof(fc.base64String({ maxLength: 60 }), fc.string({ maxLength: 30 }), fc.constant('!!!!'), fc.constant('QQ='));
  const payload = fc.record(
    {
      metadata: fc.oneof(fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(base64ish, fc.jsonValue({ maxDepth: 1 })), { maxKeys: 4 }), fc.jsonValue({ maxDepth: 1 })),
      data: fc.oneof(base64ish, fc.jsonValue({ maxDepth: 1 })),
      externalPayloads: fc.jsonValue({ maxDepth: 2 }),
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    fc.json({ maxDepth: 3 }),
    fc.record({ payloads: fc.array(payload, { maxLength: 5 }) }).map((d) => JSON.stringify(d)),
    fc.record({ payloads: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null)) }).map((d) => JSON.stringify(d)),
    // A real encrypted payload with one character of its document changed.
    fc.tuple(fc.nat(), fc.constantFrom(...'AZaz09+/="{}:,'.split(''))).map(([i, c]) => {
      const at = i % valid.decode.length;
      return valid.decode.slice(0, at) + c + valid.decode.slice(at + 1);
    }),
    fc.constant(valid.decode),
    fc.constant(valid.encode),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
    fc.nat({ max: 3000 }).map((n) => JSON.stringify({ payloads: Array.from({ length: n }, () => ({})) })),
    fc.nat({ max: 20000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
    fc.constant(''),
  );
}

function generated(valid: { decode: string; encode: string }) {
  return fc.record({
    method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'GET', 'PUT', 'OPTIONS', 'DELETE', 'HEAD', 'PATCH', 'FOO'),
    path: fc.oneof(
      fc.constantFrom('/decode', '/encode', '//decode', '/ns/decode', '/a/b/encode', '/decode?preserveStorageRefs=true', '/download', '/livez', '/readyz', '/metrics', '/', '/%ZZ/decode', '/decode/', '/DECODE'),
      fc.webPath().map((p) => p || '/'),
    ),
    contentType: fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', '', 'application/json;;', 'APPLICATION/JSON'),
    contentEncoding: fc.constantFrom(undefined, undefined, 'gzip', 'identity', 'br, gzip', 'x'),
    namespace: fc.option(headerText),
    origin: fc.constantFrom(undefined, ORIGIN, 'http://evil.example', 'null'),
    requestId: fc.option(headerText),
    authorization: fc.option(headerText.map((t) => `Bearer ${t}`)),
    extra: fc.array(fc.tuple(headerName, headerText), { maxLength: 4 }),
    lengthDelta: fc.constantFrom(0, 0, 0, 0, -1, 1, 5),
    body: bodies(valid),
  });
}

type Generated = ReturnType<typeof generated> extends fc.Arbitrary<infer T> ? T : never;

function fromGenerated(r: Generated): Case {
  const body = Buffer.from(r.body, 'latin1');
  const lines = [`${r.method} ${r.path} HTTP/1.1`, 'Host: 127.0.0.1'];
  if (r.contentType !== undefined) lines.push(`Content-Type: ${r.contentType}`);
  if (r.contentEncoding !== undefined) lines.push(`Content-Encoding: ${r.contentEncoding}`);
  if (r.namespace !== null) lines.push(`X-Namespace: ${r.namespace}`);
  if (r.origin !== undefined) lines.push(`Origin: ${r.origin}`);
  if (r.requestId !== null) lines.push(`X-Request-Id: ${r.requestId}`);
  if (r.authorization !== null) lines.push(`Authorization: ${r.authorization}`);
  for (const [name, value] of r.extra) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${Math.max(0, body.length + r.lengthDelta)}`);
  return { kind: 'generated', bytes: Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]), head: r.method === 'HEAD' };
}

/** Raw mutations of a valid request, drawn with the same seeded randomness. */
export function mutate(valid: Buffer[], random: () => number): Case {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const base = pick(valid);
  const headEnd = base.indexOf('\r\n\r\n');
  const head = base.subarray(0, headEnd).toString('latin1');
  const body = base.subarray(headEnd + 4);
  const withHead = (text: string, b: Buffer = body): Buffer => Buffer.concat([Buffer.from(`${text}\r\n\r\n`, 'latin1'), b]);
  const withoutLength = head.replace(/\r\nContent-Length: \d+/i, '');
  const kind = pick([
    'truncate', 'truncate', 'flip', 'flip', 'insert', 'chunked-bad-size', 'chunked-huge-size', 'chunked-no-end', 'chunked-short-data',
    'chunked-valid', 'chunked-and-length', 'huge-header', 'many-headers', 'length-short', 'length-long', 'length-nan', 'length-negative',
    'length-duplicate', 'bare-lf', 'control-chars', 'long-url', 'bad-version', 'pipelined-garbage', 'expect-continue', 'connect', 'upgrade',
    'slow-split', 'te-obfuscated',
  ] as const);
  const chunk = (data: Buffer, size = data.length.toString(16)): Buffer => Buffer.concat([Buffer.from(`${size}\r\n`), data, Buffer.from('\r\n')]);
  switch (kind) {
    case 'truncate':
      return { kind, bytes: base.subarray(0, Math.floor(random() * base.length)) };
    case 'flip': {
      const copy = Buffer.from(base);
      for (let i = 0, n = 1 + Math.floor(random() * 5); i < n; i++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
      return { kind, bytes: copy };
    }
    case 'insert': {
      const at = Math.floor(random() * base.length);
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 20) }, () => Math.floor(random() * 256)));
      return { kind, bytes: Buffer.concat([base.subarray(0, at), junk, base.subarray(at)]) };
    }
    case 'chunked-bad-size':
      return { kind, bytes: withHead(`${withoutLength}\r\nTransfer-Encoding: chunked`, Buffer.concat([chunk(body, pick(['zz', '-5', ' 1f', '0x10', '1;;;', ''])), Buffer.from('0\r\n\r\n')])) };
    case 'chunked-huge-size':
      return { kind, bytes: withHead(`${withoutLength}\r\nTransfer-Encoding: chunked`, Buffer.concat([chunk(body, pick(['ffffffffffffffff', '7fffffff', '100000000000'])), Buffer.from('0\r\n\r\n')])) };
    case 'chunked-no-end':
      return { kind, bytes: withHead(`${withoutLength}\r\nTransfer-Encoding: chunked`, chunk(body)) };
    case 'chunked-short-data':
      return { kind, bytes: withHead(`${withoutLength}\r\nTransfer-Encoding: chunked`, Buffer.concat([chunk(body, (body.length + 7).toString(16)), Buffer.from('0\r\n\r\n')])) };
    case 'chunked-valid': {
      const half = Math.floor(body.length / 2);
      return { kind, bytes: withHead(`${withoutLength}\r\nTransfer-Encoding: chunked`, Buffer.concat([chunk(body.subarray(0, half)), chunk(body.subarray(half)), Buffer.from('0\r\n\r\n')])) };
    }
    case 'chunked-and-length':
      return { kind, bytes: withHead(`${head}\r\nTransfer-Encoding: chunked`, Buffer.concat([chunk(body), Buffer.from('0\r\n\r\n')])) };
    case 'te-obfuscated':
      return { kind, bytes: withHead(`${head}\r\nTransfer-Encoding: ${pick(['chunked, identity', ' chunked', 'xchunked', 'chunked\t', 'identity'])}`) };
    case 'huge-header':
      return { kind, bytes: withHead(`${head}\r\nX-Big: ${'a'.repeat(16_000 + Math.floor(random() * 100_000))}`) };
    case 'many-headers':
      return { kind, bytes: withHead(`${head}\r\n${Array.from({ length: 500 + Math.floor(random() * 3000) }, (_, i) => `X-H${i}: v`).join('\r\n')}`) };
    case 'length-short':
      return { kind, bytes: withHead(head.replace(/Content-Length: \d+/i, `Content-Length: ${Math.floor(random() * body.length)}`)) };
    case 'length-long':
      return { kind, bytes: withHead(head.replace(/Content-Length: \d+/i, `Content-Length: ${body.length + 1 + Math.floor(random() * 10_000)}`)) };
    case 'length-nan':
      return { kind, bytes: withHead(head.replace(/Content-Length: \d+/i, `Content-Length: ${pick(['abc', '1e3', '0x10', '', ' ', '99999999999999999999999'])}`)) };
    case 'length-negative':
      return { kind, bytes: withHead(head.replace(/Content-Length: \d+/i, 'Content-Length: -1')) };
    case 'length-duplicate':
      return { kind, bytes: withHead(`${head}\r\nContent-Length: ${body.length + 3}`) };
    case 'bare-lf':
      return { kind, bytes: Buffer.concat([Buffer.from(`${head.replace(/\r\n/g, '\n')}\n\n`, 'latin1'), body]) };
    case 'control-chars':
      return { kind, bytes: withHead(`${head}\r\nX-Namespace: a${String.fromCharCode(Math.floor(random() * 32))}b\r\nX-Other: \u007f\u0000`) };
    case 'long-url':
      return { kind, bytes: withHead(head.replace(/^POST \S+/, `POST /${'x'.repeat(10_000 + Math.floor(random() * 90_000))}/decode`)) };
    case 'bad-version':
      return { kind, bytes: withHead(head.replace('HTTP/1.1', pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTX/1.1', 'HTTP/1.1 extra', '']))) };
    case 'pipelined-garbage':
      return { kind, bytes: Buffer.concat([base, Buffer.from(pick(['GARBAGE\r\n\r\n', 'POST /decode HTTP/1.1\r\nContent-Length: 5\r\n\r\n{"pa', '\u0000\u0001\u0002']))]) };
    case 'expect-continue':
      return { kind, bytes: withHead(`${head}\r\nExpect: ${pick(['100-continue', '200-ok', 'x'])}`) };
    case 'connect':
      return { kind, bytes: Buffer.from('CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n') };
    case 'upgrade':
      return { kind, bytes: withHead(`${head}\r\nConnection: Upgrade\r\nUpgrade: ${pick(['websocket', 'h2c', 'x'])}`) };
    case 'slow-split': {
      const at = Math.floor(random() * base.length);
      return { kind, bytes: [base.subarray(0, at), base.subarray(at)] };
    }
  }
}

/** Runs `count` malformed exchanges against a fresh server and reports what happened. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const seed = options.seed ?? 7;
  const concurrency = options.concurrency ?? 48;
  const ours = await startOurs();
  const valid = { decode: ours.decode1k.body, encode: encodeBody(1024).body };
  const validRequests = [
    requestBytes('/decode', valid.decode, { 'X-Namespace': 'default', Origin: ORIGIN }),
    requestBytes('/encode', valid.encode, { 'X-Namespace': 'default' }),
    requestBytes('/ns/decode?preserveStorageRefs=true', valid.decode),
  ];
  const arbitrary = generated(valid);
  let state = seed >>> 0;
  const random = (): number => {
    // mulberry32, as bench/lib/payloads.ts
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  const result: FuzzResult = {
    sent: 0,
    byOutcome: {},
    byStatus: {},
    resetsByKind: {},
    fiveXx: 0,
    nonJson4xx: 0,
    hangs: 0,
    livenessFailures: 0,
    serverFiveXx: 0,
    exitMs: 0,
    seconds: 0,
    violations: [],
    examples: [],
  };
  // One example per kind of problem (the text before the first ':' and the status), so rare ones show up too.
  const seen = new Set<string>();
  const note = (text: string): void => {
    const key = text.slice(0, text.indexOf(':') + 5);
    if (seen.has(key) || result.examples.length >= 30) return;
    seen.add(key);
    result.examples.push(text);
  };
  let pending: Case[] = [];
  let batch = 0;
  const nextCase = (): Case => {
    if (pending.length === 0) {
      // Half generated requests, half raw mutations, in batches of 500 drawn from a seeded fast-check sample.
      const generatedCases = fc.sample(arbitrary, { numRuns: 250, seed: seed + batch++ }).map(fromGenerated);
      const mutations = Array.from({ length: 250 }, () => mutate(validRequests, random));
      pending = generatedCases.flatMap((c, i) => [c, mutations[i]!]);
    }
    return pending.pop()!;
  };

  const classify = (c: Case, x: Exchange): void => {
    result.byOutcome[x.outcome] = (result.byOutcome[x.outcome] ?? 0) + 1;
    if (x.outcome === 'response' && x.response) {
      const status = x.response.status;
      result.byStatus[status] = (result.byStatus[status] ?? 0) + 1;
      if (status >= 500 || status < 100) {
        result.fiveXx++;
        note(`${c.kind}: ${status} ${x.response.reason} ${x.response.body.slice(0, 200)}`);
      } else if (status >= 400 && !c.head) {
        let ok = false;
        try {
          ok = typeof (JSON.parse(x.response.body) as { error?: { code?: unknown } }).error?.code === 'string';
        } catch {
          ok = false;
        }
        if (!ok || !(x.response.headers['content-type'] ?? '').startsWith('application/json')) {
          result.nonJson4xx++;
          note(`${c.kind}: ${status} not a JSON error: ${x.response.body.slice(0, 200)}`);
        }
      }
    } else if (x.outcome === 'timeout') {
      result.hangs++;
      note(`${c.kind}: no answer and no close within 10 s`);
    } else if (x.outcome === 'reset') {
      result.resetsByKind[c.kind] = (result.resetsByKind[c.kind] ?? 0) + 1;
    } else if (x.outcome === 'refused') {
      note(`${c.kind}: connection refused (server gone?)`);
    }
  };

  let issued = 0;
  let sinceLiveness = 0;
  const worker = async (): Promise<void> => {
    while (issued < options.count && ours.alive()) {
      issued++;
      const c = nextCase();
      const x = await exchange(ours.port, c.bytes, { timeoutMs: 10_000, ...(Array.isArray(c.bytes) ? { gapMs: 5 } : {}) });
      result.sent++;
      classify(c, x);
      if (++sinceLiveness >= 1000) {
        sinceLiveness = 0;
        const reply = await send(`${ours.url}/decode`, valid.decode, { headers: { 'x-namespace': 'default' } }).catch(() => undefined);
        if (reply?.status !== 200) result.livenessFailures++;
      }
      if (result.sent % 10_000 === 0) log(`  ${result.sent} sent, ${Math.round((performance.now() - started) / 1000)} s`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  if (ours.alive()) result.serverFiveXx = (await requestCounts(ours.url).catch(() => ({ fiveXx: -1 }))).fiveXx;
  const stopped = await stopAndCheck(ours);
  result.exitMs = stopped.exitMs;
  result.seconds = (performance.now() - started) / 1000;
  const v = result.violations;
  v.push(...stopped.problems);
  if (result.sent < options.count) v.push(`only ${result.sent} of ${options.count} requests were sent`);
  if (result.fiveXx > 0) v.push(`${result.fiveXx} replies >= 500`);
  if (result.serverFiveXx !== 0) v.push(`the server counted ${result.serverFiveXx} replies >= 500 in its metrics`);
  if (result.nonJson4xx > 0) v.push(`${result.nonJson4xx} 4xx replies without a JSON error body`);
  if (result.hangs > 0) v.push(`${result.hangs} exchanges neither answered nor closed within 10 s`);
  if ((result.byOutcome.refused ?? 0) > 0) v.push(`${result.byOutcome.refused} connections refused`);
  if (result.livenessFailures > 0) v.push(`${result.livenessFailures} liveness decodes failed`);
  return result;
}

if (isMain(import.meta.url)) {
  const { flagValue } = await import('../lib/report.js');
  const count = Number(flagValue('count') ?? 100_000);
  console.log(`fuzz: ${count} malformed requests against temporal-codec serve (--workers 1)`);
  const result = await runFuzz({
    count,
    concurrency: Number(flagValue('concurrency') ?? 48),
    seed: Number(flagValue('seed') ?? 7),
    log: (t) => console.log(t),
  });
  console.log(JSON.stringify({ ...result, examples: result.examples.slice(0, 10) }, null, 2));
  console.log(result.violations.length === 0 ? 'PASS' : `FAIL: ${result.violations.join('; ')}`);
  process.exitCode = result.violations.length === 0 ? 0 : 1;
}
