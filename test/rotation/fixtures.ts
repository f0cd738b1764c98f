/**
 * Keys, payloads and a realistic history for the rotation tests. The history is fabricated in the proto3 JSON that
 * `temporal workflow show --output json` writes (camelCase fields, int64 as strings, bytes as base64, payload
 * shorthand off), with payloads everywhere a history can hold them.
 */
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { CompressionCodec } from '../../src/codecs/compression-codec.js';
import { EncryptionCodec } from '../../src/codecs/encryption-codec.js';
import { KeyRing } from '../../src/keys/key-ring.js';
import { payloadFromJson, payloadToJson, type PayloadJson } from '../../src/payload-json.js';
import type { ScanReport } from '../../src/rotation/scan-report.js';
import { walkPayloads } from '../../src/rotation/walk-payloads.js';
import { goPayload } from '../helpers/go-payloads.js';
import { testKey } from '../helpers/keys.js';
import { view } from '../helpers/payloads.js';

/** `old` is being retired, `new` is active, `gone` is a key nobody holds any more. */
export const KEYS = { old: testKey('rotation old'), new: testKey('rotation new'), gone: testKey('rotation gone') };

/** The environment of a CLI run that holds the old and the new key, with `new` active. */
export const CLI_ENV: Record<string, string> = {
  TEMPORAL_ENCRYPTION_KEY_old: `base64:${KEYS.old.toString('base64')}`,
  TEMPORAL_ENCRYPTION_KEY_new: `base64:${KEYS.new.toString('base64')}`,
  TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'new',
};

/** The `uninspected` counts of a document whose every binary/zlib payload could be opened: none. */
export const NONE_UNINSPECTED = { uninspected: 0, uninspectedByReason: { tooLarge: 0, notZlib: 0, nested: 0 } };

/** Every form in which key material could leak into output. */
/** A scan report's rows as [key id, verdict, payloads], in the report's order. */
export const verdictsOf = (report: ScanReport) => report.keys.map((key) => [key.keyId, key.verdict, key.payloads]);

/** A scan report's row of one key id. */
export const rowOf = (report: ScanReport, keyId: string) => report.keys.find((key) => key.keyId === keyId);

export const KEY_SECRETS = Object.values(KEYS).flatMap((key) => [key.toString('base64'), key.toString('hex')]);

/** A codec whose ring holds `old` and `new` (and, when asked, `gone`), with `activeKeyId` active. */
export function codecWith(activeKeyId: string, keyIds: ReadonlyArray<keyof typeof KEYS> = ['old', 'new']): EncryptionCodec {
  const keys = Object.fromEntries(keyIds.map((id) => [id, KEYS[id]]));
  return new EncryptionCodec({ keyRing: KeyRing.fromKeys(keys, activeKeyId), requireActiveKey: false });
}

const allKeys = codecWith('new', ['old', 'new', 'gone']);
const compressor = new CompressionCodec({ compressionThreshold: 0 });
/** Decodes as the library's codecs do: either nesting, ours `encrypted(zlib(x))` or Go's `zlib(encrypted(x))`. */
const decoder = new CompressionCodec({ innerDecoder: allKeys });

/** A json/plain payload of `value`, as Temporal's default converter makes it. */
export function plainPayload(value: unknown): Payload {
  return defaultPayloadConverter.toPayload(value);
}

/** `value` as the data converter writes it under `keyId`, in proto3 JSON; compressed first when `compress`. */
export function encrypted(keyId: keyof typeof KEYS, value: unknown, { compress = false } = {}): PayloadJson {
  let payload = plainPayload(value);
  if (compress) {
    payload = compressor.compressPayload(payload);
    if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== 'binary/zlib') throw new Error('fixture value does not compress');
  }
  return payloadToJson(codecWith(keyId, [keyId]).encryptPayload(payload));
}

/**
 * `value` as a Go worker with the Trenova codec writes it under `keyId` with a compression threshold of 0
 * (`NewCodecDataConverter(parent, zlib{AlwaysEncode: true}, encryption)`: encrypted first, then zlib-wrapped):
 * `binary/zlib` around `binary/encrypted`, built by hand with node:crypto and node:zlib, in proto3 JSON.
 */
