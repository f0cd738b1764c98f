import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Payload } from '@temporalio/common';
import { encryptionKeyIdOf, parsePayloadsJson, PayloadJsonError, payloadToJson } from '../index.js';
import { AnswerQueue } from './answer-queue.js';
import { ABORTED, checkBodyHeaders, lingerOnClose, readBody } from './body.js';
import type { ServerCodecs } from './codecs.js';
import { HttpError, payloadError } from './errors.js';
import type { RequestContext } from './logging.js';
import type { ServerMetrics } from './metrics.js';
import { formatSize } from './units.js';

export type CodecOperation = 'encode' | 'decode';

/**
 * Payload members this package does not model (see `UnknownFields` in payload-json.ts). `/decode` carries them: a
 * payload the codecs pass through comes back with them untouched, so a field Temporal adds later does not break the
 * Web UI; a payload the codecs decode is replaced by the inner payload from the protobuf, without the outer members.
 * `/encode` refuses them with a 400 naming the member: they have no place in the protobuf Payload it encrypts, and
 * dropping them silently would lose data the caller believes is stored.
 */
const PARSE_OPTIONS = {
  decode: { unknownFields: 'carry' },
  encode: { unknownFields: 'reject' },
} as const;

/**
 * The seam for per-namespace access control (a later issue): throw an {@link HttpError} (`unauthorized`,
 * `forbidden`) to refuse. Runs after CORS preflight and before the body is read.
 */
export type AuthorizeHook = (
  req: IncomingMessage,
  namespace: string,
  operation: CodecOperation,
) => void | Promise<void>;

/** The codecs for a namespace; undefined refuses the namespace (404). */
export type CodecsLookup = (namespace: string) => ServerCodecs | undefined;

export interface CodecHandlerOptions {
  bodyLimit: number;
  maxPayloads: number;
  maxDecodedBytes: number;
  codecsFor: CodecsLookup;
  authorize?: AuthorizeHook;
  metrics: ServerMetrics;
  /** Answers an error the same way the Express side does (body, status text, log fields). */
  fail: (req: IncomingMessage, res: ServerResponse, error: unknown) => void;
}

/**
 * The hot path: `POST <prefix>/encode` and `POST <prefix>/decode`, without Express. The body is read into Buffers
 * up to the limit, parsed with one `JSON.parse`, run through the codecs' synchronous per-payload methods and
 * written as one JSON text (see {@link payloadsJsonText}) with a Content-Length, together with the other answers
 * finished in the same turn of the event loop (see {@link AnswerQueue}).
 *
 * ```text
 * decode: payload --decryptPayload (if binary/encrypted)--> --decompressPayload (if binary/zlib)--> payload
 * encode: payload --compressPayload (threshold)--> --encryptPayload--> binary/encrypted
 * ```
 *
 * decompressPayload also opens the binary/encrypted payload inside a binary/zlib one (Go's `zlib(encrypted(x))`) with
 * the namespace's own encryption codec as its `innerDecoder`. The request's decoded-bytes budget is charged with what
 * each inflate produced when that is more than the payload that comes out, so a padded inner layer cannot make a
 * small request inflate without limit.
 */
