/**
 * `npm run demo` (tsx scripts/demo.ts), end to end and bounded: it starts everything, runs one order, prints a
 * working Web UI link and CLI command and only a key fingerprint, and on Ctrl-C (SIGINT to its process group, as a
 * terminal sends it) stops everything and exits 0 within 15 seconds.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  cleanEnv,
  describeWithTools,
  freePorts,
  type ManagedProcess,
  PROJECT_ROOT,
  SETUP_TIMEOUT_MS,
  sleep,
  temporal,
  testProcessGroup,
} from './harness.js';

const LINK_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;

describeWithTools('npm run demo', ['temporal'], (tools) => {
  const group = testProcessGroup('demo');
  let demo: ManagedProcess;
  let ports: { port: number; uiPort: number; codecPort: number };
  let secondsToLink = 0;

  beforeAll(async () => {
    const [port, uiPort, codecPort] = await freePorts(3);
    ports = { port: port!, uiPort: uiPort!, codecPort: codecPort! };
    const started = Date.now();
    demo = group.start({
      name: 'demo',
      command: join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'),
      args: ['scripts/demo.ts', '--port', String(port), '--ui-port', String(uiPort), '--codec-port', String(codecPort)],
      // No key in the environment: the demo makes a throwaway one.
      env: cleanEnv(),
    });
    await demo.waitForOutput(/Press Ctrl-C to stop everything/, LINK_TIMEOUT_MS);
    secondsToLink = (Date.now() - started) / 1000;
    process.stderr.write(`[integration] the demo printed its Web UI link after ${secondsToLink.toFixed(1)} s\n`);
  }, SETUP_TIMEOUT_MS);

  afterAll(() => group.stopAll());

  test('prints a Web UI link that the UI serves, pointed at the codec server', async () => {
    const link = demo.output.match(/^\s+(http:\/\/127\.0\.0\.1:(\d+)\/namespaces\/default\/workflows\/\S+\/history)$/m);
    expect(link, demo.output).not.toBeNull();
    expect(Number(link![2])).toBe(ports.uiPort);
    const response = await fetch(link![1]!);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    // The UI learns its codec endpoint from the dev server's settings.
    const settings = (await (await fetch(`http://127.0.0.1:${ports.uiPort}/api/v1/settings`)).json()) as {
      Codec?: { Endpoint?: string };
    };
    expect(settings.Codec?.Endpoint).toBe(`http://127.0.0.1:${ports.codecPort}`);
  });

  test('prints a temporal workflow show --codec-endpoint command that shows the decoded result', async () => {
    const command = demo.output.match(/workflow show --address (\S+) -w (\S+) --codec-endpoint (\S+)$/m);
    expect(command, demo.output).not.toBeNull();
    const [, address, workflowId, endpoint] = command!;
    expect(endpoint).toBe(`http://127.0.0.1:${ports.codecPort}`);
    const show = ['workflow', 'show', '-w', workflowId!];
    const decoded = await temporal(tools.temporal, address!, [...show, '--codec-endpoint', endpoint!]);
    expect(decoded.code, decoded.stderr).toBe(0);
    expect(decoded.stdout).toMatch(/Result\s+\{.*"status":"shipped"/);
    const plain = await temporal(tools.temporal, address!, show);
    expect(plain.stdout).toMatch(/ResultEncoding\s+binary\/encrypted/);
  });

  test('prints the throwaway key only as a fingerprint', () => {
    expect(demo.output).toMatch(/key id "default", fingerprint [0-9a-f]{16} \(a throwaway key generated/);
    expect(demo.output).not.toMatch(/base64:|hex:/);
    expect(demo.output).not.toMatch(/[A-Za-z0-9+/]{43}=/);
  });

  test('stops everything and exits 0 within 15 s of Ctrl-C', async () => {
    demo.signalGroup('SIGINT');
    const exit = await Promise.race([demo.exited, sleep(STOP_TIMEOUT_MS).then(() => 'timeout' as const)]);
    expect(exit, demo.tail()).toEqual({ code: 0, signal: null });
    expect(demo.output).toMatch(/Stopped\.\s*$/);
    for (const port of [ports.port, ports.uiPort, ports.codecPort]) {
      expect({ port, listening: await isListening(port) }).toEqual({ port, listening: false });
    }
  });
});

function isListening(port: number): Promise<boolean> {
  return new Promise((resolveListening) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveListening(true);
    });
    socket.once('error', () => resolveListening(false));
  });
}
