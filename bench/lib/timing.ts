/**
 * Timing helpers shared by the benchmark scripts. The machine is shared and noisy, so every figure is taken by
 * interleaving: the contenders of one comparison run in alternating rounds (the order rotates every round), each
 * round times a batch long enough to swamp timer resolution, and the reported figure is the median over rounds.
 * A ratio is the median of the per-round ratios, so a slow round hurts both sides of it alike.
 *
 * Every batch is timed twice over: wall clock (process.hrtime) and this process's CPU time (process.cpuUsage, all
 * threads, so V8's GC helper threads count). Wall clock is the throughput a caller sees; CPU time does not grow
 * while another process holds the CPU, so when the two disagree the machine was busy.
 */

/** Runs `iterations` operations; may be async. Keep results alive via {@link keep} so nothing is optimised away. */
export type Batch = (iterations: number) => void | Promise<void>;

/** One contender of an interleaved comparison. */
export interface Contender {
  name: string;
  run: Batch;
}

/** Which clock a figure comes from. */
export type Clock = 'wall' | 'cpu';

/** Median nanoseconds per operation of each contender, and every round's figure, on both clocks. */
export interface Interleaved {
  /** Median wall-clock ns per op, by contender name. */
  medianNs: Record<string, number>;
  /** Median CPU ns per op, by contender name. */
  medianCpuNs: Record<string, number>;
  /** Per-round wall-clock ns per op, by contender name (rounds in order). */
  roundsNs: Record<string, number[]>;
  /** Per-round CPU ns per op, by contender name (rounds in order). */
  roundsCpuNs: Record<string, number[]>;
  /** Operations per batch, by contender name. */
  iterations: Record<string, number>;
}

let sink: unknown;
/** Keeps a value reachable so that the engine cannot drop the work that made it. */
export function keep(value: unknown): void {
  sink = value;
}
/** @internal */
export function lastKept(): unknown {
  return sink;
}

/** A batch that calls `op` `iterations` times and keeps each result. */
export function repeat(op: () => unknown): Batch {
  return (iterations) => {
    for (let i = 0; i < iterations; i++) keep(op());
  };
}

/** A batch that awaits `op` `iterations` times, one call after another, and keeps each result. */
export function repeatAsync(op: () => Promise<unknown>): Batch {
  return async (iterations) => {
    for (let i = 0; i < iterations; i++) keep(await op());
  };
}

/** Wall-clock and CPU nanoseconds one call of `batch(iterations)` takes. */
export async function timeBatch(batch: Batch, iterations: number): Promise<{ wallNs: number; cpuNs: number }> {
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const pending = batch(iterations);
  if (pending) await pending;
  const wallNs = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpuStart);
  return { wallNs, cpuNs: (cpu.user + cpu.system) * 1000 };
}

/**
 * The number of operations that makes one batch last about `targetMs` (at least 1). Warms the code up on the way:
 * the batch size doubles until a batch takes a quarter of the target, then scales.
 */
export async function calibrate(batch: Batch, targetMs: number): Promise<number> {
  const targetNs = targetMs * 1e6;
  let iterations = 1;
  for (;;) {
    const ns = (await timeBatch(batch, iterations)).wallNs;
    if (ns >= targetNs / 4 || iterations >= 1 << 24) {
      return Math.max(1, Math.round((iterations * targetNs) / Math.max(ns, 1)));
    }
    iterations *= 2;
  }
}

/**
 * Times the contenders in `rounds` interleaved rounds. Round r runs them in an order rotated by r (A B C, B C A, ...
 * and reversed on odd rounds), so no contender always runs first, right after another's garbage or warm caches.
 */
export async function interleave(
  contenders: readonly Contender[],
  options: { rounds: number; targetMs: number },
): Promise<Interleaved> {
  const iterations: Record<string, number> = {};
  for (const contender of contenders) iterations[contender.name] = await calibrate(contender.run, options.targetMs);
  // One untimed batch each, so that every contender reaches the optimising compiler before the first timed round.
  for (const contender of contenders) await timeBatch(contender.run, iterations[contender.name]!);
  const roundsNs: Record<string, number[]> = {};
  const roundsCpuNs: Record<string, number[]> = {};
  for (const contender of contenders) {
    roundsNs[contender.name] = [];
    roundsCpuNs[contender.name] = [];
  }
  const n = contenders.length;
  for (let round = 0; round < options.rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % n]!);
    if (round % 2 === 1) order.reverse();
    for (const contender of order) {
      const count = iterations[contender.name]!;
      const { wallNs, cpuNs } = await timeBatch(contender.run, count);
      roundsNs[contender.name]!.push(wallNs / count);
      roundsCpuNs[contender.name]!.push(cpuNs / count);
    }
  }
  const medianNs: Record<string, number> = {};
  const medianCpuNs: Record<string, number> = {};
  for (const contender of contenders) {
    medianNs[contender.name] = median(roundsNs[contender.name]!);
    medianCpuNs[contender.name] = median(roundsCpuNs[contender.name]!);
  }
  return { medianNs, medianCpuNs, roundsNs, roundsCpuNs, iterations };
}

/** Median of per-round time ratios a/b (rounds paired by index), on the wall clock unless told. */
export function pairedRatio(result: Interleaved, a: string, b: string, clock: Clock = 'wall'): number {
  const rounds = clock === 'wall' ? result.roundsNs : result.roundsCpuNs;
  const as = rounds[a]!;
  const bs = rounds[b]!;
  return median(as.map((value, i) => value / Math.max(bs[i]!, 1)));
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Megabytes (10^6 bytes) per second for `bytes` processed per op at `nsPerOp`. */
export function mbPerSecond(bytes: number, nsPerOp: number): number {
  return (bytes / nsPerOp) * 1e3;
}

/** Operations per second at `nsPerOp`. */
export function opsPerSecond(nsPerOp: number): number {
  return 1e9 / nsPerOp;
}
