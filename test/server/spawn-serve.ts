/** `temporal-codec serve` as a real process, from source, for the tests that need signals, clusters or start-up. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SpawnedServe {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** The JSON log lines written so far. */
  lines: () => Record<string, any>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const children: ChildProcess[] = [];

/** Kills, after each test of the calling file, every server its test spawned and left running. */
export function killSpawnedAfterEach(): void {
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

/** `temporal-codec serve ...args` with only the variables in `env` (plus PATH). */
export function spawnServe(args: readonly string[], env: Record<string, string> = {}): SpawnedServe {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    lines: () => stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line)),
    exited,
  };
}
