/**
 * node:zlib against fflate for the `binary/zlib` codec: speed and ratio on payloads shaped like Temporal's, and a
 * safety table (checksum, truncation, header-only streams, output cap). Both produce and read RFC 1950 zlib streams,
 * so either could back CompressionCodec; this script shows which one should.
 *
 *   npx tsx bench/compression.ts            # full run, about 20 s
 *   npx tsx bench/compression.ts --quick    # about 15 s: no 2 MiB document, fewer and shorter rounds
 *   npx tsx bench/compression.ts --json=bench/results/compression.json   # also --clock=wall
 *
 * Inputs are serialized Payloads (what the codec compresses): JSON order documents of 1 KiB to 2 MiB, 64 KiB of
 * structured log lines, 64 KiB of random bytes. Timing is interleaved with medians (bench/lib/timing.ts). MB/s
 * counts uncompressed bytes on both sides. "fflate + Adler-32" is unzlibSync followed by a JS Adler-32 check of the
 * output against the trailer: the least extra work that gives fflate the checksum node:zlib verifies itself.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import { unzlibSync, zlibSync } from 'fflate';
import { serializePayload } from '../src/codecs/payload-proto.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from '../src/index.js';
import { logText, makePayload, ordersJson, randomData, seededRandom } from './lib/payloads.js';
import { flagValue, fmt, formatSize, hasFlag, machineSummary, table } from './lib/report.js';
import {
  type Clock,
  type Contender,
  interleave,
  mbPerSecond,
  opsPerSecond,
  pairedRatio,
  repeat,
} from './lib/timing.js';

const quick = hasFlag('quick');
const jsonOut = flagValue('json');
const ROUNDS = quick ? 5 : 9;
/** CPU time by default, as in bench/library.ts (steadier on a shared machine); --clock=wall for wall-clock time. */
const CLOCK: Clock = flagValue('clock') === 'wall' ? 'wall' : 'cpu';
const TARGET_MS = quick ? 6 : 30;
const CAP = DEFAULT_MAX_DECOMPRESSED_BYTES;
const BOMB_BYTES = 2 * CAP;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Dataset {
  name: string;
  bytes: Uint8Array;
}

function datasets(): Dataset[] {
  const json = (size: number): Dataset => ({
    name: `orders JSON ${formatSize(size)}`,
    bytes: serializePayload(makePayload(ordersJson(size), 'json/plain')),
  });
  const list = [json(1024), json(16 * 1024), json(256 * 1024)];
  if (!quick) list.push(json(2 * 1024 * 1024));
  list.push(
    { name: 'log lines 64 KiB', bytes: serializePayload(makePayload(logText(64 * 1024), 'binary/plain')) },
    { name: 'random 64 KiB', bytes: serializePayload(makePayload(randomData(64 * 1024), 'binary/plain')) },
  );
  return list;
}

