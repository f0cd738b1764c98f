import type { IncomingMessage, ServerResponse } from 'node:http';
import cors, { type CorsOptions } from 'cors';
import type { ServerSettings } from './config.js';

/** A Connect-style middleware: the same function runs in front of the lean codec handler and of Express. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** The request headers the Web UI and CLI send (see docs: http-contract.md). */
export const CORS_ALLOWED_HEADERS = ['Content-Type', 'X-Namespace', 'Authorization', 'Authorization-Extras'];

/**
 * CORS with the `cors` package, for an allow-list of exact origins: an allowed origin is echoed with credentials
 * allowed and its preflight answered 204 here, before any authentication; any other origin gets no grant at all
 * (and its preflight falls through to the routes). Never `*`: the Web UI sends credentials.
 */
export function createCorsMiddleware(settings: Pick<ServerSettings, 'corsOrigins' | 'corsMaxAge'>): Middleware {
  if (settings.corsOrigins.length === 0) return (_req, _res, next) => next();
  const allowed = new Set(settings.corsOrigins);
  const grant: CorsOptions = {
    credentials: true,
    methods: ['POST'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: ['X-Request-Id'],
    maxAge: settings.corsMaxAge,
    optionsSuccessStatus: 204,
  };
  const middleware = cors<IncomingMessage>((req, callback) => {
    const origin = req.headers.origin;
    callback(null, origin !== undefined && allowed.has(origin) ? { ...grant, origin } : { origin: false });
  }) as Middleware;
  return (req, res, next) => {
    // Answers differ by Origin, allowed or not: a shared cache must key on it.
    res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS') return middleware(req, res, next);
    // An actual request gets exactly the headers the cors package sets for it (none for another origin), set here
    // directly: the package's per-request option handling costs about a tenth of a 1 KiB decode.
    const origin = req.headers.origin;
    if (origin !== undefined && allowed.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Expose-Headers', 'X-Request-Id');
    }
    next();
  };
}
