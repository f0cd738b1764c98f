import {
  createServer as createHttpServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AuthError } from './auth/auth-error.js';
import { DEFAULT_NAMESPACE } from './auth/permissions.js';
import { lingerOnClose } from './body.js';
import { type AuthorizeHook, type CodecsLookup, createCodecHandler } from './codec-route.js';
import type { ServerCodecs } from './codecs.js';
import { DEFAULT_SETTINGS, type ServerSettings } from './config.js';
import { createCorsMiddleware } from './cors.js';
import { errorBody, HttpError, toHttpError, writeError } from './errors.js';
import {
  contextOf,
  logRequest,
  type RequestContext,
  requestIdOf,
  type ResponseWithError,
  setContext,
} from './logging.js';
import { ServerMetrics } from './metrics.js';
import { createOpsApp } from './ops-app.js';
import { isCodecRoute, matchRoute, type RouteMatch } from './routes.js';

/** The route of a request neither listener serves: the metrics label of anything the client makes up. */
const UNKNOWN_ROUTE: RouteMatch = { name: 'unknown' };

/** What a codec server is built from besides its settings. */
export interface CodecServerDeps {
  logger: Logger;
  /** The codecs for every namespace; or give `codecsFor`. */
  codecs?: ServerCodecs;
  /**
   * The codecs for one namespace, looked up once per request (see namespaces.ts for per-namespace keys and
   * key-reload.ts for hot reload); default: `codecs` for all.
   */
  codecsFor?: CodecsLookup;
  /**
   * Access control for the codec routes (see auth/authorizer.ts); default: none (the start-up check keeps such a
   * server on loopback).
   */
  authorize?: AuthorizeHook;
  /** Default: a new ServerMetrics with its own registry. */
  metrics?: ServerMetrics;
  /** The text `/metrics` serves; default: this process's registry. A cluster worker asks the primary instead. */
  metricsText?: () => Promise<string>;
}

/** A codec server, built but not listening. */
export interface CodecServer {
  /** An http.Server, or an https.Server when `settings.tls` is set. */
  server: Server;
  /** The request listener (routes codec POSTs to the lean handler, everything else to Express). */
  listener: RequestListener;
  /**
   * With `settings.separateMetrics`: a plain-http server, not listening, for `GET /metrics`, `/livez` and `/readyz`
   * only (`serve --metrics-port`); `server` then answers `/metrics` with a 404. Shut down with `server`.
   */
  metricsServer?: Server;
  metrics: ServerMetrics;
  /** False once shutdown began (`/readyz` answers 503). */
  readonly ready: boolean;
  /**
   * Stops accepting connections, answers `/readyz` with 503, lets in-flight requests finish (their connections are
   * closed after the response), closes idle keep-alive connections, and cuts what is left after
   * `settings.shutdownTimeout`. Resolves when every connection is closed.
   */
  shutdown(): Promise<void>;
}

/** How long, on shutdown, idle keep-alive connections stay open for requests already sent on them. */
const IDLE_CLOSE_GRACE_MS = 1_000;
const netServerClose = NetServer.prototype.close;

/**
 * Builds the codec server: one `http.createServer` listener in front of a lean handler for the codec routes and an
 * Express app for the rest, with the same request id, logging, metrics, CORS and error format on both.
 * With `settings.separateMetrics` it also builds the metrics server (`metricsServer`): the same request id, logging,
 * metrics and error format, no CORS, and only `GET /metrics`, `/livez` and `/readyz`.
 *
 * @example
 * const codecServer = createCodecServer(config, { logger, codecs: createServerCodecs({ keyRing }) });
 * codecServer.server.listen(8888, '127.0.0.1');
 */
