import type { ServerResponse } from 'node:http';
import { setImmediate as nextCheckPhase } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AnswerQueue, LARGE_BODY_BYTES } from '../../src/server/answer-queue.js';

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
