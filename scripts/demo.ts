/**
 * `npm run demo`: the whole setup on this machine in one command. Starts a Temporal dev server with its Web UI
 * pointed at a local codec server, the codec server, and the sample order worker; runs one order (and approves it);
 * prints the Web UI link and the `temporal workflow show --codec-endpoint` command; stops everything on Ctrl-C.
 *
 *   npm run demo -- [--port 7233] [--ui-port 8233] [--codec-port 8888] [--fail-shipping]
 *
 * Keys: TEMPORAL_ENCRYPTION_KEY_<id> / TEMPORAL_ENCRYPTION_KEY from the environment when set (the active id is
 * TEMPORAL_CODEC_ENCRYPTION_KEY_ID, default "default"); otherwise a throwaway key is generated for this run. Only
 * its fingerprint is ever printed.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import {
  approveOrder,
  connectOrderClient,
  type OrderClient,
  sampleOrder,
  startOrder,
} from '../examples/order-workflow/client.js';
import type { OrderResult } from '../examples/order-workflow/types.js';
import { createDataConverter, DEFAULT_ENCRYPTION_KEY_ID, loadKeyRing } from '../src/index.js';
import {
  freePort,
  type ManagedProcess,
  PROJECT_ROOT,
  ProcessGroup,
  startCodecServer,
  startDevServer,
  startOrderWorker,
} from './lib/services.js';

const TASK_QUEUE = 'order-queue';
const KEY_VARIABLE = 'TEMPORAL_ENCRYPTION_KEY';

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

class DemoStopped extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values: flags } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      'ui-port': { type: 'string' },
      'codec-port': { type: 'string' },
      'fail-shipping': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (flags.help) {
    say('usage: npm run demo -- [--port 7233] [--ui-port 8233] [--codec-port 8888] [--fail-shipping]');
    return 0;
  }

  const group = new ProcessGroup({ logDir: join(PROJECT_ROOT, 'artifacts', 'demo', 'logs') });
  let stopping: Promise<void> | undefined;
  let signalled = false;
  const stop = (): Promise<void> => (stopping ??= group.stopAll().catch((error: unknown) => {
    process.stderr.write(`demo: stopping: ${String(error)}\n`);
  }));
  const stopped = new Promise<void>((resolveStopped) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) return;
      signalled = true;
      say(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping the worker, the codec server and the dev server...`);
      void stop().then(resolveStopped);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const checkStopped = (): void => {
    if (signalled) throw new DemoStopped();
  };

  try {
    // 1. Tools and keys.
    const temporalCli = await ensureTemporal();
    checkStopped();
    const keys = demoKeys(process.env);
    say(`Temporal CLI: ${temporalCli}`);
    say(`Encryption: key id "${keys.keyId}", fingerprint ${keys.fingerprint} (${keys.origin})`);

    // 2. Ports: the usual ones when free (the Trenova guide's http://localhost:8233), else any free one.
    const port = await choosePort(flags.port, 7233, '--port');
    const uiPort = await choosePort(flags['ui-port'], 8233, '--ui-port');
    const codecPort = await choosePort(flags['codec-port'], 8888, '--codec-port');
    const uiOrigins = [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`];

    // 3. Codec server, and meanwhile the dev server (its UI calls the codec server) and then the worker, which
    //    spends most of its start-up bundling the workflow code.
    const codecUrl = `http://127.0.0.1:${codecPort}`;
    const [codec, { server, worker }] = await Promise.all([
      startCodecServer(group, { port: codecPort, corsOrigins: uiOrigins, env: keys.env }),
      (async () => {
        const server = await startDevServer(group, temporalCli, { port, uiPort, codecEndpoint: codecUrl });
        checkStopped();
        const worker = await startOrderWorker(group, { address: server.address, taskQueue: TASK_QUEUE, env: keys.env });
        return { server, worker };
      })(),
    ]);
    checkStopped();
    say(`Codec server: ${codec.url} (CORS: ${uiOrigins.join(', ')})`);
    say(`Temporal dev server: ${server.address}, Web UI ${server.uiUrl} (codec endpoint ${codec.url})`);
    say(`Worker: polling "${TASK_QUEUE}"`);
    watchForCrash([codec.process, server.process, worker], () => signalled || stopping !== undefined, stop);

    // 4. One order, approved.
    const orders: OrderClient = await connectOrderClient({
      address: server.address,
      dataConverter: createDataConverter({ encryptionKeyID: keys.keyId, env: keys.env }),
    });
    group.defer(() => orders.close());
    const order = sampleOrder({ simulateShippingFailure: flags['fail-shipping'] });
    const handle = await startOrder(orders.client, TASK_QUEUE, order, { memo: { placedBy: order.customer.email } });
    await approveOrder(handle, 'order-desk');
    try {
      const result: OrderResult = await handle.result();
      say(`\nOrder ${result.orderId}: ${result.status}, tracking ${result.trackingNumber}.`);
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      say(`\nOrder ${order.orderId} failed as asked (--fail-shipping) and was refunded; its failure is encrypted too.`);
    }
    checkStopped();

    // 5. Where to look.
    const workflowPath = `${encodeURIComponent(handle.workflowId)}/${handle.firstExecutionRunId}`;
    const link = `${server.uiUrl}/namespaces/default/workflows/${workflowPath}/history`;
    say('\nOpen the workflow in the Web UI (it decodes input and result through the codec server):');
    say(`  ${link}`);
    say('\nOr show it decoded with the Temporal CLI:');
    say(
      `  ${temporalCli} workflow show --address ${server.address} -w ${handle.workflowId} ` +
        `--codec-endpoint ${codec.url}`,
    );
    say('Without --codec-endpoint the same command shows only binary/encrypted payloads.');
    say('\nPress Ctrl-C to stop everything.');

    await stopped;
    say('Stopped.');
    return 0;
  } catch (error) {
    if (error instanceof DemoStopped || signalled) {
      await stop();
      say('Stopped.');
      return 0;
    }
    process.stderr.write(`demo: ${(error as Error)?.message ?? String(error)}\n`);
    await stop();
    return 1;
  }
}

/** scripts/ensure-temporal.sh installs the CLI when missing and prints its path. */
async function ensureTemporal(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('bash', [join(PROJECT_ROOT, 'scripts', 'ensure-temporal.sh')], {
      cwd: PROJECT_ROOT,
      timeout: 300_000,
    });
    const path = stdout.trim().split('\n').at(-1);
    if (!path) throw new Error('it printed no path');
    return path;
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(`scripts/ensure-temporal.sh failed: ${detail}`);
  }
}