export function createCodecHandler(options: CodecHandlerOptions) {
  const { bodyLimit, maxPayloads, maxDecodedBytes, codecsFor, authorize, metrics, fail } = options;
  const answers = new AnswerQueue();

  /** `namespace`: the request's (see `namespaceOf` in app.ts), never absent for a codec route. */
  return function handleCodec(req: IncomingMessage, res: ServerResponse, context: RequestContext, namespace: string): void {
    const operation = context.route.name as CodecOperation;
    context.fields.operation = operation;
    if (!authorize) return receive(req, res, context, operation, namespace);
    let pending: void | Promise<void>;
    try {
      pending = authorize(req, namespace, operation);
    } catch (error) {
      return refuse(req, res, error);
    }
    if (pending && typeof pending.then === 'function') {
      pending.then(
        () => receive(req, res, context, operation, namespace),
        (error: unknown) => refuse(req, res, error),
      );
    } else {
      receive(req, res, context, operation, namespace);
    }
  };

  /** An answer before the body was read: close the connection rather than read a body nobody wants. */
  function refuse(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (!res.headersSent) res.setHeader('Connection', 'close');
    lingerOnClose(req.socket);
    fail(req, res, error);
  }

  function receive(
    req: IncomingMessage,
    res: ServerResponse,
    context: RequestContext,
    operation: CodecOperation,
    namespace: string,
  ): void {
    const problem = checkBodyHeaders(req, bodyLimit);
    if (problem) return refuse(req, res, problem);
    readBody(req, bodyLimit, (error, body) => {
      if (error === ABORTED) return;
      if (error) return refuse(req, res, error);
      context.fields.bytesIn = body.length;
      answers.beforeWork(body.length);
      let json: string;
      try {
        json = transcode(body, operation, context, namespace);
      } catch (failure) {
        return fail(req, res, failure);
      }
      const length = Buffer.byteLength(json);
      context.fields.bytesOut = length;
      answers.send(res, json, length);
    });
  }

  function transcode(body: Buffer, operation: CodecOperation, context: RequestContext, namespace: string): string {
    if (body.length === 0) throw new HttpError('invalid_json', 'the request body is empty; send {"payloads": [...]}');
    let document: unknown;
    try {
      document = JSON.parse(body.toString('utf8'));
    } catch {
      // V8's message quotes the body, which may hold payload data: say only what is wrong.
      throw new HttpError('invalid_json', 'the request body is not valid JSON');
    }
    const list =
      typeof document === 'object' && document !== null ? (document as { payloads?: unknown }).payloads : undefined;
    if (!Array.isArray(list)) {
      throw new HttpError('invalid_payloads', 'expected an object of the form {"payloads": [...]}');
    }
    if (list.length > maxPayloads) {
      throw new HttpError(
        'too_many_payloads',
        `${list.length} payloads in one request; at most ${maxPayloads} are allowed (--max-payloads)`,
      );
    }
    let payloads: Payload[];
    try {
      payloads = parsePayloadsJson(document, PARSE_OPTIONS[operation]);
    } catch (error) {
      if (error instanceof PayloadJsonError) throw new HttpError('invalid_payloads', error.message);
      throw error;
    }
    context.fields.payloads = payloads.length;
    const codecs = codecsFor(namespace);
    if (!codecs) {
      throw new HttpError('unknown_namespace', `no codec is configured for namespace ${JSON.stringify(namespace)}`);
    }
    const byKey = new Map<string, number>();
    const out = operation === 'decode' ? decodeAll(payloads, codecs, byKey) : encodeAll(payloads, codecs, byKey);
    metrics.payloads(operation, namespace, byKey);
    context.fields.keyIds = [...byKey.keys()];
    return payloadsJsonText(out);
  }

  function decodeAll(payloads: Payload[], codecs: ServerCodecs, byKey: Map<string, number>): Payload[] {
    const { compression, encryption } = codecs;
    const out = new Array<Payload>(payloads.length);
    let decodedBytes = 0;
    let inflatedBytes = 0;
    let innerKeyId: string | undefined;
    const onInflated = (bytes: number, inflated: Payload): void => {
      inflatedBytes = bytes;
      // Go's zlib(encrypted(x)): the key id that opened it is the one inside, for the metrics and the request line.
      innerKeyId = encryption ? encryptionKeyIdOf(inflated) : undefined;
    };
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i]!;
      const keyId = encryption ? encryptionKeyIdOf(payload) : undefined;
      let decoded: Payload;
      inflatedBytes = 0;
      innerKeyId = undefined;
      try {
        decoded = compression.decompressPayload(encryption ? encryption.decryptPayload(payload) : payload, onInflated);
      } catch (error) {
        const failure = payloadError(error, i);
        if (!failure) throw error;
        metrics.decodeFailure(failure.code);
        throw failure;
      }
      // Each payload is capped by maxDecompressedBytes; this caps a request of many bombs just under that cap.
      decodedBytes += Math.max(sizeOf(decoded), inflatedBytes);
      if (decodedBytes > maxDecodedBytes) {
        throw new HttpError(
          'decoded_too_large',
          `the decoded payloads exceed ${formatSize(maxDecodedBytes)} in total (--max-decoded-bytes); ` +
            'send fewer payloads per request',
        );
      }
      const usedKeyId = keyId ?? innerKeyId;
      const label = usedKeyId === undefined ? 'none' : codecs.keyLabel(usedKeyId);
      byKey.set(label, (byKey.get(label) ?? 0) + 1);
      out[i] = decoded;
    }
    return out;
  }

  function encodeAll(payloads: Payload[], codecs: ServerCodecs, byKey: Map<string, number>): Payload[] {
    const { compression, encryption } = codecs;
    const out = new Array<Payload>(payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      const compressed = compression.compressPayload(payloads[i]!);
      out[i] = encryption ? encryption.encryptPayload(compressed) : compressed;
    }
    if (payloads.length > 0) byKey.set(encryption ? codecs.keyLabel(encryption.activeKeyId) : 'none', payloads.length);
    return out;
  }
}

function sizeOf(payload: Payload): number {
  let size = payload.data?.length ?? 0;
  if (payload.metadata) for (const key in payload.metadata) size += payload.metadata[key]?.length ?? 0;
  return size;
}

/**
 * `JSON.stringify(toPayloadsJson(payloads))`, built as text: base64 values (of `data` and `metadata`, made by
 * `payloadToJson` or checked against the base64 alphabet when read) are copied in as they are, since they never need
 * escaping; every other field and every metadata key goes through JSON.stringify. JSON.stringify would scan every
 * character of a 350 KB base64 string for escapes, about 1 ms per 256 KiB payload. The other fields of a payload
 * passed through as read (external payloads, members carried on /decode) are bounded in depth when read, so their
 * JSON.stringify cannot overflow the stack whatever the request body held.
 */
export function payloadsJsonText(payloads: readonly Payload[]): string {
  let text = '{"payloads":[';
  for (let i = 0; i < payloads.length; i++) {
    const json = payloadToJson(payloads[i]!) as Record<string, unknown>;
    text += i > 0 ? ',{' : '{';
    let first = true;
    for (const field in json) {
      const value = json[field];
      if (value === undefined) continue;
      text += first ? '' : ',';
      first = false;
      if (field === 'data' && typeof value === 'string') {
        text += `"data":"${value}"`;
      } else if (field === 'metadata' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
        text += '"metadata":{';
        let firstKey = true;
        for (const key in value) {
          const entry = (value as Record<string, unknown>)[key];
          if (entry === undefined) continue;
          text += `${firstKey ? '' : ','}${JSON.stringify(key)}:${typeof entry === 'string' ? `"${entry}"` : JSON.stringify(entry)}`;
          firstKey = false;
        }
        text += '}';
      } else {
        text += `${JSON.stringify(field)}:${JSON.stringify(value)}`;
      }
    }
    text += '}';
  }
  return `${text}]}`;
}
