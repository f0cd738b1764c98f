/// <reference lib="dom" />
/**
 * Access control end to end: the real Temporal CLI with `--codec-auth "Bearer <token>"` against a codec server that
 * requires static tokens, and the real Web UI (Chromium) forwarding a signed-in user's JWT to an https codec server
 * that verifies it against a local identity provider's key set.
 *
 * The dev server's UI has no sign-in (its auth is off), so the test gives it a signed-in user the way the UI keeps
 * one: the `AuthUser` entry of localStorage, which its codec client reads for "pass access token" (UI 2.54: the
 * `Authorization: Bearer <accessToken>` and `Authorization-Extras: <idToken>` headers, only for an https endpoint).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
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
import { AUDIENCE, type Idp, signToken, startIdp } from '../server/auth-helpers.js';
import {
  ARTIFACTS_DIR,
  cleanEnv,
  codecCliEntry,
  describeWithTools,
  type DevServer,
  freePorts,
  makeTestKeys,
  type ManagedProcess,
  type ProcessGroup,
  SETUP_TIMEOUT_MS,
  startDevServer,
  startOrderWorker,
  temporal,
  testProcessGroup,
  type TestKeys,
  waitFor,
} from './harness.js';

interface AuthCodecServer {
  url: string;
  process: ManagedProcess;
}

/**
 * `temporal-codec serve` with authentication: ready once GET /readyz answers (the harness's own start probes
 * POST /decode without a token, which this server refuses).
 */
async function startAuthCodecServer(
  group: ProcessGroup,
  options: { port: number; env: Record<string, string>; args?: string[]; https?: boolean },
): Promise<AuthCodecServer> {
  const codec = group.start({
    name: `codec-server-${options.port}`,
    command: process.execPath,
    args: ['--import', 'tsx', codecCliEntry(), 'serve', '--host', '127.0.0.1', '--port', String(options.port), '--workers', '1', ...(options.args ?? [])],
    env: cleanEnv(options.env),
  });
  const url = `${options.https ? 'https' : 'http'}://127.0.0.1:${options.port}`;
  await codec.waitForOutput(/"msg":"codec server listening"/, 30_000);
  return { url, process: codec };
}

/** Sets up the sample order workflow's keys, dev server and worker, and runs one order to completion. */
async function runOneOrder(
  group: ProcessGroup,
  temporalCli: string,
  keys: TestKeys,
  devOptions: Parameters<typeof startDevServer>[2],
): Promise<{ server: DevServer; orders: OrderClient; order: ReturnType<typeof sampleOrder>; workflowId: string; runId: string; result: OrderResult }> {
  const taskQueue = `order-queue-${randomBytes(3).toString('hex')}`;
  const server = await startDevServer(group, temporalCli, devOptions);
  await startOrderWorker(group, { address: server.address, taskQueue, env: keys.env });
  const orders = await connectOrderClient({
    address: server.address,
    dataConverter: createDataConverter({ encryptionKeyID: keys.keyId, env: keys.env }),
  });
  group.defer(() => orders.close());
  const order = sampleOrder();
  const handle = await startOrder(orders.client, taskQueue, order);
  await approveOrder(handle, 'order-desk');
  const result = await handle.result();
  return { server, orders, order, workflowId: handle.workflowId, runId: handle.firstExecutionRunId, result };
}

const token = (): string => randomBytes(32).toString('base64url');