export function goCompressed(keyId: keyof typeof KEYS, value: unknown): PayloadJson {
  return payloadToJson(goPayload(plainPayload(value), KEYS[keyId], keyId));
}

/** A json/plain payload of `value` in `binary/zlib` (no encryption), in proto3 JSON. */
export function compressedPlain(value: unknown): PayloadJson {
  const payload = compressor.compressPayload(plainPayload(value));
  if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== 'binary/zlib') throw new Error('fixture value does not compress');
  return payloadToJson(payload);
}

/** A plain json/plain payload in proto3 JSON. */
export function plain(value: unknown): PayloadJson {
  return payloadToJson(plainPayload(value));
}

/** A search attribute: json/plain with its `type` (never encoded by a codec: the server indexes it). */
export function searchAttribute(type: string, value: unknown): PayloadJson {
  const payload = plainPayload(value);
  payload.metadata!.type = Buffer.from(type);
  return payloadToJson(payload);
}

/** Another codec's output, which this package passes through untouched. */
export function foreign(): PayloadJson {
  return { metadata: { encoding: b64('binary/snappy') }, data: b64('\u0000opaque') };
}

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** What each payload of a document holds once fully decoded (decrypted, inflated), by path. */
export function decodedByPath(document: unknown): Record<string, ReturnType<typeof view>> {
  const decoded: Record<string, ReturnType<typeof view>> = {};
  walkPayloads(document, (node, path) => {
    decoded[path] = view(decoder.decompressPayload(allKeys.decryptPayload(payloadFromJson(node, path))));
  });
  return decoded;
}

/** The payload inside each encrypted payload's encryption (not inflated), by path. */
export function innerByPath(document: unknown): Record<string, ReturnType<typeof view>> {
  const inner: Record<string, ReturnType<typeof view>> = {};
  walkPayloads(document, (node, path) => {
    inner[path] = view(allKeys.decryptPayload(payloadFromJson(node, path)));
  });
  return inner;
}

/** The key id of every encrypted payload, by path (`undefined` for the others). */
export function keyIdsByPath(document: unknown): Record<string, string | undefined> {
  const ids: Record<string, string | undefined> = {};
  walkPayloads(document, (node, path) => {
    const encoding = Buffer.from(String(node.metadata.encoding), 'base64').toString();
    const keyId = node.metadata['encryption-key-id'];
    ids[path] = encoding === 'binary/encrypted' ? Buffer.from(String(keyId), 'base64').toString() : undefined;
  });
  return ids;
}

const RUN_ID = '0195a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b';
const TASK_QUEUE = { name: 'audit-queue', kind: 'TASK_QUEUE_KIND_NORMAL' };
const IDENTITY = '41822@worker-7f9c';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const LARGE_RESULT = { lines: Array.from({ length: 200 }, (_, i) => ({ sku: `SKU-${i % 7}`, quantity: i % 3, note: 'gift wrap' })) };

let eventId = 0;
function event(type: string, attributes: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  eventId++;
  const name = type
    .toLowerCase()
    .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return {
    eventId: String(eventId),
    eventTime: `2025-03-01T10:00:${String(eventId).padStart(2, '0')}.123456789Z`,
    eventType: `EVENT_TYPE_${type}`,
    taskId: String(1048576 + eventId),
    [`${name}EventAttributes`]: attributes,
    ...extra,
  };
}

/**
 * A history of an order workflow during a rotation: most payloads under `old`, a few already under `new`, plain
 * search attributes and a side-effect id, a `binary/null` result, another codec's payload, and a compressed result.
 */
