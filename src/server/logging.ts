import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { RouteMatch } from './routes.js';

/** Request headers that carry credentials: a request line shows that they were sent, never their values. */
export const CREDENTIAL_HEADERS = ['authorization', 'authorization-extras', 'proxy-authorization', 'cookie'] as const;

/**
 * The other request headers a request line shows: who called, from where, and what was sent. Every header not named
 * here is left out, since proxies in front of the server add their own credentials (an identity-aware proxy's
 * `X-Forwarded-Access-Token`, `Cf-Access-Jwt-Assertion`, `X-Amzn-Oidc-Data`, an API gateway's key) under names no
 * list of secrets could foresee.
 */
export const LOGGED_HEADERS = [
  'host',
  'origin',
  'user-agent',
  'content-type',
  'content-length',
  'transfer-encoding',
  'x-namespace',
  'x-forwarded-for',
  'x-forwarded-proto',
] as const;

/** Longest url or header value a request line shows; longer ones are cut (the request id links to the request). */
const MAX_LOGGED_VALUE_LENGTH = 300;

/** The request headers as logged: {@link LOGGED_HEADERS}, each cut to 300 characters; credentials as `[Redacted]`. */
export function loggableHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const logged: Record<string, string> = {};
  for (const name of LOGGED_HEADERS) {
    const value = headers[name];
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    logged[name] = text.length > MAX_LOGGED_VALUE_LENGTH ? `${text.slice(0, MAX_LOGGED_VALUE_LENGTH)}...` : text;
  }
  for (const name of CREDENTIAL_HEADERS) if (headers[name] !== undefined) logged[name] = '[Redacted]';
  return logged;
}

/**
 * The server's root logger: JSON lines. Payload bytes, keys and credentials are never passed to it (request lines carry
 * {@link loggableHeaders} only).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous, pino's default: a request's line is in the kernel when the request ends, so a crash or a kill loses
    // none; a line of cluster workers sharing stdout is one write (atomic on a pipe under 4 KiB), never a batch that
    // interleaves with another worker's; and a stalled reader slows the server instead of growing a buffer. It is also
    // cheaper than async writes through libuv's thread pool at low concurrency (BENCHMARKS.md, "Answers written
    // together": 305 -> 276 µs per 1 KiB decode at 2 connections, lower in 9 of 9 paired rounds).
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** What the server learns about a request while serving it; added to the request's one completion log line. */
export interface RequestContext {
  id: string;
  route: RouteMatch;
  namespace: string | undefined;
  /** performance.now() at arrival. */
  startedAt: number;
  /** Counts, sizes, key ids and error codes only: never payload bytes. */
  fields: {
    operation?: 'encode' | 'decode';
    payloads?: number;
    bytesIn?: number;
    bytesOut?: number;
    keyIds?: string[];
    error?: { code: string; message: string };
    /** Who the caller is (a token's name or a JWT's subject), once authorized; never a token. */
    principal?: { kind: string; name: string };
  };
}

const CONTEXT = Symbol('temporal-codec.request-context');
type WithContext = IncomingMessage & { [CONTEXT]?: RequestContext };

export function setContext(req: IncomingMessage, context: RequestContext): void {
  (req as WithContext)[CONTEXT] = context;
}

export function contextOf(req: IncomingMessage): RequestContext | undefined {
  return (req as WithContext)[CONTEXT];
}

// Accept a caller's id (a proxy's or the UI's) only if it is short and plain, since it goes into logs and headers.
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** The request id: the caller's `X-Request-Id` when it is well-formed, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

const QUIET_ROUTES = new Set(['livez', 'readyz', 'metrics']);

/** A response that failed with a bug: the error goes on its log line (see {@link logRequest}). */
export type ResponseWithError = ServerResponse & { err?: Error };

/**
 * The one line a request ends with: its request id, its principal once authorized, method, url, the headers of
 * {@link loggableHeaders}, status, duration, route, namespace and the context's fields. At `error` with the error and
 * its stack for a bug (500); at `warn` for another 5xx (503 while the identity provider's keys cannot be fetched, or
 * while shutting down); at `debug` for successful probes and scrapes. Called from the response's 'close' event, so an
 * aborted request gets its line too. Written directly rather than by pino-http, whose per-request serializers cost
 * about as much CPU as decrypting a 1 KiB payload.
 */
export function logRequest(
  log: Logger,
  req: IncomingMessage,
  res: ResponseWithError,
  context: RequestContext,
): void {
  const status = res.statusCode;
  const level =
    res.err || status === 500
      ? 'error'
      : status > 500
        ? 'warn'
        : status < 400 && QUIET_ROUTES.has(context.route.name)
          ? 'debug'
          : 'info';
  if (!log.isLevelEnabled(level)) return;
  const url = req.url ?? '';
  const line: Record<string, unknown> = {
    requestId: context.id,
    req: {
      id: context.id,
      method: req.method,
      url: url.length > MAX_LOGGED_VALUE_LENGTH ? `${url.slice(0, MAX_LOGGED_VALUE_LENGTH)}...` : url,
      headers: loggableHeaders(req.headers),
      remoteAddress: req.socket?.remoteAddress,
    },
    res: { statusCode: status },
    durationMs: Math.round((performance.now() - context.startedAt) * 1000) / 1000,
    route: context.route.name,
  };
  if (res.err) line.err = res.err;
  if (context.namespace !== undefined) line.namespace = context.namespace;
  Object.assign(line, context.fields);
  log[level](line, res.writableFinished ? 'request completed' : 'request aborted');
}
