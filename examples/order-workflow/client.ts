/**
 * The order client: starts an order, approves it with the `approve` signal and prints the result. Uses the same
 * data converter as the worker, so it reads and writes the same encrypted payloads.
 *
 *   TEMPORAL_ENCRYPTION_KEY_default=base64:... \
 *     node --import tsx examples/order-workflow/client.ts [--fail-shipping]
 */
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  Client,
  Connection,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { DataConverter, TypedSearchAttributes } from '@temporalio/common';
import { loadOrderAppConfig, orderDataConverter } from './config.js';
import type { OrderInput, OrderResult } from './types.js';
import { approveSignal, orderWorkflow } from './workflows.js';

export interface OrderClient {
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

export async function connectOrderClient(options: {
  address: string;
  namespace?: string;
  dataConverter: DataConverter;
}): Promise<OrderClient> {
  const connection = await Connection.connect({ address: options.address });
  const client = new Client({
    connection,
    namespace: options.namespace ?? 'default',
    dataConverter: options.dataConverter,
  });
  return { client, connection, close: () => connection.close() };
}

/**
 * A sample order with personal data, a card token and about 3 KiB of notes (over the 1 KiB compression threshold).
 * Every secret carries a random part, so a test can search the stored history for it without false hits.
 */
export function sampleOrder(overrides: Partial<OrderInput> = {}): OrderInput {
  const tag = randomBytes(6).toString('hex');
  const note =
    'Leave the parcel with the concierge; ring twice, the bell on the left is broken. ' +
    'Fragile: glassware inside, keep upright and away from heat. Call before delivery if it rains. ';
  return {
    orderId: `order-${tag}`,
    customer: {
      name: `Ada Lovelace ${tag}`,
      email: `ada.${tag}@example.com`,
      address: `12 Analytical Engine Row, Flat ${tag}, London`,
    },
    cardToken: `tok_live_${randomBytes(12).toString('hex')}`,
    items: [
      { sku: 'GLS-001', name: 'Crystal decanter', quantity: 1, unitPriceCents: 8900 },
      { sku: 'GLS-014', name: 'Tumbler, set of 6', quantity: 2, unitPriceCents: 3450 },
    ],
    notes: `${note.repeat(16)}(ref ${tag})`,
    ...overrides,
  };
}

/** Starts the order workflow; the worker must poll `taskQueue`. */
export async function startOrder(
  client: Client,
  taskQueue: string,
  order: OrderInput,
  options: {
    workflowId?: string;
    memo?: Record<string, unknown>;
    typedSearchAttributes?: TypedSearchAttributes;
  } = {},
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof orderWorkflow>> {
  return client.workflow.start(orderWorkflow, {
    taskQueue,
    workflowId: options.workflowId ?? order.orderId,
    args: [order],
    ...(options.memo ? { memo: options.memo } : {}),
    ...(options.typedSearchAttributes ? { typedSearchAttributes: options.typedSearchAttributes } : {}),
  });
}

/** Sends the `approve` signal. */
export async function approveOrder(handle: WorkflowHandle, approvedBy: string, comment?: string): Promise<void> {
  await handle.signal(approveSignal, { approvedBy, ...(comment ? { comment } : {}) });
}

async function main(argv: string[]): Promise<number> {
  const config = loadOrderAppConfig();
  const { client, close } = await connectOrderClient({
    address: config.hostPort,
    namespace: config.namespace,
    dataConverter: orderDataConverter(config),
  });
  try {
    const order = sampleOrder({ simulateShippingFailure: argv.includes('--fail-shipping') });
    const handle = await startOrder(client, config.taskQueue, order);
    process.stdout.write(`started ${handle.workflowId} (run ${handle.firstExecutionRunId})\n`);
    await approveOrder(handle, 'order-desk');
    const result: OrderResult = await handle.result();
    process.stdout.write(`order ${result.orderId}: ${result.status}, tracking ${result.trackingNumber}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`order client: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  } finally {
    await close();
  }
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(realpathSync(entry)).href === import.meta.url;
}

if (isMainModule()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
