import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { KeyRing, type CodecOptions } from '../../src/index.js';
import { type CodecServer, type CodecServerDeps, createCodecServer } from '../../src/server/app.js';
import { createServerCodecs, type ServerCodecs } from '../../src/server/codecs.js';
import type { ServerSettings } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logging.js';

export const KEY_DEFAULT = randomBytes(32);
export const KEY_OLD = randomBytes(32);

/** A ring with an active `default` key and a decrypt-only `old` key. */
export function testKeyRing(active = 'default'): KeyRing {
  return KeyRing.fromKeys({ default: KEY_DEFAULT, old: KEY_OLD }, active);
}

export function testCodecs(options: CodecOptions = {}, keyRing: KeyRing = testKeyRing()): ServerCodecs {
  return createServerCodecs({ ...options, keyRing });
}

export interface TestServer {
  codecServer: CodecServer;
  port: number;
  /** Raw log lines written so far. */
  logs: string[];
  /** An agent that keeps connections alive, shared by `call`. */
  agent: Agent;
  call(options: CallOptions): Promise<CallResult>;
  close(): Promise<void>;
}

export interface CallOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  agent?: Agent | false;
}

export interface CallResult {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  text: string;
  json(): any;
}

/** Starts a codec server in this process on 127.0.0.1 and an ephemeral port, logging into `logs`. */
export async function startServer(
  settings: Partial<ServerSettings> = {},
  deps: Partial<CodecServerDeps> = {},
): Promise<TestServer> {
  const logs: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
  const codecServer = createCodecServer(settings, {
    logger,
    ...(deps.codecsFor ? {} : { codecs: deps.codecs ?? testCodecs() }),
    ...deps,
  });
  await new Promise<void>((resolve) => codecServer.server.listen(0, '127.0.0.1', resolve));
  const port = (codecServer.server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  return {
    codecServer,
    port,
    logs,
    agent,
    call: (options) => call(port, { agent, ...options }),
    close: async () => {
      agent.destroy();
      await codecServer.shutdown();
    },
  };
}

/** One HTTP request; resolves with the whole response (never rejects on a status). */
export function call(port: number, options: CallOptions): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const body = options.body;
    const headers: Record<string, string | number> = { ...options.headers };
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'POST',
        path: options.path ?? '/decode',
        headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            text,
            json: () => JSON.parse(text),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** POST a codec request with a JSON body. */
export function postJson(server: TestServer, path: string, document: unknown, headers: Record<string, string> = {}): Promise<CallResult> {
  return server.call({
    method: 'POST',
    path,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof document === 'string' ? document : JSON.stringify(document),
  });
}

const text = new TextEncoder();

/** A json/plain payload as the SDK's default converter makes it. */
export function jsonPayload(value: unknown): Payload {
  return { metadata: { encoding: text.encode('json/plain') }, data: text.encode(JSON.stringify(value)) };
}

/** Proto3 JSON of a payload, as the Web UI sends it. */
export function payloadJson(payload: Payload): { metadata: Record<string, string>; data?: string } {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value!).toString('base64');
  return payload.data && payload.data.length > 0 ? { metadata, data: Buffer.from(payload.data).toString('base64') } : { metadata };
}

export function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** Every log line parsed. */
export function logLines(server: TestServer): Record<string, any>[] {
  return server.logs.map((line) => JSON.parse(line));
}

/** The completion line of a request, by its id. */
export function logOf(server: TestServer, requestId: string): Record<string, any> | undefined {
  return logLines(server).find((line) => line.requestId === requestId && line.res);
}