interface DemoKeys {
  keyId: string;
  fingerprint: string;
  origin: string;
  /** Key and codec variables for the worker, the codec server and the client; nothing else. */
  env: Record<string, string>;
}

/** The keys from the environment, or a throwaway key when none is set. The key itself is never printed. */
function demoKeys(environment: NodeJS.ProcessEnv): DemoKeys {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    if (value !== undefined && (name.startsWith(KEY_VARIABLE) || name.startsWith('TEMPORAL_CODEC_'))) env[name] = value;
  }
  const keyId = env.TEMPORAL_CODEC_ENCRYPTION_KEY_ID || DEFAULT_ENCRYPTION_KEY_ID;
  env.TEMPORAL_CODEC_ENCRYPTION_KEY_ID = keyId;
  const hasKeys = Object.keys(env).some((name) => name === KEY_VARIABLE || name.startsWith(`${KEY_VARIABLE}_`));
  let origin = 'from the environment';
  if (!hasKeys) {
    env[`${KEY_VARIABLE}_${keyId}`] = `base64:${randomBytes(32).toString('base64')}`;
    origin = 'a throwaway key generated for this demo; what it encrypts is unreadable once the demo stops';
  }
  // Fails with every problem named (variables, never values) when a configured key is malformed or missing.
  const ring = loadKeyRing({ env, encryptionKeyID: keyId, keysDir: env.TEMPORAL_CODEC_KEYS_DIR || undefined });
  return { keyId, fingerprint: ring.fingerprint(keyId) ?? 'none', origin, env };
}

async function choosePort(flag: string | undefined, preferred: number, name: string): Promise<number> {
  if (flag !== undefined) {
    const port = Number(flag);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a port number`);
    if (!(await isFree(port))) throw new Error(`${name} ${port} is in use`);
    return port;
  }
  return (await isFree(preferred)) ? preferred : freePort();
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

/** A child that dies on its own stops the demo with its last output. */
function watchForCrash(processes: ManagedProcess[], expected: () => boolean, stop: () => Promise<void>): void {
  for (const child of processes) {
    void child.exited.then((exit) => {
      if (expected()) return;
      const how = exit.signal ?? `code ${exit.code}`;
      process.stderr.write(`demo: ${child.name} exited unexpectedly (${how}):\n${child.tail(20)}\n`);
      void stop().then(() => process.exit(1));
    });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
