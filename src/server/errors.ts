import type { ServerResponse } from 'node:http';
import { CodecError, type CodecErrorCode } from '../index.js';

/**
 * Every error the server answers with, its status and the reason phrase sent as the status text. The Web UI shows
 * only `response.statusText`, so the phrase says what went wrong, not just "Bad Request".
 */
const ERRORS = {
  invalid_json: [400, 'Bad Request: body is not valid JSON'],
  invalid_payloads: [400, 'Bad Request: invalid payloads'],
  too_many_payloads: [400, 'Bad Request: too many payloads'],
  bad_request: [400, 'Bad Request'],
  unauthorized: [401, 'Unauthorized'],
  forbidden: [403, 'Forbidden'],
  not_found: [404, 'Not Found'],
  unknown_namespace: [404, 'Not Found: no codec for this namespace'],
  download_not_supported: [404, 'Not Found: external storage downloads are not supported'],
  method_not_allowed: [405, 'Method Not Allowed'],
  request_timeout: [408, 'Request Timeout'],
  expectation_failed: [417, 'Expectation Failed'],
  body_too_large: [413, 'Payload Too Large: request body'],
  decoded_too_large: [413, 'Payload Too Large: decoded payloads'],
  unsupported_media_type: [415, 'Unsupported Media Type: send application/json'],
  headers_too_large: [431, 'Request Header Fields Too Large'],
  decryption_failed: [422, 'Unprocessable Entity: decryption failed'],
  decompression_failed: [422, 'Unprocessable Entity: decompression failed'],
  decompressed_too_large: [422, 'Unprocessable Entity: payload inflates past the limit'],
  internal: [500, 'Internal Server Error'],
  unavailable: [503, 'Service Unavailable'],
} as const satisfies Record<string, readonly [number, string]>;

/** The stable `code` of an error body. */
export type HttpErrorCode = keyof typeof ERRORS;

/** An error answered to the client as `{"error": {"code", "message"}}` with the status of its code. */
export class HttpError extends Error {
  readonly code: HttpErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. `Allow` for 405). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: HttpErrorCode, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(boundMessage(message), options);
    this.code = code;
    this.status = ERRORS[code][0];
    this.headers = options?.headers ?? {};
    this.name = 'HttpError';
  }

  /** The status text sent with this error. */
  get reason(): string {
    return ERRORS[this.code][1];
  }
}

/** Library codes of payloads that cannot be decoded: the client's data is at fault, so 422, never 5xx. */
const DECODE_FAILURES: Partial<Record<CodecErrorCode, HttpErrorCode>> = {
  ERR_DECRYPTION_FAILED: 'decryption_failed',
  ERR_DECOMPRESSION_FAILED: 'decompression_failed',
  ERR_DECOMPRESSED_TOO_LARGE: 'decompressed_too_large',
};

/** The HTTP error for a library error about payload `index`, or undefined when it is not the client's fault. */
export function payloadError(error: unknown, index: number): HttpError | undefined {
  if (!(error instanceof CodecError)) return undefined;
  const code = DECODE_FAILURES[error.code];
  return code ? new HttpError(code, `payloads[${index}]: ${error.message}`) : undefined;
}

/**
 * The client-facing form of any error: HttpErrors as they are; a 4xx raised by Node or Express (malformed URL and
 * the like) as a plain 4xx; anything else is a bug and becomes `internal`, its details kept for the log only.
 */
export function toHttpError(error: unknown, requestId: string): HttpError {
  if (error instanceof HttpError) return error;
  const carrier = error as { status?: unknown; statusCode?: unknown } | null;
  const status = carrier?.status ?? carrier?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code: HttpErrorCode =
      status === 413 ? 'body_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
    return new HttpError(code, status === 400 ? 'the request is malformed' : ERRORS[code][1], { cause: error });
  }
  return new HttpError('internal', `internal error (request id ${requestId})`, { cause: error });
}

/** The JSON body of an error. */
export function errorBody(code: HttpErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/**
 * Client-controlled text (field names, key ids) can reach a message; keep messages, and so bodies and log lines,
 * short whatever the request held.
 */
function boundMessage(message: string): string {
  return message.length > 400 ? `${message.slice(0, 400)}...` : message;
}

/** The reason phrase of a status, for responses that are not errors of this module. */
export function reasonOf(code: HttpErrorCode): string {
  return ERRORS[code][1];
}

/** Writes an error response unless one was already started; the status text is the error's reason. */
export function writeError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(error.code, error.message);
  res.statusCode = error.status;
  res.statusMessage = error.reason;
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
