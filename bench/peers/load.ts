/** Drives ./load-generator.ts, the autocannon process, from the benchmark script. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LoadResult, LoadRun } from './load-generator.js';
import { canPin, REPO_ROOT } from './targets.js';

export type { LoadResult, LoadRun };

export interface LoadGenerator {
  pid: number;
  /** Warms up, calls `atStart` (read the server's counters there), measures, and resolves with the figures. */
  run(options: LoadRun, atStart: () => void): Promise<LoadResult>;
  close(): void;
}

/** Starts an autocannon process, confined to `cpus` (a taskset CPU list) when given. */
export function startLoadGenerator(cpus?: string): LoadGenerator {
  const script = join(REPO_ROOT, 'bench', 'peers', 'load-generator.ts');
  const command = ['node', '--import', 'tsx', script];
  if (cpus && canPin) command.unshift('taskset', '-c', cpus);
  const child = spawn(command[0]!, command.slice(1), { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const handlers = new Map<number, (message: { phase: string; result?: LoadResult; message?: string }) => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const message = JSON.parse(line) as { id: number; phase: string; result?: LoadResult; message?: string };
    handlers.get(message.id)?.(message);
  });
  let nextId = 1;
  return {
    pid: child.pid!,
    run(options, atStart) {
      const id = nextId++;
      return new Promise<LoadResult>((resolve, reject) => {
        handlers.set(id, (message) => {
          if (message.phase === 'warm') {
            atStart();
            child.stdin!.write(`${JSON.stringify({ id, go: true })}\n`);
          } else if (message.phase === 'done') {
            handlers.delete(id);
            resolve(message.result!);
          } else {
            handlers.delete(id);
            reject(new Error(`load generator: ${message.message}`));
          }
        });
        child.stdin!.write(`${JSON.stringify({ id, ...options })}\n`);
      });
    },
    close() {
      child.stdin!.end();
      child.kill();
    },
  };
}
