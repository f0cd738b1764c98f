import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type DestinationStream, type Logger, pino } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';
import type { RouteMatch } from './routes.js';

/**
 * Header values that are credentials. pino-http logs request headers; these are replaced before a line is written.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["authorization-extras"]',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

/** The server's root logger: JSON lines, credentials redacted. Payload bytes and keys are never passed to it. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
      base: { pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous writes keep logging off the hot path; pino flushes them when the process exits.
    destination ?? pino.destination({ dest: 1, sync: false }),
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

/**
 * pino-http, set up so that each request gets a child logger bound to its id (`req.log`) and one line when it ends,
 * with the status, duration and the context's fields; 5xx lines carry the error and its stack.
 */
export function createHttpLogger(logger: Logger): HttpLogger {
  return pinoHttp({
    logger,
    // One child logger per request (bound to the serialized request); quietReqLogger would make two.
    customAttributeKeys: { responseTime: 'durationMs' },
    genReqId: (req) => contextOf(req)?.id ?? requestIdOf(req),
    customLogLevel: (req, res, error) => {
      if (error || res.statusCode >= 500) return 'error';
      if (res.statusCode < 400 && QUIET_ROUTES.has(contextOf(req)?.route.name ?? '')) return 'debug';
      return 'info';
    },
    customSuccessMessage: (req, res) => (res.writableEnded ? 'request completed' : 'request aborted'),
    customSuccessObject: (req, _res, value: Record<string, unknown>) => withFields(req, value),
    customErrorObject: (req, _res, _error, value: Record<string, unknown>) => withFields(req, value),
    serializers: {
      req: (req: { id: unknown; method: string; url: string; headers: unknown; remoteAddress: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url.length > 300 ? `${req.url.slice(0, 300)}...` : req.url,
        headers: req.headers,
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

function withFields(req: IncomingMessage, value: Record<string, unknown>): Record<string, unknown> {
  const context = contextOf(req);
  if (!context) return value;
  value.requestId = context.id;
  value.route = context.route.name;
  if (context.namespace !== undefined) value.namespace = context.namespace;
  return Object.assign(value, context.fields);
}