export function realisticHistory(): { events: unknown[] } {
  eventId = 0;
  const encodedFailure = (keyId: keyof typeof KEYS, message: string, extra: Record<string, unknown>) => ({
    message: 'Encoded failure',
    source: 'TypeScriptSDK',
    encodedAttributes: encrypted(keyId, { message, stack_trace: `Error: ${message}\n    at chargeCard (activities.ts:42:11)` }),
    ...extra,
  });
  return {
    events: [
      event(
        'WORKFLOW_EXECUTION_STARTED',
        {
          workflowType: { name: 'orderWorkflow' },
          taskQueue: TASK_QUEUE,
          header: { fields: { '_tracer-data': encrypted('old', { traceparent: TRACEPARENT }) } },
          input: { payloads: [encrypted('old', { orderId: 'A-1001', total: 4200 }), encrypted('old', 'ada@example.com')] },
          workflowExecutionTimeout: '0s',
          workflowRunTimeout: '0s',
          workflowTaskTimeout: '10s',
          originalExecutionRunId: RUN_ID,
          identity: IDENTITY,
          firstExecutionRunId: RUN_ID,
          attempt: 1,
          memo: { fields: { customer: encrypted('old', { name: 'Ada Lovelace' }), 'risk-score': encrypted('new', 0.12) } },
          searchAttributes: {
            indexedFields: {
              CustomKeywordField: searchAttribute('Keyword', 'A-1001'),
              CustomIntField: searchAttribute('Int', 4200),
            },
          },
          workflowId: 'order-A-1001',
        },
        { userMetadata: { summary: encrypted('old', 'Order A-1001 for Ada') } },
      ),
      event('WORKFLOW_TASK_SCHEDULED', { taskQueue: TASK_QUEUE, startToCloseTimeout: '10s', attempt: 1 }),
      event('WORKFLOW_TASK_STARTED', { scheduledEventId: '2', identity: IDENTITY, requestId: 'b1f0', historySizeBytes: '2048' }),
      event('WORKFLOW_TASK_COMPLETED', {
        scheduledEventId: '2',
        startedEventId: '3',
        identity: IDENTITY,
        sdkMetadata: { langUsedFlags: [1, 2] },
        meteringMetadata: {},
      }),
      event('MARKER_RECORDED', {
        markerName: 'SideEffect',
        details: { data: { payloads: [encrypted('old', 0.7316)] }, 'side-effect-id': { payloads: [plain(1)] } },
        workflowTaskCompletedEventId: '4',
      }),
      event('ACTIVITY_TASK_SCHEDULED', {
        activityId: '1',
        activityType: { name: 'chargeCard' },
        taskQueue: TASK_QUEUE,
        header: { fields: { '_tracer-data': encrypted('old', { traceparent: '00-aa-bb-01' }) } },
        input: { payloads: [encrypted('old', { card: '4111 1111 1111 1111', amount: 4200 })] },
        scheduleToCloseTimeout: '0s',
        scheduleToStartTimeout: '0s',
        startToCloseTimeout: '60s',
        heartbeatTimeout: '0s',
        workflowTaskCompletedEventId: '4',
        retryPolicy: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '100s', maximumAttempts: 2 },
      }),
      event('ACTIVITY_TASK_STARTED', {
        scheduledEventId: '6',
        identity: IDENTITY,
        requestId: 'c2e1',
        attempt: 2,
        lastFailure: encodedFailure('old', 'card declined (attempt 1)', {
          applicationFailureInfo: { type: 'CardDeclined', details: { payloads: [encrypted('old', { code: '51' })] } },
        }),
      }),
      event('ACTIVITY_TASK_FAILED', {
        failure: encodedFailure('old', 'card declined', {
          cause: encodedFailure('old', 'gateway error', {
            cause: encodedFailure('new', 'socket hang up', {
              applicationFailureInfo: { type: 'SocketError', details: { payloads: [encrypted('old', { errno: -104 })] } },
            }),
            applicationFailureInfo: { type: 'GatewayError' },
          }),
          applicationFailureInfo: { type: 'CardDeclined', nonRetryable: true, details: { payloads: [encrypted('old', { code: '51' })] } },
        }),
        scheduledEventId: '6',
        startedEventId: '7',
        identity: IDENTITY,
        retryState: 'RETRY_STATE_NON_RETRYABLE_FAILURE',
      }),
      event('WORKFLOW_EXECUTION_SIGNALED', {
        signalName: 'approve',
        input: { payloads: [encrypted('old', { approvedBy: 'alice', comment: 'manual review ok' })] },
        identity: 'temporal-cli:alice@laptop',
        header: { fields: { '_tracer-data': encrypted('old', { traceparent: '00-cc-dd-01' }) } },
      }),
      event('ACTIVITY_TASK_SCHEDULED', {
        activityId: '2',
        activityType: { name: 'reserveStock' },
        taskQueue: TASK_QUEUE,
        input: { payloads: [encrypted('old', { orderId: 'A-1001' })] },
        heartbeatTimeout: '5s',
        workflowTaskCompletedEventId: '4',
      }),
      event('ACTIVITY_TASK_TIMED_OUT', {
        failure: {
          message: 'activity Heartbeat timeout',
          source: 'Server',
          timeoutFailureInfo: {
            timeoutType: 'TIMEOUT_TYPE_HEARTBEAT',
            lastHeartbeatDetails: { payloads: [encrypted('old', { reserved: 17, of: 40 })] },
          },
        },
        scheduledEventId: '10',
        startedEventId: '0',
        retryState: 'RETRY_STATE_TIMEOUT',
      }),
      event('ACTIVITY_TASK_COMPLETED', {
        result: { payloads: [encrypted('old', LARGE_RESULT, { compress: true })] },
        scheduledEventId: '10',
        startedEventId: '11',
        identity: IDENTITY,
      }),
      event('UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', {
        workflowTaskCompletedEventId: '4',
        searchAttributes: { indexedFields: { OrderStatus: searchAttribute('Keyword', 'shipped') } },
      }),
      event('WORKFLOW_PROPERTIES_MODIFIED', {
        workflowTaskCompletedEventId: '4',
        upsertedMemo: { fields: { status: encrypted('old', 'shipped') } },
      }),
      event('START_CHILD_WORKFLOW_EXECUTION_INITIATED', {
        namespace: 'default',
        workflowId: 'invoice-A-1001',
        workflowType: { name: 'invoiceWorkflow' },
        taskQueue: TASK_QUEUE,
        input: { payloads: [encrypted('old', { orderId: 'A-1001' })] },
        memo: { fields: { parent: encrypted('old', 'order-A-1001') } },
        header: { fields: {} },
      }),
      event('CHILD_WORKFLOW_EXECUTION_FAILED', {
        failure: {
          ...encodedFailure('old', 'child workflow failed', {}),
          cause: encodedFailure('old', 'invoice rejected', {
            applicationFailureInfo: { type: 'InvoiceRejected', details: { payloads: [encrypted('old', ['VAT number DE999999999'])] } },
          }),
          childWorkflowExecutionFailureInfo: {
            namespace: 'default',
            workflowExecution: { workflowId: 'invoice-A-1001', runId: RUN_ID },
            workflowType: { name: 'invoiceWorkflow' },
            retryState: 'RETRY_STATE_RETRY_POLICY_NOT_SET',
          },
        },
        workflowType: { name: 'invoiceWorkflow' },
      }),
      event('WORKFLOW_EXECUTION_UPDATE_ACCEPTED', {
        protocolInstanceId: 'u1',
        acceptedRequestMessageId: 'u1/request',
        acceptedRequest: {
          meta: { updateId: 'u1', identity: IDENTITY },
          input: { header: { fields: {} }, name: 'setAddress', args: { payloads: [encrypted('old', { street: '1 Main St' })] } },
        },
      }),
      event('WORKFLOW_EXECUTION_UPDATE_COMPLETED', {
        meta: { updateId: 'u1' },
        acceptedEventId: '17',
        outcome: { success: { payloads: [encrypted('old', { ok: true })] } },
      }),
      event('MARKER_RECORDED', {
        markerName: 'ThirdPartyCodecMarker',
        details: { blob: { payloads: [foreign()] } },
        workflowTaskCompletedEventId: '4',
      }),
      event('WORKFLOW_EXECUTION_COMPLETED', {
        result: { payloads: [encrypted('old', { status: 'shipped', total: 4200 }), payloadToJson(plainPayload(undefined))] },
        workflowTaskCompletedEventId: '4',
      }),
    ],
  };
}

