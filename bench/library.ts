/**
 * Throughput of the library's codecs against raw node:crypto AES-256-GCM on the same bytes, measured in the same
 * run, interleaved (see bench/lib/timing.ts).
 *
 *   npx tsx bench/library.ts            # full run, about 40 s
 *   npx tsx bench/library.ts --quick    # about 15 s, fewer and shorter rounds
 *   npx tsx bench/library.ts --runs=7   # 7 runs, each in a fresh process, one after another; figures and verdicts
 *                                       # are medians over the runs, with their range (one run decides nothing here)
 *   npx tsx bench/library.ts --json=bench/results/library.json   # also write every figure as JSON
 *   options: --groups=encryption,chain-random,chain-json  --rounds=N  --batch-ms=N
 *
 * Three groups, each at 64 B, 1 KiB, 16 KiB, 256 KiB and 2 MiB of payload `data`:
 * - EncryptionCodec alone, random bytes (`binary/plain`);
 * - the full chain from createPayloadCodecs (compression then encryption), random bytes: nothing compresses, so
 *   from 1 KiB up every payload pays a deflate that is thrown away;
 * - the full chain, JSON orders (`json/plain`), which compress about 2x (1 KiB) to 5x (2 MiB).
 * Each is timed through the synchronous per-payload methods (`encryptPayload`/`decryptPayload`, and
 * `compressPayload`/`decompressPayload` for the chain) and through the async `encode`/`decode` of a one-payload
 * array, awaited one call at a time as the SDK does.
 *
 * The baseline ("raw GCM") is createCipheriv/update/final/getAuthTag with a fresh randomBytes(12) nonce per op over
 * the payload's `data` (decode: createDecipheriv/setAuthTag/update/final). The chain rows also show "raw zlib+GCM":
 * deflateSync at the library's threshold, kept when smaller, then raw GCM (decode: decipher, then inflateSync), i.e.
 * the same work minus the library. MB/s always counts the payload's `data` bytes, before compression.
 *
 * Targets (against raw GCM on the same bytes): from 16 KiB up, at least 80% of its throughput (time ratio <= 1.25);
 * at 1 KiB, at most 1.5x its time. 64 B has no target.
 *
 * Figures and verdicts use this process's CPU time by default (--clock=wall for wall-clock time): on a shared machine
 * CPU time does not count the time another process held the CPU, so it is the steadier measure of what an operation
 * costs. The other clock's ratio is printed beside it; on a quiet machine the two agree.
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { CompressionCodec, createPayloadCodecs, EncryptionCodec, KeyRing } from '../src/index.js';
import { makePayload, ordersJson, randomData } from './lib/payloads.js';
import { flagValue, fmt, formatSize, hasFlag, machineSummary, table } from './lib/report.js';
import {
  type Clock,
  type Contender,
  interleave,
  mbPerSecond,
  median,
  opsPerSecond,
  pairedRatio,
  repeat,
  repeatAsync,
} from './lib/timing.js';

const quick = hasFlag('quick');
const jsonOut = flagValue('json');
const SIZES = [64, 1024, 16 * 1024, 256 * 1024, 2 * 1024 * 1024];
/** Rounds per comparison and target milliseconds per timed batch. */
const ROUNDS = Number(flagValue('rounds') ?? (quick ? 5 : 15));
const TARGET_MS = Number(flagValue('batch-ms') ?? (quick ? 8 : 20));
const CLOCK: Clock = flagValue('clock') === 'wall' ? 'wall' : 'cpu';
const OTHER_CLOCK: Clock = CLOCK === 'wall' ? 'cpu' : 'wall';
const GROUPS = (flagValue('groups')?.split(',') ?? ['encryption', 'chain-random', 'chain-json']) as Group[];
/** Separate processes to run and combine (each runs every comparison); 1: measure in this process. */
const RUNS = Number(flagValue('runs') ?? 1);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a whole number of at least 1');
const THRESHOLD = 1024; // DEFAULT_COMPRESSION_THRESHOLD
const TARGET_LARGE_RATIO = 1 / 0.8; // >= 80% of raw throughput  <=>  time ratio <= 1.25
const TARGET_1K_RATIO = 1.5;

