/**
 * The order worker: polls the task queue and runs the order workflow and its activities, with every payload
 * compressed and encrypted by the package's data converter.
 *
 *   TEMPORAL_ENCRYPTION_KEY_default=base64:... node --import tsx examples/order-workflow/worker.ts
 *
 * It prints one "order worker ready" line once it polls, and stops cleanly on SIGINT or SIGTERM.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import * as activities from './activities.js';
import { describeKeys, loadOrderAppConfig, orderDataConverter } from './config.js';

export interface OrderWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  dataConverter: DataConverter;
}

/** A Worker for the order workflow; the caller runs it and closes the connection. */
export async function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
    activities,
    dataConverter: options.dataConverter,
  });
}

async function main(): Promise<void> {
  const logLevel = (process.env.ORDER_WORKER_LOG_LEVEL as LogLevel | undefined) ?? 'WARN';
  Runtime.install({ logger: new DefaultLogger(logLevel) });
  const config = loadOrderAppConfig();
  const connection = await NativeConnection.connect({ address: config.hostPort });
  try {
    const worker = await createOrderWorker({
      connection,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      dataConverter: orderDataConverter(config),
    });
    // Runtime's default shutdown signals (SIGINT, SIGTERM, ...) make run() drain and resolve.
    const running = worker.run();
    process.stdout.write(
      `order worker ready: task queue "${config.taskQueue}" on ${config.hostPort}, ${describeKeys(config)}\n`,
    );
    await running;
  } finally {
    await connection.close();
  }
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(realpathSync(entry)).href === import.meta.url;
}

if (isMainModule()) {
  main().then(
    () => {
      process.exitCode = 0;
    },
    (error: unknown) => {
      process.stderr.write(`order worker: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
