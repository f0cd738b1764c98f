import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { jsonPayload, payloadJson, startServer } from './helpers.js';

/** A raw connection that collects what the server sends and notes when it closes. */
function rawConnection(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(port, '127.0.0.1');
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now())));
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('timeouts', () => {
  it('answers 408 and closes a connection whose headers trickle in past headersTimeout', async () => {
    const server = await startServer({ headersTimeout: 300, requestTimeout: 2000, connectionsCheckingInterval: 50 });
    try {
      const { socket, received, closed } = await rawConnection(server.port);
      const started = Date.now();
      socket.write('POST /decode HTTP/1.1\r\nHost: x\r\n');
      const trickle = setInterval(() => socket.writable && socket.write('X-Slow: y\r\n'), 50);
      const end = await closed;
      clearInterval(trickle);
      expect(end - started).toBeLessThan(1500);
      expect(received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(received()).toContain('{"error":{"code":"request_timeout","message":"the request was not received in time"}}');
    } finally {
      await server.close();
    }
  });

  it('cuts a request whose body does not arrive within requestTimeout', async () => {
    const server = await startServer({ headersTimeout: 200, requestTimeout: 400, connectionsCheckingInterval: 50 });
    try {
      const { socket, received, closed } = await rawConnection(server.port);
      const started = Date.now();
      socket.write('POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"pay');
      const end = await closed;
      expect(end - started).toBeLessThan(2000);
      expect(received()).toMatch(/^HTTP\/1\.1 408 /);
      expect((await server.call({ method: 'GET', path: '/livez' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('closes an idle keep-alive connection after keepAliveTimeout', async () => {
    const server = await startServer({ keepAliveTimeout: 200, connectionsCheckingInterval: 50 });
    try {
      const { socket, received, closed } = await rawConnection(server.port);
      const started = Date.now();
      socket.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n');
      const end = await closed;
      expect(received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received()).toContain('Keep-Alive: timeout=0');
      // Node closes 1 s after the advertised timeout, so that a client at the edge does not reuse a closing socket.
      expect(end - started).toBeLessThan(2500);
    } finally {
      await server.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('answers /readyz with 503, finishes the in-flight request with Connection: close, answers a request sent on a kept-alive connection after the listener closed, then closes idle connections', async () => {
    const server = await startServer({ shutdownDelay: 300, shutdownTimeout: 3000 });
    const body = JSON.stringify({ payloads: [payloadJson(jsonPayload({ inFlight: true }))] });
    // In flight: headers and half the body sent.
    const busy = await rawConnection(server.port);
    busy.socket.write(`POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    busy.socket.write(body.slice(0, 10));
    // Idle: one request answered, connection kept alive. The second one sends again after the listener closed.
    const idle = await rawConnection(server.port);
    const reused = await rawConnection(server.port);
    for (const connection of [idle, reused]) connection.socket.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(50);
    expect(idle.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(reused.received()).toMatch(/^HTTP\/1\.1 200 /);

    const shutdownStarted = Date.now();
    let stopped = 0;
    const shutdown = server.codecServer.shutdown().then(() => (stopped = Date.now()));
    expect(server.codecServer.ready).toBe(false);
    // During the delay the listener still accepts, so a load balancer sees the 503.
    const ready = await server.call({ method: 'GET', path: '/readyz' });
    expect(ready.status).toBe(503);
    expect(ready.statusText).toBe('Service Unavailable: shutting down');
    expect(ready.json()).toEqual({ status: 'shutting down' });
    expect(ready.headers.connection).toBe('close');

    // Past the 300 ms delay the listener is closed, but a request on a kept-alive connection is still answered,
    // with Connection: close, rather than reset.
    await sleep(500);
    await expect(server.call({ method: 'GET', path: '/livez', agent: false })).rejects.toThrow(/ECONNREFUSED/);
    reused.socket.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n');
    await reused.closed;
    const second = reused.received().slice(reused.received().lastIndexOf('HTTP/1.1 '));
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(second).toMatch(/\r\nConnection: close\r\n/i);

    // The connection that stayed idle is closed after the delay and a 1 s grace.
    const idleClosed = await idle.closed;
    expect(idleClosed - shutdownStarted).toBeGreaterThanOrEqual(1250);
    expect(idleClosed - shutdownStarted).toBeLessThan(2000);
    expect(stopped).toBe(0);

    busy.socket.write(body.slice(10));
    await busy.closed;
    expect(busy.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(busy.received()).toMatch(/\r\nConnection: close\r\n/);
    expect(busy.received()).toContain('"payloads":[');
    await shutdown;
    expect(stopped - shutdownStarted).toBeLessThan(3000);
    await expect(server.call({ method: 'GET', path: '/livez', agent: false })).rejects.toThrow(/ECONNREFUSED/);
    server.agent.destroy();
  });

  it('cuts a request that never finishes at shutdownTimeout', async () => {
    const server = await startServer({ shutdownTimeout: 300, requestTimeout: 60_000 });
    const stuck = await rawConnection(server.port);
    stuck.socket.write('POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    await sleep(50);
    const started = Date.now();
    await server.codecServer.shutdown();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(2000);
    await stuck.closed;
    server.agent.destroy();
  });
});