/** Adler-32 (RFC 1950 section 8.2), in the 5552-byte blocks zlib uses so the sums never overflow. */
function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let start = 0; start < bytes.length; start += 5552) {
    const end = Math.min(start + 5552, bytes.length);
    for (let i = start; i < end; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** fflate's unzlibSync plus the Adler-32 check it leaves out. */
function unzlibChecked(stream: Uint8Array): Uint8Array {
  const out = unzlibSync(stream);
  const n = stream.length;
  const expected = ((stream[n - 4]! << 24) | (stream[n - 3]! << 16) | (stream[n - 2]! << 8) | stream[n - 1]!) >>> 0;
  if (adler32(out) !== expected) throw new Error('incorrect data check');
  return out;
}

const COMPRESSORS: Record<string, (input: Uint8Array) => Uint8Array> = {
  'node:zlib level 6 (default)': (input) => deflateSync(input),
  'node:zlib level 1': (input) => deflateSync(input, { level: 1 }),
  'fflate level 6 (default)': (input) => zlibSync(input),
  'fflate level 1': (input) => zlibSync(input, { level: 1 }),
};
const DECOMPRESSORS: Record<string, (stream: Uint8Array) => Uint8Array> = {
  'node:zlib inflateSync, capped (as the codec)': (stream) => inflateSync(stream, { maxOutputLength: CAP }),
  'fflate unzlibSync': (stream) => unzlibSync(stream),
  'fflate unzlibSync + JS Adler-32': (stream) => unzlibChecked(stream),
};
const NODE_COMPRESS = 'node:zlib level 6 (default)';
const NODE_DECOMPRESS = 'node:zlib inflateSync, capped (as the codec)';

interface SpeedRow {
  data: string;
  size: number;
  backend: string;
  kind: 'compress' | 'decompress';
  ns: number;
  ratioToNode: number;
  compressedSize?: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

async function measureSpeed(dataset: Dataset): Promise<SpeedRow[]> {
  const input = dataset.bytes;
  const rows: SpeedRow[] = [];
  // Every compressor's output must inflate with both libraries to the same bytes: same format, either way round.
  const sizes: Record<string, number> = {};
  for (const [name, compress] of Object.entries(COMPRESSORS)) {
    const stream = compress(input);
    sizes[name] = stream.length;
    if (!sameBytes(inflateSync(stream), input) || !sameBytes(unzlibSync(stream), input)) {
      throw new Error(`${name} on ${dataset.name}: output does not round-trip through both libraries`);
    }
  }
  const compressContenders: Contender[] = Object.entries(COMPRESSORS).map(([name, compress]) => ({
    name,
    run: repeat(() => compress(input)),
  }));
  const compressed = await interleave(compressContenders, { rounds: ROUNDS, targetMs: TARGET_MS });
  for (const name of Object.keys(COMPRESSORS)) {
    rows.push({
      data: dataset.name,
      size: input.length,
      backend: name,
      kind: 'compress',
      ns: (CLOCK === 'wall' ? compressed.medianNs : compressed.medianCpuNs)[name]!,
      ratioToNode: pairedRatio(compressed, name, NODE_COMPRESS, CLOCK),
      compressedSize: sizes[name]!,
    });
  }
  const stream = deflateSync(input);
  const decompressContenders: Contender[] = Object.entries(DECOMPRESSORS).map(([name, decompress]) => ({
    name,
    run: repeat(() => decompress(stream)),
  }));
  const decompressed = await interleave(decompressContenders, { rounds: ROUNDS, targetMs: TARGET_MS });
  for (const name of Object.keys(DECOMPRESSORS)) {
    rows.push({
      data: dataset.name,
      size: input.length,
      backend: name,
      kind: 'decompress',
      ns: (CLOCK === 'wall' ? decompressed.medianNs : decompressed.medianCpuNs)[name]!,
      ratioToNode: pairedRatio(decompressed, name, NODE_DECOMPRESS, CLOCK),
    });
  }
  return rows;
}

// ---- safety -------------------------------------------------------------------------------------------------------

type Outcome = 'rejected' | 'accepted, output correct' | 'accepted, output WRONG' | 'accepted, output empty';

function attempt(decompress: (stream: Uint8Array) => Uint8Array, stream: Uint8Array, expected: Uint8Array): Outcome {
  let out: Uint8Array;
  try {
    out = decompress(stream);
  } catch {
    return 'rejected';
  }
  if (sameBytes(out, expected)) return 'accepted, output correct';
  return out.length === 0 && expected.length > 0 ? 'accepted, output empty' : 'accepted, output WRONG';
}

const SAFETY_BACKENDS: Record<string, (stream: Uint8Array) => Uint8Array> = {
  'node:zlib inflateSync': (stream) => inflateSync(stream, { maxOutputLength: CAP }),
  'fflate unzlibSync': (stream) => unzlibSync(stream),
};

interface SafetyRow {
  check: string;
  expected: string;
  results: Record<string, string>;
}

/** Tallies outcomes over many damaged streams, as "n rejected, m accepted with wrong output, ...". */
function tally(outcomes: Outcome[]): string {
  const counts = new Map<Outcome, number>();
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  const order: Outcome[] = ['rejected', 'accepted, output WRONG', 'accepted, output empty', 'accepted, output correct'];
  return order
    .filter((outcome) => counts.has(outcome))
    .map((outcome) => `${counts.get(outcome)} ${outcome}`)
    .join('; ');
}

function safetyChecks(): SafetyRow[] {
  const small = serializePayload(makePayload(ordersJson(1024), 'json/plain'));
  const medium = serializePayload(makePayload(ordersJson(16 * 1024), 'json/plain'));
  const smallStream = deflateSync(small);
  const mediumStream = deflateSync(medium);
  const rows: SafetyRow[] = [];
  const each = (check: string, expected: string, run: (decompress: (s: Uint8Array) => Uint8Array) => string) => {
    const results: Record<string, string> = {};
    for (const [name, decompress] of Object.entries(SAFETY_BACKENDS)) results[name] = run(decompress);
    rows.push({ check, expected, results });
  };

  each('valid stream (16 KiB orders)', 'accepted, output correct', (d) => attempt(d, mediumStream, medium));
  each('Adler-32 trailer: last byte flipped', 'rejected', (d) => {
    const bad = Buffer.from(mediumStream);
    bad[bad.length - 1]! ^= 0x01;
    return attempt(d, bad, medium);
  });
  each('Adler-32 trailer: all four bytes zero', 'rejected', (d) => {
    const bad = Buffer.from(mediumStream);
    bad.fill(0, bad.length - 4);
    return attempt(d, bad, medium);
  });
  each('one bit flipped in the deflate data (2,000 random positions)', 'all rejected', (d) => {
    const random = seededRandom(99);
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 2000; i++) {
      const bad = Buffer.from(mediumStream);
      const position = 2 + Math.floor(random() * (bad.length - 6));
      bad[position]! ^= 1 << Math.floor(random() * 8);
      outcomes.push(attempt(d, bad, medium));
    }
    return tally(outcomes);
  });
  each(`truncated: every prefix of a ${smallStream.length}-byte stream (1 KiB orders)`, 'all rejected', (d) => {
    const outcomes: Outcome[] = [];
    for (let length = 0; length < smallStream.length; length++) {
      outcomes.push(attempt(d, smallStream.subarray(0, length), small));
    }
    return tally(outcomes);
  });
  each('truncated: trailer cut off (stream minus its last 4 bytes)', 'rejected', (d) =>
    attempt(d, mediumStream.subarray(0, mediumStream.length - 4), medium),
  );
  each('header only (78 9c)', 'rejected', (d) => attempt(d, smallStream.subarray(0, 2), small));
  each('header + 4 bytes (78 9c + 4)', 'rejected', (d) => attempt(d, smallStream.subarray(0, 6), small));
  each('empty input (0 bytes)', 'rejected', (d) => attempt(d, new Uint8Array(0), small));
  each('8 bytes of garbage after a valid stream', 'either (informational)', (d) =>
    attempt(d, Buffer.concat([mediumStream, Buffer.from(randomData(8, 5))]), medium),
  );
  each('stream made by node:zlib', 'accepted, output correct', (d) => attempt(d, mediumStream, medium));
  each('stream made by fflate', 'accepted, output correct', (d) => attempt(d, zlibSync(medium), medium));
  return rows;
}

/**
 * Bomb: 128 MiB of zeros (about 127 KiB compressed) against the codec's 64 MiB cap. Each attempt runs in its own
 * process so that its peak resident memory (VmHWM, reset first where the kernel allows) is its own.
 */
interface BombResult {
  method: string;
  outcome: string;
  outputBytes: number;
  peakRssMiB: number;
  ms: number;
}

const BOMB_METHODS: Record<string, string> = {
  'node:zlib inflateSync({ maxOutputLength: cap })': `
    const { inflateSync } = await import('node:zlib');
    return inflateSync(bomb, { maxOutputLength: cap });`,
  'fflate unzlibSync (no cap option)': `
    const { unzlibSync } = await import('fflate');
    return unzlibSync(bomb);`,
  'fflate unzlibSync({ out: new Uint8Array(cap) })': `
    const { unzlibSync } = await import('fflate');
    return unzlibSync(bomb, { out: new Uint8Array(cap) });`,
  'fflate Unzlib stream, 16 KiB input chunks, throw in ondata past cap': `
    const { Unzlib } = await import('fflate');
    let total = 0; const parts = [];
    const stream = new Unzlib((chunk) => {
      total += chunk.length;
      if (total > cap) throw new Error('output past the cap');
      parts.push(chunk);
    });
    for (let i = 0; i < bomb.length; i += 16384) stream.push(bomb.subarray(i, i + 16384), i + 16384 >= bomb.length);
    return Buffer.concat(parts);`,
};

function bombChecks(): BombResult[] {
  const dir = mkdtempSync(join(tmpdir(), 'tpc-bench-'));
  try {
    const bombPath = join(dir, 'bomb.zz');
    writeFileSync(bombPath, deflateSync(Buffer.alloc(BOMB_BYTES)));
    const results: BombResult[] = [];
    for (const [method, body] of Object.entries(BOMB_METHODS)) {
      const script = `
        import { readFileSync, writeFileSync } from 'node:fs';
        const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
        const bomb = readFileSync(${JSON.stringify(bombPath)});
        const cap = ${CAP};
        await import('fflate'); await import('node:zlib');
        try { writeFileSync('/proc/self/clear_refs', '5'); } catch {}
        const before = hwm();
        const start = performance.now();
        let outcome, outputBytes = 0;
        try {
          const out = await (async () => { ${body} })();
          outputBytes = out.length;
          outcome = 'returned ' + out.length + ' bytes, no error';
        } catch (error) {
          outcome = 'threw ' + (error.code ?? error.name) + ': ' + error.message;
        }
        const ms = performance.now() - start;
        console.log(JSON.stringify({ outcome, outputBytes, peakDelta: hwm() - before, ms }));`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: repoRoot,
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      const line = child.stdout.trim().split('\n').pop() ?? '';
      try {
        const parsed = JSON.parse(line) as { outcome: string; outputBytes: number; peakDelta: number; ms: number };
        results.push({
          method,
          outcome: parsed.outcome,
          outputBytes: parsed.outputBytes,
          peakRssMiB: parsed.peakDelta / (1 << 20),
          ms: parsed.ms,
        });
      } catch {
        const reason = child.stderr.trim().split('\n').pop() ?? '';
        results.push({ method, outcome: `child failed: ${reason}`, outputBytes: 0, peakRssMiB: 0, ms: 0 });
      }
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`# bench/compression.ts${quick ? ' --quick' : ''}`);
  console.log(`machine: ${machineSummary()}`);
  console.log(
    `method: ${ROUNDS} interleaved rounds per comparison, ~${TARGET_MS} ms per timed batch, medians, ${CLOCK} time; ` +
      'MB/s of uncompressed bytes; "time vs node" = median of per-round (backend time / node:zlib time).\n',
  );

  const speed: SpeedRow[] = [];
  for (const dataset of datasets()) speed.push(...(await measureSpeed(dataset)));

  console.log('### Compression\n');
  console.log(
    table(
      ['data', 'serialized', 'backend', 'MB/s', 'op/s', 'compressed', 'ratio', 'time vs node 6'],
      speed
        .filter((row) => row.kind === 'compress')
        .map((row) => [
          row.data,
          formatSize(row.size),
          row.backend,
          fmt(mbPerSecond(row.size, row.ns)),
          fmt(opsPerSecond(row.ns)),
          String(row.compressedSize),
          `${(row.size / row.compressedSize!).toFixed(2)}x`,
          `${row.ratioToNode.toFixed(2)}x`,
        ]),
    ),
  );
  console.log('\n### Decompression (of the node:zlib level 6 stream)\n');
  console.log(
    table(
      ['data', 'serialized', 'backend', 'MB/s', 'op/s', 'time vs node'],
      speed
        .filter((row) => row.kind === 'decompress')
        .map((row) => [
          row.data,
          formatSize(row.size),
          row.backend,
          fmt(mbPerSecond(row.size, row.ns)),
          fmt(opsPerSecond(row.ns)),
          `${row.ratioToNode.toFixed(2)}x`,
        ]),
    ),
  );

  const safety = safetyChecks();
  const backends = Object.keys(SAFETY_BACKENDS);
  console.log('\n### Safety of the decoder\n');
  const safetyRows = safety.map((row) => [
    row.check,
    row.expected,
    ...backends.map((backend) => row.results[backend]!),
  ]);
  console.log(table(['check', 'what the codec needs', ...backends], safetyRows));

  const bombs = bombChecks();
  console.log(`\n### Output cap: ${formatSize(BOMB_BYTES)} of zeros (a zlib bomb) against a ${formatSize(CAP)} cap\n`);
  console.log(
    table(
      ['method', 'outcome', 'peak RSS growth MiB', 'ms'],
      bombs.map((row) => [row.method, row.outcome, fmt(row.peakRssMiB), fmt(row.ms)]),
    ),
  );
  console.log(`\nwall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (jsonOut) {
    mkdirSync(dirname(jsonOut), { recursive: true });
    const record = { machine: machineSummary(), quick, rounds: ROUNDS, targetMs: TARGET_MS, speed, safety, bombs };
    writeFileSync(jsonOut, JSON.stringify(record, null, 2));
  }
}

await main();
