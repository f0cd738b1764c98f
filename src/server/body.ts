import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HttpError } from './errors.js';
import { formatSize } from './units.js';

/**
 * What is wrong with a codec request's headers before its body is read, or undefined: the encoding and media type
 * (JSON, UTF-8) and a declared length over the limit, which is refused without reading a byte of the body.
 */
export function checkBodyHeaders(req: IncomingMessage, limit: number): HttpError | undefined {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return new HttpError(
      'unsupported_media_type',
      `Content-Encoding "${encoding.slice(0, 40)}" is not supported; send the body uncompressed`,
    );
  }
  const contentType = req.headers['content-type'];
  const problem = contentTypeProblem(contentType);
  if (problem) return new HttpError('unsupported_media_type', problem);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return new HttpError(
      'body_too_large',
      `the request body is ${declared} bytes; the limit is ${formatSize(limit)} (--body-limit)`,
    );
  }
  return undefined;
}

/** Why a Content-Type is not `application/json` (a UTF-8 `charset` parameter allowed), or undefined. */
export function contentTypeProblem(header: string | undefined): string | undefined {
  // What the Web UI, the CLI and the Go SDK send: skip the parsing below.
  if (header === 'application/json') return undefined;
  if (header === undefined || header.trim() === '') {
    return 'Content-Type must be application/json; the request has none';
  }
  const parts = header.split(';');
  const type = parts[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    return `Content-Type must be application/json, not "${type.slice(0, 60)}"`;
  }
  for (const parameter of parts.slice(1)) {
    const eq = parameter.indexOf('=');
    const name = parameter.slice(0, eq === -1 ? undefined : eq).trim().toLowerCase();
    if (name !== 'charset') continue;
    const value = parameter.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (value !== 'utf-8' && value !== 'utf8') {
      return `charset "${value.slice(0, 40)}" is not supported; JSON is UTF-8`;
    }
  }
  return undefined;
}

/** The client went away before the body ended: there is no one to answer. */
export const ABORTED = new Error('request aborted');

/**
 * Reads a request body into one Buffer, stopping at `limit` bytes whatever Content-Length claimed (chunked bodies
 * have none, and a client can lie). On overflow the rest is left unread; the caller answers with
 * `Connection: close` so Node drops the connection instead of reading on.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  done: (error: Error | undefined, body: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (error: Error | undefined): void => {
    if (settled) return;
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onAbort);
    req.off('close', onAbort);
    done(error, error ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      // Flowing with no listener: the rest of the body is discarded as it arrives, never buffered.
      req.off('data', onData);
      req.resume();
      settle(new HttpError('body_too_large', `the request body is larger than ${formatSize(limit)} (--body-limit)`));
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = (): void => settle(undefined);
  const onAbort = (): void => settle(ABORTED);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onAbort);
  req.on('close', onAbort);
}

const EMPTY = Buffer.alloc(0);

/** How long a connection refused mid-body keeps reading after the response (Go's net/http waits 500 ms too). */
const LINGER_MS = 500;

/**
 * Makes the connection close gracefully after an answer sent before the client finished its body (413, 415, 401).
 * Node would close the socket as soon as the response is written; bytes the client is still sending would then hit
 * a closed socket, and the kernel's RST could discard the response before the client reads it. Instead, send FIN,
 * keep reading and discarding for a moment, then close.
 */
export function lingerOnClose(socket: Socket): void {
  socket.destroySoon = function lingeringDestroySoon(this: Socket): void {
    if (this.writable) this.end();
    const close = (): void => {
      setTimeout(() => this.destroy(), LINGER_MS).unref();
    };
    if (this.writableFinished) close();
    else this.once('finish', close);
    this.resume();
  };
}