export function createCodecServer(settings: Partial<ServerSettings>, deps: CodecServerDeps): CodecServer {
  if (!deps.codecsFor && !deps.codecs) throw new Error('createCodecServer needs codecs or codecsFor');
  const s: ServerSettings = { ...DEFAULT_SETTINGS, ...settings };
  const { logger } = deps;
  const metrics = deps.metrics ?? new ServerMetrics();
  const codecsFor: CodecsLookup = deps.codecsFor ?? (() => deps.codecs);
  const cors = createCorsMiddleware(s);
  const state = { draining: false };
  const inFlight = new Set<ServerResponse>();

  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown): void => {
    // Already answered (a 408 for a request that timed out while it was being authorized or read): nothing to add.
    if (res.writableEnded) return;
    const context = contextOf(req);
    const httpError = toHttpError(error, context?.id ?? '-');
    // A bug's error, with its stack, goes on the request's line: the log has the bug, the client a plain 500. (A 503,
    // say while the identity provider is down, is a condition to watch, not a bug: a warn line without a stack.)
    if (httpError.code === 'internal') (res as ResponseWithError).err = error instanceof Error ? error : new Error(String(error));
    if (context) context.fields.error = { code: httpError.code, message: httpError.message };
    if (error instanceof AuthError) metrics.authRefused(error.refusal);
    writeError(res, httpError);
  };

  /**
   * Answers a request that reached the listener but that Node refuses before its body is complete (timed out, or
   * malformed chunked encoding), through its own response (see answerClientError). Its body is no longer wanted,
   * whatever of it still arrives: a handler already reading it gets no more of it (paused, it is buffered and never
   * ends); one still waiting for the authorizer finds it dumped (Node discards the body of a request answered before
   * anyone read it), and what it then reports goes nowhere (`fail`).
   */
  const answerEarly = (req: IncomingMessage, res: ServerResponse, error: HttpError): void => {
    res.setHeader('Connection', 'close');
    // The client may still be sending its body: read it for a moment so that the answer is not lost to a reset.
    lingerOnClose(req.socket);
    fail(req, res, error);
    req.pause();
  };

  const handleCodec = createCodecHandler({
    bodyLimit: s.bodyLimit,
    maxPayloads: s.maxPayloads,
    maxDecodedBytes: s.maxDecodedBytes,
    codecsFor,
    ...(deps.authorize ? { authorize: deps.authorize } : {}),
    metrics,
    fail,
  });
  const opsOptions = {
    isReady: () => !state.draining,
    metricsContentType: metrics.registry.contentType,
    fail,
  };
  const metricsText = deps.metricsText ?? (() => metrics.registry.metrics());
  const app = createOpsApp({ ...opsOptions, ...(s.separateMetrics ? {} : { metricsText }) });
  const metricsApp = s.separateMetrics ? createOpsApp({ ...opsOptions, metricsText, listener: 'metrics' }) : undefined;

  /**
   * What a request gets first on either listener: its context and request id, the in-flight count, and on 'close'
   * its metrics and its one log line. Undefined when it has been answered already (an HTTP/1.1 request without Host).
   */
  const begin = (
    req: IncomingMessage,
    res: ServerResponse,
    route: RouteMatch,
    namespace: string | undefined,
  ): RequestContext | undefined => {
    const id = requestIdOf(req);
    const context: RequestContext = { id, route, namespace, startedAt: performance.now(), fields: {} };
    setContext(req, context);
    res.setHeader('X-Request-Id', context.id);
    if (state.draining) res.setHeader('Connection', 'close');
    metrics.requestStarted();
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.requestFinished(route.name, status, (performance.now() - context.startedAt) / 1000);
      logRequest(logger, req, res, context);
      const { bytesIn, bytesOut } = context.fields;
      if (bytesIn !== undefined) metrics.bodyBytes(route.name, bytesIn, bytesOut ?? 0);
    });
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      // RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400 (Node's own check would answer with no body).
      res.setHeader('Connection', 'close');
      fail(req, res, new HttpError('bad_request', 'an HTTP/1.1 request needs a Host header'));
      return undefined;
    }
    return context;
  };

  const listener: RequestListener = (req, res) => {
    const matched = matchRoute(req.url ?? '/');
    // With a metrics server, /metrics is unknown here: a caller of the public port cannot add to its series.
    const route = s.separateMetrics && matched.name === 'metrics' ? UNKNOWN_ROUTE : matched;
    const context = begin(req, res, route, isCodecRoute(route.name) ? namespaceOf(req, route) : undefined);
    if (!context) return;
    try {
      cors(req, res, (error?: unknown) => {
        if (error) return fail(req, res, error);
        if (req.method === 'POST' && context.namespace !== undefined) handleCodec(req, res, context, context.namespace);
        else app(req, res);
      });
    } catch (error) {
      fail(req, res, error);
    }
  };

  // No CORS here: the metrics port is for probes and scrapers, never for a browser.
  const metricsListener: RequestListener = (req, res) => {
    const matched = matchRoute(req.url ?? '/');
    const ops = matched.name === 'livez' || matched.name === 'readyz' || matched.name === 'metrics';
    if (!begin(req, res, ops ? matched : UNKNOWN_ROUTE, undefined)) return;
    try {
      metricsApp!(req, res);
    } catch (error) {
      fail(req, res, error);
    }
  };

  const options = {
    // Checked in the listener instead, to answer with a JSON error like every other refusal.
    requireHostHeader: false,
    headersTimeout: s.headersTimeout,
    requestTimeout: s.requestTimeout,
    connectionsCheckingInterval: s.connectionsCheckingInterval,
  };
  const server: Server = s.tls
    ? createHttpsServer({ ...options, ...s.tls }, listener)
    : createHttpServer(options, listener);
  const metricsServer = metricsApp ? createHttpServer(options, metricsListener) : undefined;
  for (const each of metricsServer ? [server, metricsServer] : [server]) {
    each.keepAliveTimeout = s.keepAliveTimeout;
    // A client that stops reading its response is cut off too (requestTimeout only covers sending the request). Kept
    // longer than requestTimeout so that a slow request gets its 408 rather than a silent close.
    each.timeout = 2 * s.requestTimeout;
    each.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      answerClientError(error, socket, logger, metrics, answerEarly),
    );
    // An Expect other than 100-continue: Node would answer 417 with no body; this listener replaces that answer.
    each.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('Connection', 'close');
      lingerOnClose(req.socket);
      writeError(res, new HttpError('expectation_failed', 'the only Expect this server supports is 100-continue'));
      metrics.rejected(417);
      logger.debug({ status: 417 }, 'client error: unsupported Expect');
    });
  }

  /**
   * Stops accepting, but leaves the kept-alive connections open for a moment: a request already on its way on one of
   * them gets its answer (with Connection: close) instead of a reset. (http.Server#close would close the idle ones at
   * once.) Busy connections close after their response; what is left is cut after the shutdown timeout.
   */
  const closeGracefully = (each: Server): Promise<void> =>
    new Promise<void>((resolve) => {
      const deadline = setTimeout(() => {
        const listener = each === server ? 'codec' : 'metrics';
        logger.warn({ listener, inFlight: inFlight.size }, 'shutdown timeout: closing the remaining connections');
        each.closeAllConnections();
      }, s.shutdownTimeout);
      deadline.unref();
      const grace = setTimeout(() => each.closeIdleConnections(), Math.min(IDLE_CLOSE_GRACE_MS, s.keepAliveTimeout));
      // Called with an error when the server never listened (a metrics server nobody started): closed all the same.
      netServerClose.call(each, () => {
        clearTimeout(deadline);
        clearTimeout(grace);
        resolve();
      });
    });

  let closing: Promise<void> | undefined;
  return {
    server,
    listener,
    ...(metricsServer ? { metricsServer } : {}),
    metrics,
    get ready() {
      return !state.draining;
    },
    shutdown() {
      closing ??= (async () => {
        state.draining = true;
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        if (s.shutdownDelay > 0) {
          logger.info({ delayMs: s.shutdownDelay }, 'shutting down: not ready, still accepting during the delay');
          await new Promise((resolve) => setTimeout(resolve, s.shutdownDelay));
        }
        logger.info({ inFlight: inFlight.size }, 'shutting down: draining in-flight requests');
        await Promise.all((metricsServer ? [server, metricsServer] : [server]).map(closeGracefully));
      })();
      return closing;
    },
  };
}

