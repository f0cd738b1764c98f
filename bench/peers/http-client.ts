/** A minimal HTTP/1.1 client for the benchmark and endurance scripts (node:http, whole responses). */
import { type Agent, type IncomingHttpHeaders, request } from 'node:http';

export interface Reply {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface PostOptions {
  method?: string;
  headers?: Record<string, string | number>;
  agent?: Agent | false;
  timeoutMs?: number;
}

/** Sends one request and resolves with the whole response; rejects on a connection error or timeout. */
export function send(url: string, body: string | Buffer | undefined, options: PostOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', ...options.headers };
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = request(
      url,
      { method: options.method ?? 'POST', headers, agent: options.agent ?? false, timeout: options.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The value at percentile `p` (0-100) of `values` (sorted in place). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
}
