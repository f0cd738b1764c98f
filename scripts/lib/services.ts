/**
 * Starting and stopping the pieces of a local Temporal setup as child processes: the Temporal dev server (with its
 * Web UI), the codec server and the sample order worker. Shared by the integration tests (test/integration) and
 * `npm run demo` (scripts/demo.ts), so both run exactly the same commands. No test framework in here.
 *
 * Every child runs in its own process group (spawned detached) and is stopped by group, so grandchildren go too.
 * Groups still running when this process exits are killed from an exit hook, so a failed or interrupted run leaves
 * nothing behind.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---------------------------------------------------------------------------------------------------------------
// Tools

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The Temporal CLI: $TEMPORAL_CLI, then the project's .venv (scripts/ensure-temporal.sh), then PATH. */
export function findTemporalCli(): string | undefined {
  const candidates = [process.env.TEMPORAL_CLI, join(PROJECT_ROOT, '.venv', 'bin', 'temporal'), onPath('temporal')];
  return candidates.find((path): path is string => !!path && isExecutable(path));
}

/** Chromium for playwright-core: $CHROMIUM_PATH, else /usr/bin/chromium (scripts/ensure-chromium.sh). */
export function findChromium(): string | undefined {
  const path = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  return isExecutable(path) ? path : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

const running = new Set<ManagedProcess>();

const killAll = (): void => {
  for (const child of running) child.killGroupNow();
};
process.once('exit', killAll);
// A test worker or `tsx` child whose parent died: nothing will stop these processes otherwise.
if (process.connected) process.once('disconnect', killAll);

export interface StartOptions {
  name: string;
  /** Where to write `<name>.log` with the process's output; none when undefined. */
  logDir?: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A child process in its own process group, with its output kept in memory and, given a `logDir`, in a file. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #output = '';
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #log: WriteStream | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(options: StartOptions) {
    this.name = options.name;
    if (options.logDir) {
      mkdirSync(options.logDir, { recursive: true });
      this.#log = createWriteStream(join(options.logDir, `${options.name}.log`));
    }
    this.child = spawn(options.command, [...options.args], {
      cwd: options.cwd ?? PROJECT_ROOT,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer): void => {
      this.#output += chunk.toString('utf8');
      if (this.#output.length > 2_000_000) this.#output = this.#output.slice(-1_000_000);
      this.#log?.write(chunk);
      for (const listener of this.#listeners) listener();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolveExit) => {
      this.child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        running.delete(this);
        for (const listener of this.#listeners) listener();
        resolveExit({ code, signal });
      });
      this.child.once('error', (error) => {
        this.#output += `\n[spawn error] ${error.message}\n`;
        this.#exit = { code: -1, signal: null };
        running.delete(this);
        for (const listener of this.#listeners) listener();
        resolveExit({ code: -1, signal: null });
      });
    });
    running.add(this);
  }

  get output(): string {
    return this.#output;
  }

  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /** The last lines of output, for error messages. */
  tail(lines = 40): string {
    return this.#output.split('\n').slice(-lines).join('\n');
  }

  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first or on timeout. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolveMatch, reject) => {
      const check = (): void => {
        const match = this.#output.match(pattern);
        if (match) {
          done();
          resolveMatch(match);
        } else if (this.#exit) {
          done();
          const how = describeExit(this.#exit);
          reject(new Error(`${this.name} exited (${how}) before printing ${pattern}:\n${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Sends a signal to the whole process group. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.hasExited || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  /** SIGTERM (or `signal`) to the group, then SIGKILL after `graceMs`; resolves once the leader has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (!this.hasExited) {
      this.signalGroup(signal);
      const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // Children that outlived the leader.
    this.killGroupNow();
    if (this.#log) await new Promise<void>((resolveEnd) => this.#log!.end(resolveEnd));
  }

  /** @internal Synchronous SIGKILL of the group, for the exit hook. */
  killGroupNow(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** Everything started by one test file or one demo, stopped in reverse order. */
export class ProcessGroup {
  readonly logDir: string | undefined;
  readonly #processes: ManagedProcess[] = [];
  readonly #cleanups: (() => Promise<void> | void)[] = [];

  /** `logDir`: where each process's output goes, as `<name>.log`. */
  constructor(options: { logDir?: string } = {}) {
    this.logDir = options.logDir;
  }

  start(options: StartOptions): ManagedProcess {
    const child = new ManagedProcess({ logDir: this.logDir, ...options });
    this.#processes.push(child);
    return child;
  }

  /** Runs `cleanup` in stopAll, before the processes are stopped (browsers, connections). */
  defer(cleanup: () => Promise<void> | void): void {
    this.#cleanups.push(cleanup);
  }

  async stopAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    for (const child of this.#processes.splice(0).reverse()) {
      try {
        await child.stop();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'stopping the integration processes failed');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ports, polling, commands

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

export const sleep = (ms: number): Promise<void> => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/** Calls `probe` until it returns a value other than undefined; fails with the last error after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number; abortIf?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const reason = options.abortIf?.();
    if (reason) throw new Error(`gave up waiting for ${what}: ${reason}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError ? `: ${String(lastError)}` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(options.intervalMs ?? 250);
  }
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`); returns its exit code and output, whatever the code. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolveRun) => {
    execFile(
      command,
      [...args],
      {
        cwd: options.cwd ?? PROJECT_ROOT,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 60_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        const note = error && code === -1 ? `\n${error.message}` : '';
        resolveRun({ code, stdout: String(stdout), stderr: String(stderr) + note });
      },
    );
  });
}

/**
 * The environment for `temporal` commands: this process's environment without any Temporal CLI setting
 * (address, namespace, codec endpoint, profile), so that a command gets a codec only when a test passes one.
 */
export function temporalCliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TEMPORAL_')) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs the Temporal CLI with no config file or config environment, against `address`. */
export function temporal(
  temporalCli: string,
  address: string,
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<CommandResult> {
  return run(temporalCli, [...args, '--address', address, '--disable-config-file', '--disable-config-env'], {
    env: temporalCliEnv(),
    timeoutMs: options.timeoutMs ?? 60_000,
  });
}

/** This process's environment without key, codec or Temporal address variables, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('TEMPORAL_ENCRYPTION_KEY') || name.startsWith('TEMPORAL_CODEC_')) continue;
    if (name === 'TEMPORAL_ADDRESS' || name === 'TEMPORAL_NAMESPACE' || name === 'ORDER_TASK_QUEUE') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------------------------
// Services

export interface DevServer {
  address: string;
  port: number;
  uiPort: number;
  /** `http://127.0.0.1:<uiPort>`: also the origin the codec server must allow. */
  uiUrl: string;
  process: ManagedProcess;
}

/**
 * Starts `temporal server start-dev` on loopback with an in-memory store (no --db-filename) and, unless headless,
 * the Web UI pointed at `codecEndpoint`; resolves once the frontend reports SERVING and the UI answers.
 */
export async function startDevServer(
  group: ProcessGroup,
  temporalCli: string,
  options: {
    port?: number;
    uiPort?: number;
    codecEndpoint?: string;
    headless?: boolean;
    name?: string;
    /** Custom search attributes to register, name to type (`Keyword`, `Text`, `Int`, ...). */
    searchAttributes?: Record<string, string>;
  } = {},
): Promise<DevServer> {
  const [port, uiPort] = [options.port ?? (await freePort()), options.uiPort ?? (await freePort())];
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  if (options.headless) {
    args.push('--headless');
  } else {
    args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort), '--ui-disable-news-fetch');
    if (options.codecEndpoint) args.push('--ui-codec-endpoint', options.codecEndpoint);
  }
  for (const [name, type] of Object.entries(options.searchAttributes ?? {})) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  const server = group.start({
    name: options.name ?? 'temporal-dev-server',
    command: temporalCli,
    args: [...args, '--disable-config-file', '--disable-config-env'],
    env: temporalCliEnv(),
  });
  const address = `127.0.0.1:${port}`;
  const abortIf = (): string | undefined => (server.hasExited ? `the dev server exited:\n${server.tail()}` : undefined);
  await waitFor(
    `the Temporal dev server at ${address}`,
    async () => {
      const result = await temporal(temporalCli, address, ['operator', 'cluster', 'health'], { timeoutMs: 10_000 });
      return result.code === 0 && /SERVING/.test(result.stdout) ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 300, abortIf },
  );
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  if (!options.headless) {
    const uiAnswers = async (): Promise<true | undefined> => {
      const response = await fetch(uiUrl);
      await response.arrayBuffer();
      return response.ok ? true : undefined;
    };
    await waitFor(`the Web UI at ${uiUrl}`, uiAnswers, { timeoutMs: 30_000, abortIf });
  }
  return { address, port, uiPort, uiUrl, process: server };
}

export interface CodecServer {
  url: string;
  port: number;
  process: ManagedProcess;
}

/**
 * The `temporal-codec` entry point the codec server runs from: $CODEC_SERVER_ENTRY (e.g. `dist/cli.js` to test the
 * built package), else the source `src/cli/bin.ts`. Both run under `node --import tsx`, which leaves .js alone.
 */
export function codecCliEntry(): string {
  return process.env.CODEC_SERVER_ENTRY || 'src/cli/bin.ts';
}

/**
 * Starts `temporal-codec serve` on loopback, allowing `corsOrigins`, with the keys in `env`; resolves once
 * POST /decode answers 200.
 */
export async function startCodecServer(
  group: ProcessGroup,
  options: {
    port?: number;
    corsOrigins?: readonly string[];
    /** Key and codec variables; the rest of this process's key and codec variables are left out. */
    env: Record<string, string>;
    extraArgs?: readonly string[];
    /** The process (and log file) name; default `codec-server`. Give restarts their own. */
    name?: string;
  },
): Promise<CodecServer> {
  const port = options.port ?? (await freePort());
  const codec = group.start({
    name: options.name ?? 'codec-server',
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      codecCliEntry(),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      ...(options.corsOrigins?.length ? ['--cors-origins', options.corsOrigins.join(',')] : []),
      '--workers',
      '1',
      ...(options.extraArgs ?? []),
    ],
    env: cleanEnv(options.env),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `the codec server at ${url}`,
    async () => {
      const response = await fetch(`${url}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
        body: '{"payloads":[]}',
      });
      await response.arrayBuffer();
      return response.status === 200 ? true : undefined;
    },
    { timeoutMs: 30_000, abortIf: () => (codec.hasExited ? `the codec server exited:\n${codec.tail()}` : undefined) },
  );
  return { url, port, process: codec };
}

/** Starts the sample worker (examples/order-workflow/worker.ts) and resolves once it polls `taskQueue`. */
export async function startOrderWorker(
  group: ProcessGroup,
  options: {
    address: string;
    taskQueue: string;
    env: Record<string, string>;
    /** The process (and log file) name; default `order-worker`. Give restarts their own. */
    name?: string;
  },
): Promise<ManagedProcess> {
  const worker = group.start({
    name: options.name ?? 'order-worker',
    command: process.execPath,
    args: ['--import', 'tsx', 'examples/order-workflow/worker.ts'],
    env: cleanEnv({ ...options.env, TEMPORAL_ADDRESS: options.address, ORDER_TASK_QUEUE: options.taskQueue }),
  });
  await worker.waitForOutput(/order worker ready/, 90_000);
  return worker;
}