/**
 * The namespace of a codec request: the `X-Namespace` header the UI and CLI send, else the path prefix
 * (`/<ns>/decode`), else `default` (as Temporal's own tools assume), so that its authorization, codecs, error messages,
 * log line and metrics all name the same namespace.
 */
function namespaceOf(req: IncomingMessage, route: RouteMatch): string {
  const header = req.headers['x-namespace'];
  const namespace = typeof header === 'string' && header !== '' ? header : (route.pathNamespace ?? DEFAULT_NAMESPACE);
  return namespace.length > 256 ? namespace.slice(0, 256) : namespace;
}

/**
 * Node answers malformed HTTP, oversized headers and timed-out requests itself with a bare status line; answer
 * with the same JSON error body as every other error instead.
 *
 * A request that already reached the listener (it timed out mid-body, say) is answered through its own response,
 * by `fail`: it carries the CORS, `Vary` and `X-Request-Id` headers set for it (else the Web UI would see a CORS
 * failure instead of the 408), and the response's 'close' handler counts and logs it once, with this status. Other
 * refusals never reached the listener: their headers were not parsed (or not completely), so the origin and request
 * id are unknown and the answer is written on the socket without them.
 */
function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Duplex,
  logger: Logger,
  metrics: ServerMetrics,
  answerEarly: (req: IncomingMessage, res: ServerResponse, error: HttpError) => void,
): void {
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
  if (error.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  const httpError =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new HttpError('request_timeout', 'the request was not received in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? new HttpError('headers_too_large', 'the request headers are too large')
        : new HttpError('bad_request', 'the request is not valid HTTP/1.1');
  // The response of the request being received, when that request is the one at fault: once its body is complete, a
  // later request pipelined behind it is (and that one never reached the listener).
  const req = current?.req;
  if (current && req && !req.complete && contextOf(req)) return answerEarly(req, current, httpError);
  const body = errorBody(httpError.code, httpError.message);
  socket.end(
    `HTTP/1.1 ${httpError.status} ${httpError.reason}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  metrics.rejected(httpError.status);
  logger.debug({ code: error.code, status: httpError.status }, 'client error');
}

export type { AuthorizeHook, CodecsLookup };