describeWithTools('the Temporal CLI with --codec-auth against a codec server that requires tokens', ['temporal'], (tools) => {
  const group = testProcessGroup('auth-cli');
  const keys = makeTestKeys();
  const tokens = { full: token(), decodeOnly: token(), otherNamespace: token() };
  let codec: AuthCodecServer;
  let setup: Awaited<ReturnType<typeof runOneOrder>>;

  const show = (auth: string | undefined, endpoint = codec.url, extra: string[] = []) =>
    temporal(tools.temporal, setup.server.address, [
      'workflow', 'show', '-w', setup.workflowId, '--codec-endpoint', endpoint, ...(auth ? ['--codec-auth', auth] : []),
      ...extra,
    ]);

  beforeAll(async () => {
    const [port] = await freePorts(1);
    const env = {
      ...keys.env,
      TEMPORAL_CODEC_AUTH_TOKENS: JSON.stringify([
        { name: 'cli-full', token: tokens.full, namespaces: ['default'], rights: ['decode', 'encode'] },
        { name: 'cli-read', token: tokens.decodeOnly, namespaces: ['default'], rights: ['decode'] },
        { name: 'cli-other', token: tokens.otherNamespace, namespaces: ['other'], rights: ['decode', 'encode'] },
      ]),
    };
    [codec, setup] = await Promise.all([
      startAuthCodecServer(group, { port: port!, env }),
      runOneOrder(group, tools.temporal, keys, { headless: true }),
    ]);
  }, SETUP_TIMEOUT_MS);

  afterAll(() => group.stopAll());

  test('decodes the history for a token allowed in the namespace, through the plain and the {namespace} endpoint', async () => {
    for (const endpoint of [codec.url, `${codec.url}/{namespace}`]) {
      const shown = await show(`Bearer ${tokens.full}`, endpoint);
      expect(shown.code, shown.stderr).toBe(0);
      const resultLine = shown.stdout.split('\n').find((line) => /^\s*Result\s+\{/.test(line));
      expect(resultLine, shown.stdout).toBeDefined();
      expect(JSON.parse(resultLine!.replace(/^\s*Result\s+/, ''))).toEqual(setup.result);
      expect(shown.stdout).toMatch(/ResultEncoding\s+json\/plain/);
    }
    const log = codec.process.output;
    expect(log).toMatch(/"principal":\{"kind":"token","name":"cli-full"\}/);
    expect(log).toMatch(/"url":"\/default\/decode"/);
  });

  // The CLI (1.9, Go SDK remote codec) does not print the codec server's answer: its gRPC retry interceptor retries
  // the failed codec call until the command's deadline and reports "context deadline exceeded". The refusal, with
  // the server's message, is on the codec server's log line of each attempt.
  test("a wrong token, a missing token and a token of another namespace are refused, with the reason in the server's log", async () => {
    const cases: [string | undefined, number, string][] = [
      ['Bearer not-a-configured-token', 401, 'the bearer token is not one of the configured tokens'],
      [undefined, 401, 'authentication is required: send Authorization: Bearer <token>'],
      [
        `Bearer ${tokens.otherNamespace}`,
        403,
        'token "cli-other" may not decode in namespace "default": it needs "decode" in its rights and "default" (or "*") in its namespaces',
      ],
    ];
    for (const [auth, status, message] of cases) {
      const before = codec.process.output.length;
      const refused = await show(auth, codec.url, ['--command-timeout', '5s']);
      const output = refused.stdout + refused.stderr;
      expect(refused.code, output).not.toBe(0);
      expect(output).toMatch(/context deadline exceeded/);
      expect(output).not.toContain(setup.order.cardToken);
      expect(output).not.toContain(setup.result.trackingNumber);
      const lines = codec.process.output.slice(before).split('\n').filter((line) => line.includes('"msg":"request completed"'));
      expect(lines.length, codec.process.output.slice(before)).toBeGreaterThan(0);
      for (const line of lines) {
        expect(JSON.parse(line)).toMatchObject({ res: { statusCode: status }, error: { message } });
      }
    }
  });

  test('workflow start encodes through /encode only with the encode right', async () => {
    const start = (auth: string) =>
      temporal(tools.temporal, setup.server.address, [
        'workflow', 'start', '--task-queue', `nobody-${randomBytes(3).toString('hex')}`, '--type', 'orderWorkflow',
        '-w', `cli-auth-${randomBytes(4).toString('hex')}`, '--input', '{"orderId":"x"}',
        '--codec-endpoint', codec.url, '--codec-auth', auth, '--command-timeout', '10s',
      ]);
    const allowed = await start(`Bearer ${tokens.full}`);
    expect(allowed.code, allowed.stderr).toBe(0);
    const before = codec.process.output.length;
    const refused = await start(`Bearer ${tokens.decodeOnly}`);
    expect(refused.code).not.toBe(0);
    expect(codec.process.output.slice(before)).toContain('token \\"cli-read\\" may not encode in namespace \\"default\\"');
  });

  test("the codec server's log names tokens and never holds them", () => {
    const log = codec.process.output;
    for (const secret of Object.values(tokens)) expect(log).not.toContain(secret);
    expect(log).toContain('"name":"cli-other"');
    expect(log).toContain('"authorization":"[Redacted]"');
  });
});

describeWithTools('the Web UI forwarding a signed-in user\'s JWT to an https codec server', ['temporal', 'chromium'], (tools) => {
  const group = testProcessGroup('auth-web-ui');
  const keys = makeTestKeys();
  let idp: Idp;
  let codec: AuthCodecServer;
  let setup: Awaited<ReturnType<typeof runOneOrder>>;
  let browser: Browser;

  beforeAll(async () => {
    idp = await startIdp();
    group.defer(() => idp.close());
    const [codecPort, uiPort] = await freePorts(2);
    const uiOrigin = `http://127.0.0.1:${uiPort}`;
    const tls = selfSignedCertificate();
    const env = {
      ...keys.env,
      TEMPORAL_CODEC_JWKS_URL: idp.jwksUrl,
      TEMPORAL_CODEC_JWT_ISSUER: idp.issuer,
      TEMPORAL_CODEC_JWT_AUDIENCE: AUDIENCE,
      TEMPORAL_CODEC_CORS_ORIGINS: uiOrigin,
      TEMPORAL_CODEC_TLS_CERT: tls.cert,
      TEMPORAL_CODEC_TLS_KEY: tls.key,
    };
    [codec, setup] = await Promise.all([
      startAuthCodecServer(group, { port: codecPort!, env, https: true }),
      runOneOrder(group, tools.temporal, keys, { uiPort, codecEndpoint: `https://127.0.0.1:${codecPort}` }),
    ]);
    browser = await chromium.launch({ executablePath: tools.chromium, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    group.defer(() => browser.close());
  }, SETUP_TIMEOUT_MS);

  afterAll(() => group.stopAll());

  /**
   * A browser context whose UI has a signed-in user with these tokens. The dev server's UI runs without sign-in, and
   * its root layout clears the stored user whenever its settings say auth is off; this context sees the settings of
   * a UI with OIDC sign-in and "pass access token" on (what `auth.enabled` and `codec.passAccessToken` in a UI
   * server's config give), and finds the user the UI keeps after sign-in in localStorage (`AuthUser`). Everything
   * after that is the UI's own codec client: the headers, CORS with credentials, and what it does with the answer.
   */
  async function signedIn(accessToken: string, idToken: string): Promise<BrowserContext> {
    // The codec server's certificate is self-signed: this context trusts it (the UI only sends tokens over https).
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1600 } });
    await context.route(/\/api\/v1\/settings/, async (route) => {
      const response = await route.fetch();
      const settings = (await response.json()) as { Auth: Record<string, unknown>; Codec: Record<string, unknown> };
      settings.Auth = { ...settings.Auth, Enabled: true };
      settings.Codec = { ...settings.Codec, Endpoint: codec.url, PassAccessToken: true, IncludeCredentials: true };
      await route.fulfill({ response, json: settings });
    });
    await context.addInitScript((user) => {
      const storage = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage;
      storage.setItem('AuthUser', JSON.stringify(user));
    }, { accessToken, idToken, name: 'UI User', email: 'ui-user@example.com' });
    return context;
  }

  interface CodecRequest {
    status: number;
    statusText: string;
    authorization?: string | undefined;
    extras?: string | undefined;
  }

  async function openHistory(context: BrowserContext, name: string): Promise<{ page: Page; codecRequests: CodecRequest[] }> {
    const page = await context.newPage();
    const codecRequests: CodecRequest[] = [];
    page.on('response', (response) => {
      const request = response.request();
      if (!request.url().startsWith(codec.url) || request.method() !== 'POST') return;
      void request.allHeaders().then((headers) =>
        codecRequests.push({
          status: response.status(),
          statusText: response.statusText(),
          authorization: headers.authorization,
          extras: headers['authorization-extras'],
        }),
      );
    });
    await page.goto(`${setup.server.uiUrl}/namespaces/default/workflows/${setup.workflowId}/${setup.runId}/history`);
    try {
      await page.waitForFunction(() => document.body.innerText.includes('Input'), undefined, { timeout: 60_000 });
      await waitFor('a codec request', async () => (codecRequests.length > 0 ? true : undefined), { timeoutMs: 30_000 });
    } finally {
      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS_DIR, `auth-web-ui-${name}.png`), fullPage: true });
    }
    return { page, codecRequests };
  }

  test('a user with read on the namespace sees decoded payloads; the codec server logs their subject', async () => {
    const claims = { permissions: ['default:read'] };
    const context = await signedIn(
      await signToken(idp, claims, { subject: 'ui-reader@example.com' }),
      await signToken(idp, {}, { subject: 'ui-reader@example.com' }),
    );
    try {
      const { page, codecRequests } = await openHistory(context, 'allowed');
      await page.waitForFunction(
        (wanted) => wanted.every((text) => document.body.innerText.includes(text)),
        [setup.order.cardToken, setup.result.trackingNumber],
        { timeout: 60_000 },
      );
      expect(codecRequests.length).toBeGreaterThan(0);
      expect(codecRequests.every((r) => r.status === 200)).toBe(true);
      expect(codecRequests.every((r) => r.authorization?.startsWith('Bearer ey') && r.extras?.startsWith('ey'))).toBe(true);
    } finally {
      await context.close();
    }
    expect(codec.process.output).toMatch(/"principal":\{"kind":"jwt","name":"ui-reader@example.com"\}/);
  });

  test('a user without read on the namespace gets 403 and sees no plaintext; an expired token gets 401', async () => {
    for (const [name, accessToken, status] of [
      ['forbidden', await signToken(idp, { permissions: ['other:read'] }, { subject: 'ui-outsider@example.com' }), 403],
      ['expired', await signToken(idp, { permissions: ['default:read'] }, { expiresIn: -300 }), 401],
    ] as const) {
      const context = await signedIn(accessToken, accessToken);
      try {
        const { page, codecRequests } = await openHistory(context, name);
        await waitFor(`the ${status}`, async () => (codecRequests.some((r) => r.status === status) ? true : undefined), {
          timeoutMs: 30_000,
        });
        // 4xx are not retried by the UI; it shows the payloads as stored, and the status text says why.
        expect(codecRequests.every((r) => r.status === status)).toBe(true);
        expect(codecRequests[0]!.statusText).toBe(
          status === 403 ? 'Forbidden: not allowed in this namespace' : 'Unauthorized: token expired',
        );
        const text = await page.locator('body').innerText();
        expect(text).not.toContain(setup.order.cardToken);
        expect(text).not.toContain(setup.result.trackingNumber);
      } finally {
        await context.close();
      }
    }
    const log = codec.process.output;
    const refused = log.split('\n').filter((line) => line.includes('"statusCode":403'));
    expect(refused.length).toBeGreaterThan(0);
    for (const line of refused) expect(line).toContain('"principal":{"kind":"jwt","name":"ui-outsider@example.com"}');
    expect(log).toContain('ui-outsider@example.com may not decode in namespace \\"default\\"');
    expect(log).toContain('the bearer token has expired');
  });
});

/** A throwaway certificate for 127.0.0.1, from the openssl command line. */
function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'codec-auth-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  writeFileSync(join(dir, 'README'), 'test certificate, deleted with the temporary directory\n');
  return { cert, key };
}
