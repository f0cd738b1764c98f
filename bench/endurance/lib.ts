/**
 * What the endurance scripts share: our server started as the real CLI in its own process (with a fresh key, its
 * log scanned for error lines and its stderr kept), raw HTTP over a socket, and reading its /metrics.
 */
import { connect, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { type BenchBody, benchCodecs, type Codecs, decodeBody } from '../peers/bodies.js';
import { send } from '../peers/http-client.js';
import { newKeyValue, type RunningTarget, startTarget } from '../peers/targets.js';

export const ORIGIN = 'http://localhost:8233';

/** Whether the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href;
}

export interface Ours {
  target: RunningTarget;
  /** The AES-256 key the server holds under key id `default`. */
  key: Buffer;
  codecs: Codecs;
  url: string;
  port: number;
  /** Log lines at level error or fatal, and how many log lines there were. */
  logErrors: string[];
  logLines(): number;
  /** A correct 1 KiB /decode body for this server's key. */
  decode1k: BenchBody;
  /** Crash evidence: what the process wrote to stderr (Node prints uncaught exceptions and rejections there). */
  crashText(): string;
  /** Whether the process is still running. */
  alive(): boolean;
}

/** Starts `temporal-codec serve` on 127.0.0.1 with a fresh key under id `default`, CORS for {@link ORIGIN}. */
export async function startOurs(options: { workers?: number; cpus?: string; args?: string[] } = {}): Promise<Ours> {
  const { key, value } = newKeyValue();
  const codecs = benchCodecs(key);
  const logErrors: string[] = [];
  let lines = 0;
  let alive = true;
  const target = await startTarget(
    {
      name: 'ours',
      kind: 'ours',
      cores: options.workers ?? 1,
      ...(options.cpus ? { cpus: options.cpus } : {}),
      args: ['--cors-origins', ORIGIN, ...(options.args ?? [])],
    },
    {
      env: { TEMPORAL_ENCRYPTION_KEY_default: value },
      onStdoutLine: (line) => {
        lines++;
        if (line.includes('"level":"error"') || line.includes('"level":"fatal"')) {
          if (logErrors.length < 50) logErrors.push(line.slice(0, 2000));
        }
      },
    },
  );
  void target.exited.then(() => {
    alive = false;
  });
  return {
    target,
    key,
    codecs,
    url: target.url,
    port: target.port,
    logErrors,
    logLines: () => lines,
    decode1k: decodeBody(codecs, 1024),
    crashText: () => target.stderr().trim(),
    alive: () => alive,
  };
}

/** The text of stderr, or an exit, that means the server crashed or broke a promise. */
export function crashEvidence(text: string): boolean {
  return /uncaughtException|unhandledRejection|UnhandledPromiseRejection|Error:|FATAL|Segmentation|Aborted/.test(text);
}

export interface ParsedResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: string;
}

/** Parses the first HTTP/1.1 response in `data` (Content-Length or chunked body), or undefined if incomplete. */
export function parseResponse(data: Buffer): ParsedResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = data.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(head[0] ?? '');
  if (!match) return { status: -1, reason: 'unparseable status line', headers: {}, body: '' };
  // An interim response (100 Continue) has no body; the real one follows.
  if (match[1]!.startsWith('1')) return parseResponse(data.subarray(end + 4));
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = data.subarray(end + 4);
  const length = headers['content-length'];
  if (length !== undefined) {
    if (body.length < Number(length)) return undefined;
    body = body.subarray(0, Number(length));
  } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', offset);
      if (lineEnd === -1) return undefined;
      const size = Number.parseInt(body.subarray(offset, lineEnd).toString('latin1'), 16);
      if (size === 0) break;
      if (body.length < lineEnd + 2 + size) return undefined;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      offset = lineEnd + 4 + size;
    }
    body = Buffer.concat(parts);
  }
  return { status: Number(match[1]), reason: match[2] ?? '', headers, body: body.toString('utf8') };
}

export type ExchangeOutcome = 'response' | 'closed' | 'reset' | 'timeout' | 'refused';

export interface Exchange {
  outcome: ExchangeOutcome;
  response?: ParsedResponse;
  /** Milliseconds from connect to the outcome. */
  ms: number;
}

/**
 * Opens a connection, writes `data` (all at once, or chunk by chunk with `gapMs` between), half-closes unless
 * `keepOpen`, and waits for the first response, a close, a reset or `timeoutMs`.
 */
export function exchange(
  port: number,
  data: Buffer | Buffer[],
  options: { timeoutMs?: number; keepOpen?: boolean; gapMs?: number; destroyAfterWrite?: boolean } = {},
): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket: Socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let settled = false;
    const finish = (outcome: ExchangeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const response = received.length > 0 ? parseResponse(Buffer.concat(received)) : undefined;
      socket.destroy();
      resolve({ outcome: response ? 'response' : outcome, ...(response ? { response } : {}), ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (parseResponse(Buffer.concat(received))) finish('response');
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
    socket.on('connect', async () => {
      const chunks = Array.isArray(data) ? data : [data];
      for (const chunk of chunks) {
        if (settled) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      if (options.destroyAfterWrite) {
        socket.destroy();
        finish('closed');
        return;
      }
      if (!options.keepOpen && !settled) socket.end();
    });
  });
}

/** A complete POST request as bytes. */
export function requestBytes(path: string, body: string | Buffer, headers: Record<string, string | number> = {}): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const all: Record<string, string | number> = {
    Host: '127.0.0.1',
    'Content-Type': 'application/json',
    'Content-Length': payload.length,
    ...headers,
  };
  const head = `POST ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** `temporal_codec_http_requests_total` summed by status class, from /metrics. */
export async function requestCounts(url: string): Promise<{ total: number; byStatus: Record<string, number>; fiveXx: number }> {
  const reply = await send(`${url}/metrics`, undefined, { method: 'GET' });
  const byStatus: Record<string, number> = {};
  let total = 0;
  let fiveXx = 0;
  for (const match of reply.text.matchAll(/^temporal_codec_http_requests_total\{[^}]*status="([^"]+)"[^}]*\} (\d+(?:\.\d+)?)$/gm)) {
    const count = Number(match[2]);
    byStatus[match[1]!] = (byStatus[match[1]!] ?? 0) + count;
    total += count;
    if (/^5\d\d$/.test(match[1]!)) fiveXx += count;
  }
  return { total, byStatus, fiveXx };
}

/** One gauge's value from /metrics text, or undefined. */
export function gauge(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Stops the server with SIGTERM and says what went wrong with how it ended, if anything. */
export async function stopAndCheck(ours: Ours, graceMs = 12_000): Promise<{ problems: string[]; exitMs: number }> {
  const problems: string[] = [];
  if (!ours.alive()) problems.push(`the server exited before the end: ${ours.crashText().slice(0, 1000)}`);
  const t0 = performance.now();
  const exit = await ours.target.stop(graceMs);
  const exitMs = performance.now() - t0;
  if (exit.killed) problems.push(`the server did not exit within ${graceMs} ms of SIGTERM`);
  else if (exit.code !== 0) problems.push(`the server exited with code ${exit.code} signal ${exit.signal}`);
  if (crashEvidence(ours.crashText())) problems.push(`stderr: ${ours.crashText().slice(0, 1000)}`);
  if (ours.logErrors.length > 0) problems.push(`${ours.logErrors.length} error log lines, first: ${ours.logErrors[0]!.slice(0, 600)}`);
  return { problems, exitMs };
}
