import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { setImmediate as nextCheckPhase } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../src/index.js';
import { AnswerQueue, LARGE_BODY_BYTES } from '../../src/server/answer-queue.js';
import { jsonPayload, payloadJson, postJson, startServer, testKeyRing, type TestServer } from './helpers.js';

/** A response that records what is written to it, in the order of every response made by one `recorder`. */
function recorder() {
  const writes: string[] = [];
  const response = (name: string, destroyed = false) =>
    ({
      destroyed,
      writeHead(status: number, headers: Record<string, string | number>) {
        writes.push(`${name} head ${status} ${JSON.stringify(headers)}`);
        return this;
      },
      end(text: string) {
        writes.push(`${name} end ${text}`);
        return this;
      },
    }) as unknown as ServerResponse;
  return { writes, response };
}

const HEADERS = JSON.stringify({ 'Content-Type': 'application/json', 'Content-Length': 2, 'Cache-Control': 'no-store' });

describe('AnswerQueue (codec answers written together at the end of the poll phase)', () => {
  it('writes nothing at once, then every answer of the turn in order, in the next check phase', async () => {
    const { writes, response } = recorder();
    const answers = new AnswerQueue(60_000);
    answers.send(response('a'), '{}', 2);
    answers.send(response('b'), '[]', 2);
    expect(writes).toEqual([]);
    await nextCheckPhase();
    expect(writes).toEqual([`a head 200 ${HEADERS}`, 'a end {}', `b head 200 ${HEADERS}`, 'b end []']);
  });

  it('starts a new batch after a flush: an answer queued later is written in a later check phase', async () => {
    const { writes, response } = recorder();
    const answers = new AnswerQueue(60_000);
    answers.send(response('a'), '{}', 2);
    await nextCheckPhase();
    answers.send(response('b'), '{}', 2);
    expect(writes).toHaveLength(2);
    await nextCheckPhase();
    expect(writes).toHaveLength(4);
    expect(writes[3]).toBe('b end {}');
  });

  it('writes the whole queue at once when an answer arrives maxDelayMs or more after the first of its batch', async () => {
    const { writes, response } = recorder();
    const answers = new AnswerQueue(0);
    answers.send(response('a'), '{}', 2);
    expect(writes).toEqual([]);
    answers.send(response('b'), '{}', 2);
    expect(writes.filter((line) => line.includes(' end '))).toEqual(['a end {}', 'b end {}']);
    await nextCheckPhase();
    // Nothing is written twice by the check phase that was already scheduled.
    expect(writes).toHaveLength(4);
  });

  it('skips a response whose client went away while its answer waited', async () => {
    const { writes, response } = recorder();
    const answers = new AnswerQueue(60_000);
    answers.send(response('gone', true), '{}', 2);
    answers.send(response('here'), '{}', 2);
    await nextCheckPhase();
    expect(writes).toEqual([`here head 200 ${HEADERS}`, 'here end {}']);
  });

  it('writes what waits before work on a large body, and not before work on a small one', () => {
    const { writes, response } = recorder();
    const answers = new AnswerQueue(60_000);
    answers.send(response('a'), '{}', 2);
    answers.beforeWork(LARGE_BODY_BYTES - 1);
    expect(writes).toEqual([]);
    answers.beforeWork(LARGE_BODY_BYTES);
    expect(writes).toEqual([`a head 200 ${HEADERS}`, 'a end {}']);
  });

  it('writes what waits before any work once the batch is maxDelayMs old', () => {
    const { writes, response } = recorder();
    const answers = new AnswerQueue(0);
    answers.beforeWork(10);
    answers.send(response('a'), '{}', 2);
    expect(writes).toEqual([]);
    answers.beforeWork(10);
    expect(writes).toEqual([`a head 200 ${HEADERS}`, 'a end {}']);
  });

  it('cuts a response whose write throws, keeps the error for its request line, and still answers the rest', async () => {
    const { writes, response } = recorder();
    const broken = response('broken') as unknown as { err?: Error; writeHead: () => never; destroy: () => void };
    let destroyed = 0;
    broken.writeHead = () => {
      throw new Error('headers already sent');
    };
    broken.destroy = () => void destroyed++;
    const answers = new AnswerQueue(60_000);
    answers.send(broken as unknown as ServerResponse, '{}', 2);
    answers.send(response('next'), '{}', 2);
    await nextCheckPhase();
    expect(destroyed).toBe(1);
    expect(broken.err?.message).toBe('headers already sent');
    expect(writes).toEqual([`next head 200 ${HEADERS}`, 'next end {}']);
  });
});

describe('codec answers on a real server (written through the AnswerQueue)', () => {
  let server: TestServer;
  const encrypted = (value: unknown) => ({
    payloads: [payloadJson(new EncryptionCodec({ keyRing: testKeyRing() }).encryptPayload(jsonPayload(value)))],
  });

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers pipelined requests on one connection in order, an error between two successes included', async () => {
    const request = (id: string, body: string) =>
      `POST /decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Request-Id: ${id}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const good = JSON.stringify(encrypted({ n: 1 }));
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () =>
        socket.write(request('p-1', good) + request('p-2', '{"payloads": 5}') + request('p-3', good)),
      );
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('utf8');
        if ((received.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === 3 && received.endsWith('}')) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.on('error', reject);
    });
    expect([...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])).toEqual(['200', '400', '200']);
    expect([...text.matchAll(/^X-Request-Id: (.+)\r$/gim)].map((m) => m[1])).toEqual(['p-1', 'p-2', 'p-3']);
  });

  it('answers many requests at once, each with its own payload', async () => {
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => postJson(server, '/decode', encrypted({ order: i }))),
    );
    results.forEach((result, i) => {
      expect(result.status).toBe(200);
      const [payload] = result.json().payloads as Array<{ data: string }>;
      expect(JSON.parse(Buffer.from(payload!.data, 'base64').toString('utf8'))).toEqual({ order: i });
    });
  });
});
