import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import { KeyConfigError, type KeyRing } from '../index.js';
import { createCodecServer } from './app.js';
import { createAccessControl } from './auth/auth-config.js';
import { TokenReloader } from './auth/token-reload.js';
import { askPrimaryForMetrics, runPrimary, serveClusterMetrics } from './cluster.js';
import type { CodecsLookup } from './codec-route.js';
import { type LoadedServeConfig, reloadedKeyRingProblems, type ServeConfig } from './config.js';
import { KeyReloader, loadServerKeyRing } from './key-reload.js';
import { createLogger } from './logging.js';
import { ServerMetrics } from './metrics.js';
import { buildCodecSet, type CodecSet } from './namespaces.js';

/** How `runServe` meets the process. */
export interface RunServeOptions {
  /** Where log lines go; default standard output. */
  logDestination?: DestinationStream;
  /** Where a failure to start is reported besides the log; default standard error. */
  stderr?: (text: string) => void;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * Runs `temporal-codec serve` until SIGTERM or SIGINT and returns the exit code. With more than one worker the
 * process becomes a node:cluster primary that forks workers running this same command; a worker, or a single
 * process, serves requests itself.
 */
export async function runServe(loaded: LoadedServeConfig, options: RunServeOptions = {}): Promise<number> {
  const logger = createLogger(loaded.config.logLevel, options.logDestination);
  const stderr = options.stderr ?? ((text: string) => process.stderr.write(text));
  const code =
    loaded.config.workers > 1 && cluster.isPrimary
      ? await runPrimary(loaded.config, logger, stderr)
      : await runWorker(loaded, logger, stderr);
  logger.flush();
  return code;
}

async function runWorker(loaded: LoadedServeConfig, logger: Logger, stderr: (text: string) => void): Promise<number> {
  const { config, keyRing, warnings } = loaded;
  for (const warning of warnings) logger.warn(warning);
  const metrics = new ServerMetrics();
  if (cluster.isWorker) serveClusterMetrics(metrics.registry);
  const { codecsFor, reloader } = createKeys(loaded, logger, metrics);
  const access = config.auth ? createAccessControl(config.auth, { logger, registry: metrics.registry }) : undefined;
  const tokenReloader =
    access && loaded.tokenSource
      ? new TokenReloader({
          initial: config.auth!.tokens,
          read: loaded.tokenSource.read,
          apply: access.setTokens,
          logger,
          dir: dirname(loaded.tokenSource.file),
          registry: metrics.registry,
        })
      : undefined;
  // SIGHUP reloads the keys and the tokens file (Node's default for it is to exit). In a cluster the primary forwards
  // it to each worker.
  const onHangUp = (): void => {
    if (reloader) reloader.reload('SIGHUP');
    else logger.info('SIGHUP: no keys to reload (encryption is disabled)');
    tokenReloader?.reload('SIGHUP');
  };
  process.on('SIGHUP', onHangUp);
  access?.issuerKeys?.warmUp().then(
    () => logger.info({ keys: access.issuerKeys!.describe() }, "fetched the identity provider's key set"),
    (error: Error) => logger.warn({ problem: error.message }, "cannot fetch the identity provider's key set yet"),
  );
  const codecServer = createCodecServer(config, {
    logger,
    codecsFor,
    ...(access ? { authorize: access.authorize } : {}),
    metrics,
    ...(cluster.isWorker ? { metricsText: askPrimaryForMetrics } : {}),
  });
  const { server, metricsServer } = codecServer;
  const listeners: [Server, number][] = [[server, config.port]];
  if (metricsServer) listeners.push([metricsServer, config.metricsPort ?? 0]);
  for (const [each, port] of listeners) {
    try {
      await listen(each, port, config.host);
    } catch (error) {
      const message = `cannot listen on ${config.host}:${port}: ${(error as Error).message}`;
      logger.fatal({ code: (error as NodeJS.ErrnoException).code }, message);
      for (const [other] of listeners) other.close();
      // In a worker the primary reports it; disconnecting lets the worker exit with this code.
      if (cluster.isWorker) cluster.worker?.disconnect();
      else stderr(`temporal-codec: ${message}\n`);
      return 1;
    }
  }
  const url = urlOf(server, config.tls ? 'https' : 'http');
  logger.info(
    {
      url,
      ...(metricsServer ? { metricsUrl: urlOf(metricsServer, 'http') } : {}),
      ...(cluster.isWorker ? { worker: cluster.worker?.id } : {}),
      encryption: keyRing !== undefined,
      compression: config.codec.enableCompression,
      // Fingerprints let operators check that workers and this server hold the same keys; never the keys.
      keys: keyRing
        ?.describe()
        .map((k) => ({ keyId: k.keyId, fingerprint: k.fingerprint, active: k.active, source: k.source.name })),
      corsOrigins: config.corsOrigins,
      authentication: access?.describe ?? 'none',
      ...(config.namespaceKeys ? { namespaceKeys: Object.fromEntries(config.namespaceKeys) } : {}),
      ...(config.codec.keysDir !== undefined ? { keysDir: config.codec.keysDir, hotReload: true } : {}),
    },
    cluster.isWorker ? 'worker listening' : 'codec server listening',
  );

  let stop: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
  const handlers = SIGNALS.map((signal) => [signal, () => stop(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  reloader?.watch();
  tokenReloader?.watch();
  logger.info({ signal: await stopped }, 'stopping');
  reloader?.close();
  tokenReloader?.close();
  // The handlers stay while draining, so that a second signal does not kill the process with Node's default.
  await codecServer.shutdown();
  for (const [signal, handler] of handlers) process.off(signal, handler);
  process.off('SIGHUP', onHangUp);
  logger.info('codec server stopped');
  // A worker's IPC channel would keep it alive; Node's cluster module exits a worker whose primary went away.
  if (cluster.isWorker) cluster.worker?.disconnect();
  return 0;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The URL a listening server is reached at (the port it got, when asked for 0). */
function urlOf(server: Server, scheme: 'http' | 'https'): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/**
 * The codecs, and when encryption is on the reloader that swaps them when the keys change. Namespace keys are checked
 * against every new key set (see reloadedKeyRingProblems): one that lacks a key a namespace uses, or that would let
 * anonymous callers open another namespace's payloads, is rejected like a malformed one.
 */
export function createKeys(
  loaded: LoadedServeConfig,
  logger: Logger,
  metrics: ServerMetrics,
): { codecsFor: CodecsLookup; reloader?: KeyReloader } {
  const { config, keyRing, keySource } = loaded;
  const build = (ring: KeyRing | undefined) => buildCodecSet(config.codec, ring, config.namespaceKeys);
  if (!keyRing || !keySource) return { codecsFor: build(undefined).codecsFor };
  const reloader = new KeyReloader({
    initial: { ...build(keyRing), keyRing },
    load: (onWarning) => loadServerKeyRing(keySource, onWarning),
    build: reloadedCodecSet(config),
    logger,
    ...(keySource.keysDir !== undefined ? { keysDir: keySource.keysDir } : {}),
    registry: metrics.registry,
  });
  return { codecsFor: reloader.codecsFor, reloader };
}

/**
 * The reloader's `build` for this configuration: the codecs of a new key set, or a KeyConfigError when the set does
 * not suit the configuration ({@link reloadedKeyRingProblems}).
 */
function reloadedCodecSet(config: ServeConfig) {
  return (ring: KeyRing, onWarning: (message: string) => void): CodecSet => {
    const problems = reloadedKeyRingProblems(config, ring, onWarning);
    if (problems.length > 0) throw new KeyConfigError(problems);
    return buildCodecSet(config.codec, ring, config.namespaceKeys);
  };
}
