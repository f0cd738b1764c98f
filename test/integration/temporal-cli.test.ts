/**
 * The Temporal CLI with `--codec-endpoint` pointed at the codec server: it shows decoded histories, and what it sends
 * (workflow input, signal arguments) is encoded through /encode, stored encrypted, and read by the worker.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  approveOrder,
  connectOrderClient,
  type OrderClient,
  sampleOrder,
  startOrder,
} from '../../examples/order-workflow/client.js';
import type { OrderInput, OrderResult } from '../../examples/order-workflow/types.js';
import {
  createDataConverter,
  ENCODING_ENCRYPTED,
  ENCODING_ZLIB,
  EncryptionCodec,
  loadKeyRing,
} from '../../src/index.js';
import {
  type CodecServer,
  describeWithTools,
  type DevServer,
  makeTestKeys,
  SETUP_TIMEOUT_MS,
  startCodecServer,
  startDevServer,
  startOrderWorker,
  temporal,
  testProcessGroup,
} from './harness.js';
import { b64, eventsOfType, fetchRawHistory, findPayloads, findSecret, metadataText, toPayload } from './history.js';

describeWithTools('the Temporal CLI with --codec-endpoint', ['temporal'], (tools) => {
  const group = testProcessGroup('temporal-cli');
  const keys = makeTestKeys();
  const taskQueue = `order-queue-${randomBytes(3).toString('hex')}`;
  let server: DevServer;
  let codec: CodecServer;
  let orders: OrderClient;
  const shown = { order: sampleOrder(), workflowId: '', result: undefined as OrderResult | undefined };
  const failed = { order: sampleOrder({ simulateShippingFailure: true }), workflowId: '' };

  const cli = (args: readonly string[]) => temporal(tools.temporal, server.address, args);
  const withCodec = (args: readonly string[]) => cli([...args, '--codec-endpoint', codec.url]);

  beforeAll(async () => {
    // The codec server starts while the dev server and then the worker (bundling its workflows) do.
    [codec, server] = await Promise.all([
      startCodecServer(group, { env: keys.env }),
      startDevServer(group, tools.temporal, { headless: true }).then(async (started) => {
        await startOrderWorker(group, { address: started.address, taskQueue, env: keys.env });
        return started;
      }),
    ]);
    orders = await connectOrderClient({
      address: server.address,
      dataConverter: createDataConverter({ encryptionKeyID: keys.keyId, env: keys.env }),
    });
    group.defer(() => orders.close());

    const handle = await startOrder(orders.client, taskQueue, shown.order);
    const failing = await startOrder(orders.client, taskQueue, failed.order);
    await approveOrder(handle, 'order-desk');
    await approveOrder(failing, 'order-desk');
    shown.workflowId = handle.workflowId;
    shown.result = await handle.result();
    failed.workflowId = failing.workflowId;
    await failing.result().catch(() => undefined);
  }, SETUP_TIMEOUT_MS);

  afterAll(() => group.stopAll());

  test('workflow show --codec-endpoint prints the decoded result; without it, no personal data', async () => {
    const decoded = await withCodec(['workflow', 'show', '-w', shown.workflowId]);
    expect(decoded.code, decoded.stderr).toBe(0);
    const resultLine = decoded.stdout.split('\n').find((line) => /^\s*Result\s+\{/.test(line));
    expect(resultLine, decoded.stdout).toBeDefined();
    expect(JSON.parse(resultLine!.replace(/^\s*Result\s+/, ''))).toEqual(shown.result);
    expect(decoded.stdout).toMatch(/ResultEncoding\s+json\/plain/);

    const plain = await cli(['workflow', 'show', '-w', shown.workflowId]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).not.toContain(shown.order.customer.name);
    expect(plain.stdout).toMatch(/ResultEncoding\s+binary\/encrypted/);
  });

  test('workflow show --codec-endpoint --output json holds the decoded input and result payloads', async () => {
    const shownJson = await withCodec(['workflow', 'show', '-w', shown.workflowId, '--output', 'json']);
    expect(shownJson.code, shownJson.stderr).toBe(0);
    const history = JSON.parse(shownJson.stdout) as { events: unknown[] };
    const [started] = eventsOfType(history, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    const [completed] = eventsOfType(history, 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
    expect(jsonValueOf(findPayloads(started)[0])).toEqual(shown.order);
    expect(jsonValueOf(findPayloads(completed)[0])).toEqual(shown.result);
    // Every payload the CLI shows is decoded: nothing is left encrypted or compressed.
    for (const found of findPayloads(history)) {
      expect([b64('json/plain'), b64('binary/null')]).toContain(found.metadata.encoding);
    }
  });

  test('workflow show --detailed --codec-endpoint decodes failure messages from encrypted attributes', async () => {
    const decoded = await withCodec(['workflow', 'show', '-w', failed.workflowId, '--detailed']);
    expect(decoded.code, decoded.stderr).toBe(0);
    expect(decoded.stdout).toMatch(
      new RegExp(
        `failure\\.encodedAttributes\\.message: order ${failed.order.orderId} could not be shipped; ` +
          `refund re_\\w+ issued to card ${failed.order.cardToken}`,
      ),
    );
    expect(decoded.stdout).toContain(
      `failure.cause.cause.encodedAttributes.message: carrier rejected the parcel for ${failed.order.customer.email}`,
    );
    // The summary shows what the server stores.
    expect(decoded.stdout).toMatch(/Failure\s+Message: Encoded failure/);

    const plain = await cli(['workflow', 'show', '-w', failed.workflowId, '--detailed']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('failure.message: Encoded failure');
    for (const secret of [failed.order.cardToken, failed.order.customer.email, 'could not be shipped']) {
      expect(plain.stdout).not.toContain(secret);
    }
  });

  test('workflow start and signal --codec-endpoint encode through /encode; the worker reads the values', async () => {
    const order: OrderInput = sampleOrder();
    const workflowId = `cli-${order.orderId}`;
    const started = await withCodec([
      'workflow', 'start', '--task-queue', taskQueue, '--type', 'orderWorkflow', '-w', workflowId,
      '--input', JSON.stringify(order),
    ]);
    expect(started.code, started.stderr).toBe(0);
    const signaled = await withCodec([
      'workflow', 'signal', '-w', workflowId, '--name', 'approve', '--input', '{"approvedBy":"cli-approver"}',
    ]);
    expect(signaled.code, signaled.stderr).toBe(0);

    // The SDK client (same keys) reads the result the worker computed from the CLI's input.
    const result = (await orders.client.workflow.getHandle(workflowId).result()) as OrderResult;
    expect(result).toMatchObject({
      orderId: order.orderId,
      status: 'shipped',
      customerName: order.customer.name,
      shippedTo: order.customer.address,
      approvedBy: 'cli-approver',
      itemCount: 3,
      notesLength: order.notes.length,
    });

    // What the CLI sent is stored encrypted under the active key, the large input compressed first.
    const raw = await fetchRawHistory(orders.client, workflowId);
    const [startedEvent] = eventsOfType(raw.json, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    const [signalEvent] = eventsOfType(raw.json, 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    const encrypted = { encoding: b64(ENCODING_ENCRYPTED), 'encryption-key-id': b64(keys.keyId) };
    const input = findPayloads(startedEvent)[0]!;
    const signal = findPayloads(signalEvent)[0]!;
    expect(input.metadata).toEqual(encrypted);
    expect(signal.metadata).toEqual(encrypted);
    for (const secret of [order.cardToken, order.customer.email, 'cli-approver']) {
      expect(findSecret(raw, secret)).toEqual([]);
    }
    const encryption = new EncryptionCodec({ keyRing: loadKeyRing({ env: keys.env, encryptionKeyID: keys.keyId }) });
    const [inner] = await encryption.decode([toPayload(input)]);
    expect(metadataText(inner!, 'encoding')).toBe(ENCODING_ZLIB);
  });
});

/** The JSON value of a decoded `json/plain` payload. */
function jsonValueOf(found: { metadata: Record<string, string>; data?: string | undefined } | undefined): unknown {
  expect(found?.metadata.encoding).toBe(b64('json/plain'));
  return JSON.parse(Buffer.from(found!.data ?? '', 'base64').toString('utf8'));
}