/** Every payload path of {@link realisticHistory}, in document order, written out by hand. */
export const REALISTIC_HISTORY_PATHS = [
  'events[0].workflowExecutionStartedEventAttributes.header.fields["_tracer-data"]',
  'events[0].workflowExecutionStartedEventAttributes.input.payloads[0]',
  'events[0].workflowExecutionStartedEventAttributes.input.payloads[1]',
  'events[0].workflowExecutionStartedEventAttributes.memo.fields.customer',
  'events[0].workflowExecutionStartedEventAttributes.memo.fields["risk-score"]',
  'events[0].workflowExecutionStartedEventAttributes.searchAttributes.indexedFields.CustomKeywordField',
  'events[0].workflowExecutionStartedEventAttributes.searchAttributes.indexedFields.CustomIntField',
  'events[0].userMetadata.summary',
  'events[4].markerRecordedEventAttributes.details.data.payloads[0]',
  'events[4].markerRecordedEventAttributes.details["side-effect-id"].payloads[0]',
  'events[5].activityTaskScheduledEventAttributes.header.fields["_tracer-data"]',
  'events[5].activityTaskScheduledEventAttributes.input.payloads[0]',
  'events[6].activityTaskStartedEventAttributes.lastFailure.encodedAttributes',
  'events[6].activityTaskStartedEventAttributes.lastFailure.applicationFailureInfo.details.payloads[0]',
  'events[7].activityTaskFailedEventAttributes.failure.encodedAttributes',
  'events[7].activityTaskFailedEventAttributes.failure.cause.encodedAttributes',
  'events[7].activityTaskFailedEventAttributes.failure.cause.cause.encodedAttributes',
  'events[7].activityTaskFailedEventAttributes.failure.cause.cause.applicationFailureInfo.details.payloads[0]',
  'events[7].activityTaskFailedEventAttributes.failure.applicationFailureInfo.details.payloads[0]',
  'events[8].workflowExecutionSignaledEventAttributes.input.payloads[0]',
  'events[8].workflowExecutionSignaledEventAttributes.header.fields["_tracer-data"]',
  'events[9].activityTaskScheduledEventAttributes.input.payloads[0]',
  'events[10].activityTaskTimedOutEventAttributes.failure.timeoutFailureInfo.lastHeartbeatDetails.payloads[0]',
  'events[11].activityTaskCompletedEventAttributes.result.payloads[0]',
  'events[12].upsertWorkflowSearchAttributesEventAttributes.searchAttributes.indexedFields.OrderStatus',
  'events[13].workflowPropertiesModifiedEventAttributes.upsertedMemo.fields.status',
  'events[14].startChildWorkflowExecutionInitiatedEventAttributes.input.payloads[0]',
  'events[14].startChildWorkflowExecutionInitiatedEventAttributes.memo.fields.parent',
  'events[15].childWorkflowExecutionFailedEventAttributes.failure.encodedAttributes',
  'events[15].childWorkflowExecutionFailedEventAttributes.failure.cause.encodedAttributes',
  'events[15].childWorkflowExecutionFailedEventAttributes.failure.cause.applicationFailureInfo.details.payloads[0]',
  'events[16].workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest.input.args.payloads[0]',
  'events[17].workflowExecutionUpdateCompletedEventAttributes.outcome.success.payloads[0]',
  'events[18].markerRecordedEventAttributes.details.blob.payloads[0]',
  'events[19].workflowExecutionCompletedEventAttributes.result.payloads[0]',
  'events[19].workflowExecutionCompletedEventAttributes.result.payloads[1]',
];

/** Plaintext values in {@link realisticHistory} that must never appear outside an encryption. */
export const HISTORY_SECRETS = [
  'ada@example.com',
  'Ada Lovelace',
  '4111 1111 1111 1111',
  'manual review ok',
  '1 Main St',
  'VAT number DE999999999',
];
