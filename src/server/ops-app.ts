import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { HttpError } from './errors.js';

export interface OpsAppOptions {
  isReady: () => boolean;
  /** The text of `/metrics`; absent when another listener serves it (`--metrics-port`): `/metrics` is then unknown. */
  metricsText?: () => Promise<string>;
  metricsContentType: string;
  fail: (req: IncomingMessage, res: ServerResponse, error: unknown) => void;
  /**
   * `codec` (default): the app behind the codec server's listener, with the 405/404 answers of the codec paths.
   * `metrics`: the app of the metrics listener, which serves the three GET routes and nothing else.
   */
  listener?: 'codec' | 'metrics';
}

// Only the last path segment selects a codec route, as for POST (see routes.ts).
const CODEC_PATH = /\/(?:encode|decode)$/;
const DOWNLOAD_PATH = /\/download$/;
const CODEC_ALLOW = 'POST, OPTIONS';
const OPS_ALLOW = 'GET, HEAD';

/**
 * Everything but `POST .../encode|decode`: health, metrics, and the 404/405 answers. Request id, logging, metrics
 * and CORS have already run in the server's listener.
 */
export function createOpsApp(options: OpsAppOptions): Express {
  const { metricsText } = options;
  const codecListener = (options.listener ?? 'codec') === 'codec';
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Paths are matched exactly, as the metrics' route labels are.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);

  app.get('/livez', (_req, res) => sendJson(res, 200, { status: 'ok' }));
  app.get('/readyz', (_req, res) => {
    if (options.isReady()) sendJson(res, 200, { status: 'ready' });
    else sendJson(res, 503, { status: 'shutting down' }, 'Service Unavailable: shutting down');
  });
  // Without metricsText, /metrics is not here at all: the generic 404, which does not tell the metrics port exists.
  if (metricsText) {
    app.get('/metrics', async (_req, res) => {
      const text = await metricsText();
      res.setHeader('Content-Type', options.metricsContentType);
      res.setHeader('Cache-Control', 'no-store');
      res.end(text);
    });
  }
  for (const path of metricsText ? ['/livez', '/readyz', '/metrics'] : ['/livez', '/readyz']) {
    app.all(path, methodNotAllowed(OPS_ALLOW));
  }

  if (codecListener) {
    // A preflight from an origin outside the allow-list reaches here with no CORS grant: the browser will refuse.
    app.options(CODEC_PATH, (_req, res) => {
      res.setHeader('Allow', CODEC_ALLOW);
      res.statusCode = 204;
      res.setHeader('Content-Length', '0');
      res.end();
    });
    app.all(CODEC_PATH, methodNotAllowed(CODEC_ALLOW));
    app.all(DOWNLOAD_PATH, () => {
      throw new HttpError(
        'download_not_supported',
        'this codec server does not serve external-storage downloads (/download); payloads stored outside Temporal ' +
          'cannot be fetched through it',
      );
    });
  }
  const notFound = codecListener
    ? 'no such endpoint: the codec server serves POST <prefix>/encode and POST <prefix>/decode'
    : 'no such endpoint: the metrics port serves GET /livez, /readyz and /metrics';
  app.use(() => {
    throw new HttpError('not_found', notFound);
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => options.fail(req, res, error));
  return app;
}

function methodNotAllowed(allow: string) {
  return (req: Request): never => {
    throw new HttpError('method_not_allowed', `${req.method} is not allowed here; use ${allow.split(', ')[0]}`, {
      headers: { Allow: allow },
    });
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown, reason?: string): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  if (reason) res.statusMessage = reason;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
