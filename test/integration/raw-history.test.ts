/**
 * What the Temporal server stores: the sample worker and client run against a real dev server with the package's
 * data converter, and the history is then read WITHOUT any codec (raw gRPC and `temporal workflow show` with no
 * codec endpoint) to prove that no payload, failure message or stack trace is readable there.
 */
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import {
  ApplicationFailure,
  defineSearchAttributeKey,
  type Payload,
  SearchAttributeType,
  TypedSearchAttributes,
} from '@temporalio/common';
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
  createPayloadCodecs,
  EncryptionCodec,
  ENCODING_ENCRYPTED,
  ENCODING_ZLIB,
  loadKeyRing,
} from '../../src/index.js';
import {
  describeWithTools,
  type DevServer,
  makeTestKeys,
  SETUP_TIMEOUT_MS,
  testProcessGroup,
  startDevServer,
  startOrderWorker,
  temporal,
} from './harness.js';
import {
  b64,
  eventsOfType,
  fetchRawHistory,
  findPayloads,
  findSecret,
  isSearchAttribute,
  metadataText,
  type RawHistory,
  toPayload,
} from './history.js';

const ORDER_ID_ATTRIBUTE = defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD);

describeWithTools('raw history in a real Temporal server', ['temporal'], (tools) => {
  const group = testProcessGroup('raw-history');
  const keys = makeTestKeys();
  const taskQueue = `order-queue-${randomBytes(3).toString('hex')}`;
  let server: DevServer;
  let orders: OrderClient;

  const shipped: { order: OrderInput; handle?: WorkflowHandle; result?: OrderResult; history?: RawHistory } = {
    order: sampleOrder(),
  };
  const failed: { order: OrderInput; handle?: WorkflowHandle; error?: unknown; history?: RawHistory } = {
    order: sampleOrder({ simulateShippingFailure: true }),
  };

  const secretsOf = (order: OrderInput): Record<string, string> => ({
    'card token': order.cardToken,
    'customer email': order.customer.email,
    'customer address': order.customer.address,
    'customer name': order.customer.name,
    notes: order.notes.slice(0, 60),
  });

  beforeAll(async () => {
    server = await startDevServer(group, tools.temporal, { headless: true, searchAttributes: { OrderId: 'Keyword' } });
    await startOrderWorker(group, { address: server.address, taskQueue, env: keys.env });
    orders = await connectOrderClient({
      address: server.address,
      dataConverter: createDataConverter({ encryptionKeyID: keys.keyId, env: keys.env }),
    });
    group.defer(() => orders.close());

    const typedSearchAttributes = (orderId: string): TypedSearchAttributes =>
      new TypedSearchAttributes([{ key: ORDER_ID_ATTRIBUTE, value: orderId }]);

    shipped.handle = await startOrder(orders.client, taskQueue, shipped.order, {
      memo: { placedBy: shipped.order.customer.email },
      typedSearchAttributes: typedSearchAttributes(shipped.order.orderId),
    });
    failed.handle = await startOrder(orders.client, taskQueue, failed.order, {
      typedSearchAttributes: typedSearchAttributes(failed.order.orderId),
    });
    await approveOrder(shipped.handle, 'order-desk', `approved for ${shipped.order.customer.email}`);
    await approveOrder(failed.handle, 'order-desk');
    shipped.result = (await shipped.handle.result()) as OrderResult;
    failed.error = await failed.handle.result().then(
      () => undefined,
      (error: unknown) => error,
    );
    shipped.history = await fetchRawHistory(orders.client, shipped.handle.workflowId);
    failed.history = await fetchRawHistory(orders.client, failed.handle.workflowId);
  }, SETUP_TIMEOUT_MS);

  afterAll(() => group.stopAll());

  test('the worker and client round-trip the order through the encrypted payloads', () => {
    expect(shipped.result).toMatchObject({
      orderId: shipped.order.orderId,
      status: 'shipped',
      customerName: shipped.order.customer.name,
      shippedTo: shipped.order.customer.address,
      approvedBy: 'order-desk',
      itemCount: 3,
      totalCents: 8900 + 2 * 3450,
      notesLength: shipped.order.notes.length,
    });
    expect(shipped.result?.trackingNumber).toMatch(/^1Z[0-9A-F]{16}$/);
  });

  test('a failed shipment is refunded and the client decodes the real failure message', () => {
    expect(failed.error).toBeInstanceOf(WorkflowFailedError);
    const cause = (failed.error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('OrderShippingFailed');
    expect(cause?.message).toContain(failed.order.cardToken);
    expect(cause?.message).toMatch(/refund re_\w+ issued/);
    // The activity's failure, decoded back from its encrypted attributes, names the customer.
    const activityCause = (cause?.cause as Error | undefined)?.cause as Error | undefined;
    expect(activityCause?.message).toBe(
      `carrier rejected the parcel for ${failed.order.customer.email} at ${failed.order.customer.address}`,
    );
  });

  test('every stored payload but search attributes is binary/encrypted under the active key id', () => {
    for (const history of [shipped.history!, failed.history!]) {
      const payloads = history.payloads;
      const searchAttributes = payloads.filter(isSearchAttribute);
      const others = payloads.filter((found) => !isSearchAttribute(found));
      // Input, memo, signal, activity inputs and results, workflow result or failure attributes at least.
      expect(others.length).toBeGreaterThanOrEqual(7);
      expect(searchAttributes.length).toBeGreaterThanOrEqual(1);
      for (const found of others) {
        expect({ path: found.path, metadata: found.metadata }).toEqual({
          path: found.path,
          metadata: { encoding: b64(ENCODING_ENCRYPTED), 'encryption-key-id': b64(keys.keyId) },
        });
      }
    }
    const paths = shipped.history!.payloads.map((found) => found.path.replace(/^events\[\d+\]\./, ''));
    expect(paths).toEqual(
      expect.arrayContaining([
        'workflowExecutionStartedEventAttributes.input.payloads[0]',
        'workflowExecutionStartedEventAttributes.memo.fields.placedBy',
        'workflowExecutionSignaledEventAttributes.input.payloads[0]',
        'activityTaskScheduledEventAttributes.input.payloads[0]',
        'activityTaskCompletedEventAttributes.result.payloads[0]',
        'workflowExecutionCompletedEventAttributes.result.payloads[0]',
      ]),
    );
  });

  test('no card token, personal data or failure message is readable anywhere in the stored history', () => {
    for (const [history, order] of [
      [shipped.history!, shipped.order],
      [failed.history!, failed.order],
    ] as const) {
      for (const [what, secret] of Object.entries(secretsOf(order))) {
        expect({ what, hits: findSecret(history, secret) }).toEqual({ what, hits: [] });
      }
    }
    for (const text of ['carrier rejected', 'could not be shipped', 'approved for']) {
      expect(shipped.history!.text + failed.history!.text).not.toContain(text);
    }
  });

  test('temporal workflow show without a codec endpoint prints only ciphertext', async () => {
    for (const [handle, order] of [
      [shipped.handle!, shipped.order],
      [failed.handle!, failed.order],
    ] as const) {
      const show = ['workflow', 'show', '-w', handle.workflowId];
      const json = await temporal(tools.temporal, server.address, [...show, '--output', 'json']);
      const text = await temporal(tools.temporal, server.address, [...show, '--detailed']);
      expect(json.code, json.stderr).toBe(0);
      expect(text.code, text.stderr).toBe(0);
      const payloads = findPayloads(JSON.parse(json.stdout)).filter((found) => !isSearchAttribute(found));
      expect(payloads.length).toBeGreaterThanOrEqual(7);
      for (const found of payloads) expect(found.metadata.encoding).toBe(b64(ENCODING_ENCRYPTED));
      for (const secret of Object.values(secretsOf(order))) {
        expect(findSecret({ text: json.stdout, payloads }, secret)).toEqual([]);
        expect(text.stdout).not.toContain(secret);
      }
    }
  });

  test('the large input was compressed before it was encrypted; small payloads were not compressed', async () => {
    const encryption = new EncryptionCodec({ keyRing: loadKeyRing({ env: keys.env, encryptionKeyID: keys.keyId }) });
    const [started] = eventsOfType(shipped.history!.json, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    const input = findPayloads(started)[0]!;
    const [decrypted] = await encryption.decode([toPayload(input)]);
    expect(metadataText(decrypted!, 'encoding')).toBe(ENCODING_ZLIB);
    expect(Buffer.from(decrypted!.data!).includes(shipped.order.cardToken)).toBe(false);
    expect(decrypted!.data!.length).toBeLessThan(shipped.order.notes.length);

    const [decoded] = await fullDecode(keys, [toPayload(input)]);
    expect(metadataText(decoded!, 'encoding')).toBe('json/plain');
    expect(JSON.parse(Buffer.from(decoded!.data!).toString('utf8'))).toEqual(shipped.order);

    const [signaled] = eventsOfType(shipped.history!.json, 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    const [signal] = await encryption.decode([toPayload(findPayloads(signaled)[0]!)]);
    expect(metadataText(signal!, 'encoding')).toBe('json/plain');
    expect(JSON.parse(Buffer.from(signal!.data!).toString('utf8'))).toEqual({
      approvedBy: 'order-desk',
      comment: `approved for ${shipped.order.customer.email}`,
    });
  });

  test('failure messages and stack traces are stored as "Encoded failure" with encrypted attributes', async () => {
    const history = failed.history!;
    const failures = [
      ...eventsOfType(history.json, 'EVENT_TYPE_ACTIVITY_TASK_FAILED').map(
        (event) => (event.activityTaskFailedEventAttributes as { failure: StoredFailure }).failure,
      ),
      ...eventsOfType(history.json, 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED').map(
        (event) => (event.workflowExecutionFailedEventAttributes as { failure: StoredFailure }).failure,
      ),
    ];
    expect(failures).toHaveLength(2);
    const messages: string[] = [];
    for (let failure: StoredFailure | undefined = failures[1]; failure; failure = failure.cause) {
      expect(failure.message).toBe('Encoded failure');
      expect(failure.stackTrace ?? '').toBe('');
      expect(failure.encodedAttributes?.metadata).toEqual({
        encoding: b64(ENCODING_ENCRYPTED),
        'encryption-key-id': b64(keys.keyId),
      });
      const [attributes] = await fullDecode(keys, [toPayload(failure.encodedAttributes!)]);
      messages.push((JSON.parse(Buffer.from(attributes!.data!).toString('utf8')) as { message: string }).message);
    }
    expect(failures[0]!.message).toBe('Encoded failure');
    // Workflow failure -> ActivityFailure -> the activity's ApplicationFailure: each message was really there.
    expect(messages[0]).toContain(failed.order.cardToken);
    expect(messages.at(-1)).toContain(failed.order.customer.email);
  });
});

interface StoredFailure {
  message?: string;
  stackTrace?: string;
  encodedAttributes?: { metadata: Record<string, string>; data?: string };
  cause?: StoredFailure;
}

function fullDecode(keys: { keyId: string; env: Record<string, string> }, payloads: Payload[]): Promise<Payload[]> {
  // Decode runs the codecs last to first, as the SDK does.
  const codecs = createPayloadCodecs({ encryptionKeyID: keys.keyId, env: keys.env });
  return codecs.reduceRight(async (acc, codec) => codec.decode(await acc), Promise.resolve(payloads));
}
