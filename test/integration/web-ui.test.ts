/// <reference lib="dom" />
/**
 * The Temporal Web UI in a real browser (Chromium through playwright-core), configured with the codec server as its
 * remote codec endpoint: it decodes payloads cross-origin (CORS preflight and POST /decode), shows the decoded input
 * and result, and never the ciphertext. Screenshots go to artifacts/integration/.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  approveOrder,
  connectOrderClient,
  type OrderClient,
  sampleOrder,
  startOrder,
} from '../../examples/order-workflow/client.js';
import type { OrderResult } from '../../examples/order-workflow/types.js';
import { createDataConverter } from '../../src/index.js';
import {
  ARTIFACTS_DIR,
  type CodecServer,
  describeWithTools,
  type DevServer,
  freePorts,
  makeTestKeys,
  SETUP_TIMEOUT_MS,
  startCodecServer,
  startDevServer,
  startOrderWorker,
  testProcessGroup,
} from './harness.js';
import { eventsOfType, fetchRawHistory, findPayloads } from './history.js';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

interface CodecExchange {
  method: string;
  url: string;
  origin: string | undefined;
  status?: number;
  allowOrigin?: string | undefined;
  failure?: string;
}

describeWithTools('the Temporal Web UI with the codec server', ['temporal', 'chromium'], (tools) => {
  const group = testProcessGroup('web-ui');
  const keys = makeTestKeys();
  const taskQueue = `order-queue-${randomBytes(3).toString('hex')}`;
  let server: DevServer;
  let codec: CodecServer;
  let orders: OrderClient;
  let browser: Browser;
  const shipped = {
    order: sampleOrder(),
    workflowId: '',
    runId: '',
    result: undefined as OrderResult | undefined,
    ciphertext: [] as string[],
  };
  const failed = { order: sampleOrder({ simulateShippingFailure: true }), workflowId: '', runId: '' };

  beforeAll(async () => {
    const [codecPort, uiPort] = await freePorts(2);
    const uiOrigin = `http://127.0.0.1:${uiPort}`;
    // The codec server starts while the dev server and then the worker (bundling its workflows) do.
    [codec, server] = await Promise.all([
      startCodecServer(group, { port: codecPort, corsOrigins: [uiOrigin], env: keys.env }),
      startDevServer(group, tools.temporal, { uiPort, codecEndpoint: `http://127.0.0.1:${codecPort}` }).then(
        async (started) => {
          await startOrderWorker(group, { address: started.address, taskQueue, env: keys.env });
          return started;
        },
      ),
    ]);
    expect(server.uiUrl).toBe(uiOrigin);
    expect(codec.url).toBe(`http://127.0.0.1:${codecPort}`);
    orders = await connectOrderClient({
      address: server.address,
      dataConverter: createDataConverter({ encryptionKeyID: keys.keyId, env: keys.env }),
    });
    group.defer(() => orders.close());

    const handle = await startOrder(orders.client, taskQueue, shipped.order);
    const failing = await startOrder(orders.client, taskQueue, failed.order);
    await approveOrder(handle, 'order-desk');
    await approveOrder(failing, 'order-desk');
    shipped.result = await handle.result();
    await failing.result().catch(() => undefined);
    Object.assign(shipped, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
    Object.assign(failed, { workflowId: failing.workflowId, runId: failing.firstExecutionRunId });

    const raw = await fetchRawHistory(orders.client, handle.workflowId);
    for (const type of ['EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED']) {
      const [event] = eventsOfType(raw.json, type);
      shipped.ciphertext.push(findPayloads(event)[0]!.data!.slice(0, 32));
    }

    browser = await chromium.launch({ executablePath: tools.chromium, args: CHROMIUM_ARGS });
    group.defer(() => browser.close());
  }, SETUP_TIMEOUT_MS);

  afterAll(() => group.stopAll());

  /**
   * Opens a page that records every exchange with the codec server through CDP, which (unlike page.on('request'))
   * also reports CORS preflights; the Origin header is only in the "extra info" events, sent once on the wire.
   */
  async function openRecordingPage(): Promise<{ page: Page; exchanges: () => CodecExchange[] }> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1600 } });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const byId = new Map<string, CodecExchange>();
    const originById = new Map<string, string | undefined>();
    cdp.on('Network.requestWillBeSent', (event) => {
      if (!event.request.url.startsWith(codec.url)) return;
      byId.set(event.requestId, {
        method: event.request.method,
        url: event.request.url,
        origin: headerValue(event.request.headers, 'origin'),
      });
    });
    cdp.on('Network.requestWillBeSentExtraInfo', (event) => {
      originById.set(event.requestId, headerValue(event.headers, 'origin'));
    });
    cdp.on('Network.responseReceived', (event) => {
      const exchange = byId.get(event.requestId);
      if (!exchange) return;
      exchange.status = event.response.status;
      exchange.allowOrigin = headerValue(event.response.headers, 'access-control-allow-origin');
    });
    cdp.on('Network.loadingFailed', (event) => {
      const exchange = byId.get(event.requestId);
      if (exchange) exchange.failure = event.errorText;
    });
    const exchanges = (): CodecExchange[] =>
      [...byId].map(([id, exchange]) => ({ ...exchange, origin: exchange.origin ?? originById.get(id) }));
    return { page, exchanges };
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    mkdirSync(ARTIFACTS_DIR, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS_DIR, `web-ui-${name}.png`), fullPage: true });
  }

  test('the workflow page decodes input and result through the codec server, cross-origin', async () => {
    const { page, exchanges } = await openRecordingPage();
    const url = `${server.uiUrl}/namespaces/default/workflows/${shipped.workflowId}/${shipped.runId}/history`;
    try {
      await page.goto(url);
      await waitForText(page, [shipped.order.cardToken, shipped.result!.trackingNumber]);
    } finally {
      await screenshot(page, 'shipped-order');
    }
    const text = await page.locator('body').innerText();
    const html = await page.content();
    expect(text).toContain(shipped.order.customer.email);
    expect(text).toContain(shipped.order.customer.address);
    expect(text).toContain(shipped.result!.chargeId);
    expect(text).not.toContain('binary/encrypted');
    for (const ciphertext of shipped.ciphertext) expect(html).not.toContain(ciphertext);

    const recorded = exchanges();
    const posts = recorded.filter((exchange) => exchange.method === 'POST');
    const preflights = recorded.filter((exchange) => exchange.method === 'OPTIONS');
    expect(recorded.length).toBe(posts.length + preflights.length);
    expect(posts.length).toBeGreaterThan(0);
    expect(preflights.length).toBeGreaterThan(0);
    for (const exchange of [...posts, ...preflights]) {
      expect(exchange).toMatchObject({ origin: server.uiUrl, allowOrigin: server.uiUrl });
      expect(new URL(exchange.url).pathname).toMatch(/\/decode$/);
      expect(exchange.failure).toBeUndefined();
    }
    expect(posts.every((exchange) => exchange.status === 200)).toBe(true);
    expect(preflights.every((exchange) => exchange.status === 204 || exchange.status === 200)).toBe(true);
    await page.close();
  });

  // The UI (2.54) decodes a failure's encrypted attributes for the failure panel; its event list still reads
  // "Encoded failure", which is what the server stores.
  test("a failed workflow's page shows the failure message decoded from its encrypted attributes", async () => {
    const { page } = await openRecordingPage();
    const url = `${server.uiUrl}/namespaces/default/workflows/${failed.workflowId}/${failed.runId}/history`;
    try {
      await page.goto(url);
      await waitForText(page, ['could not be shipped; refund']);
    } finally {
      await screenshot(page, 'failed-order');
    }
    const text = await page.locator('body').innerText();
    expect(text).toContain(failed.order.cardToken);
    await page.close();
  });

  test("the codec server's log of these requests names key ids, never keys or payload contents", () => {
    const log = codec.process.output;
    expect(log).toMatch(/"method":"OPTIONS"/);
    expect(log).toContain(`"keyIds":["${keys.keyId}"]`);
    for (const secret of [
      keys.key.toString('base64'),
      keys.key.toString('hex'),
      shipped.order.cardToken,
      shipped.order.customer.email,
      failed.order.cardToken,
      ...shipped.ciphertext,
    ]) {
      expect(log).not.toContain(secret);
    }
  });

  test('a page from an origin the codec server does not allow cannot use it', async () => {
    const page = await browser.newPage();
    // Same UI, other origin: `localhost` is not in --cors-origins (only http://127.0.0.1:<port> is).
    const otherOrigin = `http://localhost:${server.uiPort}`;
    await page.goto(`${otherOrigin}/`);
    const outcome = await page.evaluate(async (codecUrl) => {
      try {
        const response = await fetch(`${codecUrl}/decode`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
          body: '{"payloads":[]}',
        });
        return `answered ${response.status}`;
      } catch (error) {
        return `blocked: ${String(error)}`;
      }
    }, codec.url);
    expect(outcome).toMatch(/^blocked: TypeError/);
    await page.close();
  });
});

/** Waits until the page's visible text holds every one of `texts` (decoding is asynchronous, one request per group). */
async function waitForText(page: Page, texts: readonly string[]): Promise<void> {
  // Runs in the page. The UI's CSP forbids string evaluation, and the test's tsconfig has no DOM types.
  const allShown = (wanted: readonly string[]): boolean => {
    const text = (globalThis as unknown as { document: { body: { innerText: string } } }).document.body.innerText;
    return wanted.every((item) => text.includes(item));
  };
  await page.waitForFunction(allShown, texts, { timeout: 60_000 });
}

function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return entry ? String(entry[1]) : undefined;
}

