/**
 * Starting, watching and stopping the servers the server benchmarks and endurance scripts run against, each in its
 * own process on 127.0.0.1: our codec server (`temporal-codec serve`), the bare node:http echo (./node-echo.ts), the
 * bare node:http codec server (./node-floor.ts) and the Go SDK peer (./go). Also what /proc says about a process
 * tree: CPU time, RSS, open descriptors.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const GO_MODULE = join(REPO_ROOT, 'bench', 'peers', 'go');
const GO_BINARY = join(RESULTS_DIR, 'bin', 'codec-peer');

export type TargetKind = 'ours' | 'echo' | 'floor' | 'go';

export interface TargetSpec {
  /** Short name used in tables and JSON: `ours-1`, `echo-2`, `go-1`. */
  name: string;
  kind: TargetKind;
  /** Node workers (ours, echo; the floor has one process) or GOMAXPROCS (go). */
  cores: number;
  /** A CPU list for taskset (e.g. "1"): the server is confined to those CPUs. */
  cpus?: string;
  /** Extra `serve` flags (ours only). */
  args?: string[];
}

export interface RunningTarget {
  spec: TargetSpec;
  port: number;
  url: string;
  pid: number;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Everything it wrote to stdout, when started with `captureStdout`. */
  stdout(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

/** A fresh random AES-256 key in the format the servers read from `TEMPORAL_ENCRYPTION_KEY_<id>`. */
export function newKeyValue(): { key: Buffer; value: string } {
  const key = randomBytes(32);
  return { key, value: `base64:${key.toString('base64')}` };
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `taskset` can pin processes here (Linux with util-linux). */
export const canPin: boolean = process.platform === 'linux' && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** Builds the Go peer into bench/results/bin (gitignored); undefined with a reason when Go is unavailable. */
export function buildGoPeer(): { binary: string } | { error: string } {
  const version = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) return { error: 'no `go` toolchain on PATH' };
  mkdirSync(dirname(GO_BINARY), { recursive: true });
  const build = spawnSync('go', ['build', '-o', GO_BINARY, '.'], { cwd: GO_MODULE, encoding: 'utf8', timeout: 300_000 });
  if (build.status !== 0) return { error: `go build failed: ${build.stderr || build.error?.message}` };
  return { binary: GO_BINARY };
}

export function goVersion(): string {
  const result = spawnSync('go', ['version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim().replace(/^go version /, '') : 'none';
}

export interface StartOptions {
  /** The key variables (and anything else) the server gets; PATH and HOME are added. */
  env: Record<string, string>;
  /** Run `node dist/cli.js` (after `npm run build`) instead of `node --import tsx src/cli/bin.ts`. */
  dist?: boolean;
  /** Keep what the server writes to stdout (its log); default: discard it, as a container runtime would. */
  captureStdout?: boolean;
  /** Called with every line the server writes to stdout (its JSON log); implies reading stdout. */
  onStdoutLine?: (line: string) => void;
  port?: number;
}

/** The command line that starts our server. */
export function oursCommand(dist: boolean): string[] {
  // BENCH_OURS_BIN: another CLI entry (a prototype copy of src/cli/bin.ts), to measure a change before it lands.
  const override = process.env.BENCH_OURS_BIN;
  if (override) return ['node', '--import', 'tsx', override];
  return dist ? ['node', join(REPO_ROOT, 'dist', 'cli.js')] : ['node', '--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'bin.ts')];
}

/** Starts a target and waits until it answers HTTP. */
export async function startTarget(spec: TargetSpec, options: StartOptions): Promise<RunningTarget> {
  const port = options.port ?? (await freePort());
  let command: string[];
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env };
  switch (spec.kind) {
    case 'ours':
      command = [
        ...oursCommand(options.dist ?? false),
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        String(spec.cores),
        ...(spec.args ?? []),
      ];
      break;
    case 'echo':
      command = ['node', '--import', 'tsx', join(REPO_ROOT, 'bench', 'peers', 'node-echo.ts'), '--port', String(port), '--workers', String(spec.cores)];
      break;
    case 'floor':
      if (spec.cores !== 1) throw new Error('the floor peer runs in one process: cores must be 1');
      command = ['node', '--import', 'tsx', join(REPO_ROOT, 'bench', 'peers', 'node-floor.ts'), '--port', String(port)];
      break;
    case 'go':
      if (!existsSync(GO_BINARY)) throw new Error('the Go peer is not built: call buildGoPeer() first');
      command = [GO_BINARY, '-addr', `127.0.0.1:${port}`];
      env.GOMAXPROCS = String(spec.cores);
      break;
  }
  if (spec.cpus && canPin) command = ['taskset', '-c', spec.cpus, ...command];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', options.captureStdout || options.onStdoutLine ? 'pipe' : 'ignore', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 1_000_000) stderr += chunk.toString('utf8');
  });
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (options.captureStdout && stdout.length < 5_000_000) stdout += text;
    if (options.onStdoutLine) {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onStdoutLine(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const target: RunningTarget = {
    spec,
    port,
    url,
    pid: child.pid!,
    child,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    async stop(graceMs = 12_000) {
      if (hasExited) return { ...(await exited), killed: false };
      child.kill('SIGTERM');
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        killTree(child.pid!);
      }, graceMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, killed };
    },
  };
  const deadline = Date.now() + 30_000;
  const path = spec.kind === 'ours' ? '/livez' : '/';
  for (;;) {
    if (hasExited) throw new Error(`${spec.name} exited before it listened: ${stderr.slice(0, 2000)}`);
    if (await answers(url + path)) break;
    if (Date.now() > deadline) {
      await target.stop(1000);
      throw new Error(`${spec.name} did not answer within 30 s: ${stderr.slice(0, 2000)}`);
    }
    await sleep(100);
  }
  // Every cluster worker must be up, or the first connections all land on one.
  if (spec.cores > 1 && spec.kind !== 'go') {
    while (descendants(child.pid!).length < spec.cores && Date.now() < deadline) await sleep(100);
    await sleep(1000);
  }
  return target;
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(true));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The pids of a process's children, grandchildren, ... (Linux /proc). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const task of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return out;
}

function killTree(pid: number): void {
  for (const p of [...descendants(pid), pid]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state is field 3, utime 14, stime 15 (proc(5)), i.e. indexes 11 and 12 here.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU seconds of a process and all its descendants (cluster workers). */
export function treeCpuSeconds(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + cpuSeconds(p), 0);
}

/** Resident set size in bytes (VmRSS), 0 when gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors (entries of /proc/<pid>/fd), -1 when gone. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}