const key = randomBytes(32);
const keyRing = KeyRing.fromKeys({ bench: key }, 'bench');
const encryption = new EncryptionCodec({ keyRing });
const codecs = createPayloadCodecs({ keyRing, encryptionKeyID: 'bench' });
const [chainCompression, chainEncryption] = ((): [CompressionCodec, EncryptionCodec] => {
  const [compression, encryption] = codecs;
  if (!(compression instanceof CompressionCodec) || !(encryption instanceof EncryptionCodec)) {
    throw new Error('createPayloadCodecs no longer returns [CompressionCodec, EncryptionCodec]');
  }
  return [compression, encryption];
})();

function rawEncrypt(data: Uint8Array): Buffer[] {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  const body = cipher.update(data);
  cipher.final();
  return [nonce, body, cipher.getAuthTag()];
}

function rawDecrypt(nonce: Uint8Array, body: Uint8Array, tag: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  decipher.setAuthTag(tag);
  const plain = decipher.update(body);
  decipher.final();
  return plain;
}

function rawZlibEncrypt(data: Uint8Array): Buffer[] {
  let bytes = data;
  if (data.length >= THRESHOLD) {
    const compressed = deflateSync(data);
    if (compressed.length < data.length) bytes = compressed;
  }
  return rawEncrypt(bytes);
}

async function encodeAll(payload: Payload, list: readonly PayloadCodec[]): Promise<Payload[]> {
  let payloads = [payload];
  for (const codec of list) payloads = await codec.encode(payloads);
  return payloads;
}

async function decodeAll(payload: Payload, list: readonly PayloadCodec[]): Promise<Payload[]> {
  let payloads = [payload];
  for (let i = list.length - 1; i >= 0; i--) payloads = await list[i]!.decode(payloads);
  return payloads;
}

function sameBytes(a: Uint8Array | null | undefined, b: Uint8Array): boolean {
  return !!a && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

interface Row {
  group: string;
  size: number;
  direction: 'encode' | 'decode';
  path: 'sync' | 'async';
  /** Which clock the ns figures and `ratio` are on. */
  clock: Clock;
  libraryNs: number;
  rawNs: number;
  /** Median of per-round library/raw-GCM time ratios. */
  ratio: number;
  /** The same on the other clock: when the two disagree, other processes were competing for the CPU. */
  otherClockRatio: number;
  rawZlibNs?: number;
  /** Median of per-round library/raw-zlib+GCM time ratios. */
  ratioZlib?: number;
  target: string;
  met: boolean | undefined;
  /** With --runs: the lowest and highest `ratio` over the runs, whose median `ratio` is. */
  ratioRange?: [number, number];
}

function judge(size: number, ratio: number): { target: string; met: boolean | undefined } {
  if (size >= 16 * 1024) return { target: '>= 80% of raw', met: ratio <= TARGET_LARGE_RATIO };
  if (size === 1024) return { target: '<= 1.5x raw time', met: ratio <= TARGET_1K_RATIO };
  return { target: '-', met: undefined };
}

type Group = 'encryption' | 'chain-random' | 'chain-json';

async function measureGroup(group: Group, size: number): Promise<Row[]> {
  const chain = group !== 'encryption';
  const data = group === 'chain-json' ? ordersJson(size) : randomData(size, size);
  const payload = makePayload(data, group === 'chain-json' ? 'json/plain' : 'binary/plain');

  const syncEncode = chain
    ? () => chainEncryption.encryptPayload(chainCompression.compressPayload(payload))
    : () => encryption.encryptPayload(payload);
  const syncDecode = chain
    ? (p: Payload) => chainCompression.decompressPayload(chainEncryption.decryptPayload(p))
    : (p: Payload) => encryption.decryptPayload(p);
  const asyncCodecs: readonly PayloadCodec[] = chain ? codecs : [encryption];

  // Inputs of the decode contenders, and a check that each of them round-trips.
  const [nonce, body, tag] = rawEncrypt(data) as [Buffer, Buffer, Buffer];
  const [zNonce, zBody, zTag] = rawZlibEncrypt(data) as [Buffer, Buffer, Buffer];
  const zlibUsed = data.length >= THRESHOLD && zBody.length < data.length;
  const encoded = syncEncode();
  const asyncDecoded = await decodeAll((await encodeAll(payload, asyncCodecs))[0]!, asyncCodecs);
  if (
    !sameBytes(syncDecode(encoded).data, data) ||
    !sameBytes(asyncDecoded[0]!.data, data) ||
    !sameBytes(rawDecrypt(nonce, body, tag), data)
  ) {
    throw new Error(`${group} ${formatSize(size)}: round trip failed`);
  }

  const encodeContenders: Contender[] = [
    { name: 'raw', run: repeat(() => rawEncrypt(data)) },
    { name: 'sync', run: repeat(syncEncode) },
    { name: 'async', run: repeatAsync(() => encodeAll(payload, asyncCodecs)) },
  ];
  const decodeContenders: Contender[] = [
    { name: 'raw', run: repeat(() => rawDecrypt(nonce, body, tag)) },
    { name: 'sync', run: repeat(() => syncDecode(encoded)) },
    { name: 'async', run: repeatAsync(() => decodeAll(encoded, asyncCodecs)) },
  ];
  if (chain) {
    encodeContenders.push({ name: 'rawZlib', run: repeat(() => rawZlibEncrypt(data)) });
    decodeContenders.push({
      name: 'rawZlib',
      run: repeat(() => {
        const plain = rawDecrypt(zNonce, zBody, zTag);
        return zlibUsed ? inflateSync(plain) : plain;
      }),
    });
  }

  const rows: Row[] = [];
  for (const [direction, contenders] of [['encode', encodeContenders], ['decode', decodeContenders]] as const) {
    const result = await interleave(contenders, { rounds: ROUNDS, targetMs: TARGET_MS });
    for (const path of ['sync', 'async'] as const) {
      const ns = CLOCK === 'wall' ? result.medianNs : result.medianCpuNs;
      const ratio = pairedRatio(result, path, 'raw', CLOCK);
      rows.push({
        group,
        size,
        direction,
        path,
        clock: CLOCK,
        libraryNs: ns[path]!,
        rawNs: ns.raw!,
        ratio,
        otherClockRatio: pairedRatio(result, path, 'raw', OTHER_CLOCK),
        ...(chain ? { rawZlibNs: ns.rawZlib!, ratioZlib: pairedRatio(result, path, 'rawZlib', CLOCK) } : {}),
        ...judge(size, ratio),
      });
    }
  }
  return rows;
}

const GROUP_TITLES: Record<Group, string> = {
  encryption: 'EncryptionCodec alone, random bytes',
  'chain-random': 'Full chain (compression + encryption), random bytes',
  'chain-json': 'Full chain (compression + encryption), JSON orders',
};

function render(group: Group, rows: readonly Row[]): string {
  const chain = group !== 'encryption';
  const ranged = rows.some((row) => row.ratioRange);
  const headers = [
    'size',
    'op',
    'path',
    'library MB/s',
    'library op/s',
    'raw GCM MB/s',
    'raw GCM op/s',
    'time vs raw',
    ...(ranged ? ['range over runs'] : []),
    'thru vs raw',
    `time vs raw (${OTHER_CLOCK})`,
    ...(chain ? ['raw zlib+GCM MB/s', 'time vs zlib+GCM'] : []),
    'target',
    'met',
  ];
  const body = rows.map((row) => [
    formatSize(row.size),
    row.direction,
    row.path,
    fmt(mbPerSecond(row.size, row.libraryNs)),
    fmt(opsPerSecond(row.libraryNs)),
    fmt(mbPerSecond(row.size, row.rawNs)),
    fmt(opsPerSecond(row.rawNs)),
    `${row.ratio.toFixed(2)}x`,
    ...(ranged ? [row.ratioRange ? `${row.ratioRange[0].toFixed(2)}-${row.ratioRange[1].toFixed(2)}` : '-'] : []),
    `${Math.round(100 / row.ratio)}%`,
    `${row.otherClockRatio.toFixed(2)}x`,
    ...(chain ? [fmt(mbPerSecond(row.size, row.rawZlibNs!)), `${row.ratioZlib!.toFixed(2)}x`] : []),
    row.target,
    row.met === undefined ? '-' : row.met ? 'met' : 'NOT MET',
  ]);
  return `### ${GROUP_TITLES[group]}\n\n${table(headers, body)}\n`;
}

function describe(row: Row): string {
  return `${formatSize(row.size)} ${row.direction} ${row.path}`;
}

/** Every comparison of every group, measured in this process. */
async function measureAll(): Promise<Row[]> {
  const all: Row[] = [];
  for (const group of GROUPS) {
    const rows: Row[] = [];
    for (const size of SIZES) rows.push(...(await measureGroup(group, size)));
    // A single run prints its tables as it goes; with --runs the combined tables come at the end.
    if (RUNS === 1) console.log(render(group, rows));
    all.push(...rows);
  }
  return all;
}

/**
 * Runs this script `RUNS` times, each in a fresh process (a new heap, new JIT decisions, a new place in the host's
 * noise), one after another, and combines them: per row, the median over runs of each figure, and the range of the
 * time ratio. Verdicts use the median ratio.
 */
function measureRuns(): { rows: Row[]; runs: Row[][] } {
  const script = fileURLToPath(import.meta.url);
  const passOn = process.argv.slice(2).filter((arg) => !arg.startsWith('--runs') && !arg.startsWith('--json'));
  const dir = mkdtempSync(join(tmpdir(), 'bench-library-'));
  const runs: Row[][] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const file = join(dir, `run-${i}.json`);
      const child = spawnSync(process.execPath, [...process.execArgv, script, ...passOn, `--json=${file}`], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      if (child.status !== 0) {
        throw new Error(`run ${i + 1} of ${RUNS} failed (${child.error?.message ?? `exit ${child.status}`})`);
      }
      runs.push((JSON.parse(readFileSync(file, 'utf8')) as { rows: Row[] }).rows);
      process.stdout.write(`\r  ${i + 1}/${RUNS} runs`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write('\n\n');
  const rows = runs[0]!.map((first, index) => {
    const same = runs.map((run) => run[index]!);
    const of = (pick: (row: Row) => number | undefined) =>
      median(same.map(pick).filter((value): value is number => value !== undefined));
    const ratios = same.map((row) => row.ratio);
    const ratio = median(ratios);
    return {
      ...first,
      libraryNs: of((r) => r.libraryNs),
      rawNs: of((r) => r.rawNs),
      ratio,
      otherClockRatio: of((r) => r.otherClockRatio),
      ...(first.rawZlibNs !== undefined ? { rawZlibNs: of((r) => r.rawZlibNs), ratioZlib: of((r) => r.ratioZlib) } : {}),
      ...judge(first.size, ratio),
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
    } satisfies Row;
  });
  return { rows, runs };
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`# bench/library.ts${quick ? ' --quick' : ''}${RUNS > 1 ? ` --runs=${RUNS}` : ''}`);
  console.log(`machine: ${machineSummary()}`);
  console.log(
    `method: ${ROUNDS} interleaved rounds per comparison, ~${TARGET_MS} ms per timed batch, medians, ${CLOCK} time; ` +
      '"time vs raw" = median of per-round (library time / raw time); "thru vs raw" = its inverse' +
      (RUNS > 1 ? `; every figure is the median over ${RUNS} runs, each in its own process.\n` : '.\n'),
  );
  const { rows: all, runs } = RUNS > 1 ? measureRuns() : { rows: await measureAll(), runs: undefined };
  if (RUNS > 1) for (const group of GROUPS) console.log(render(group, all.filter((row) => row.group === group)));
  const judged = (rows: Row[]) => rows.filter((row) => row.met !== undefined);
  for (const group of GROUPS) {
    const rows = judged(all.filter((row) => row.group === group));
    const missed = rows.filter((row) => !row.met);
    console.log(
      `${GROUP_TITLES[group]}: ${rows.length - missed.length}/${rows.length} targets met` +
        (missed.length
          ? ` (not met: ${missed.map((row) => `${describe(row)} ${row.ratio.toFixed(2)}x`).join(', ')})`
          : ''),
    );
  }
  const disputed = judged(all).filter((row) => judge(row.size, row.otherClockRatio).met !== row.met);
  if (disputed.length > 0) {
    console.log(
      `\nverdict differs on ${OTHER_CLOCK} time (the machine was busy): ` +
        disputed.map((row) => `${row.group} ${describe(row)}`).join(', '),
    );
  }
  console.log(`\nwall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (jsonOut) {
    mkdirSync(dirname(jsonOut), { recursive: true });
    const record = {
      machine: machineSummary(),
      quick,
      rounds: ROUNDS,
      targetMs: TARGET_MS,
      runs: RUNS,
      rows: all,
      ...(runs ? { perRun: runs } : {}),
    };
    writeFileSync(jsonOut, JSON.stringify(record, null, 2));
  }
}

await main();
