import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { ServeConfig } from './config.js';
import { HttpError } from './errors.js';

const METRICS_REQUEST = 'temporal-codec:metrics-request';
const METRICS_RESPONSE = 'temporal-codec:metrics-response';

interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

/** A crash loop is not worth restarting: this many unexpected exits within a minute stop the server. */
const MAX_RESTARTS_PER_MINUTE = 10;

/**
 * The node:cluster primary: forks `config.workers` workers (each re-runs this command and serves on the shared
 * port), restarts one that crashes, answers their `/metrics` with every worker's metrics summed
 * (prom-client's AggregatorRegistry), and on SIGTERM/SIGINT tells each to drain, waiting for all to exit.
 */
export async function runPrimary(config: ServeConfig, logger: Logger, stderr: (text: string) => void): Promise<number> {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker: Worker, message: { type?: string; id?: number }) => {
    if (message?.type !== METRICS_REQUEST) return;
    const reply = (body: Partial<MetricsResponse>): void => {
      if (worker.isConnected()) worker.send({ type: METRICS_RESPONSE, id: message.id, ...body });
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: Error) => reply({ error: error.message }),
    );
  });

  let stopping = false;
  let failed = false;
  const listening = new Set<number>();
  const restarts: number[] = [];
  const fork = (): Worker => cluster.fork();

  return new Promise<number>((resolve) => {
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason: why, workers: Object.keys(cluster.workers ?? {}).length }, 'stopping workers');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      // Workers cut their own connections at shutdownTimeout; past that, one is stuck.
      setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) {
          logger.error({ worker: worker?.id }, 'worker did not stop in time: killing it');
          worker?.process.kill('SIGKILL');
        }
      }, config.shutdownDelay + config.shutdownTimeout + 1_000).unref();
      checkDone();
    };
    const checkDone = (): void => {
      if (stopping && Object.keys(cluster.workers ?? {}).length === 0) {
        for (const [signal, handler] of handlers) process.off(signal, handler);
        process.off('SIGHUP', forwardHangUp);
        logger.info('codec server stopped');
        resolve(failed ? 1 : 0);
      }
    };
    const handlers = (['SIGTERM', 'SIGINT'] as const).map((signal) => [signal, () => stop(signal)] as const);
    for (const [signal, handler] of handlers) process.on(signal, handler);
    // Each worker holds its own keys and tokens: SIGHUP to the primary (what an operator sends) reloads them all. Only
    // workers that listen have their handler; one still starting reads the keys and tokens as they are now anyway.
    const forwardHangUp = (): void => {
      logger.info({ workers: listening.size }, 'SIGHUP: asking every worker to reload its keys and tokens');
      for (const id of listening) cluster.workers?.[id]?.process.kill('SIGHUP');
    };
    process.on('SIGHUP', forwardHangUp);

    let announced = false;
    // A worker listens on the codec port, then on the metrics port when there is one; it has started once it listens
    // on all of them (one that fails on the metrics port has never started: see 'exit').
    const ports = config.separateMetrics ? 2 : 1;
    const listened = new Map<number, number>();
    const urls: { url?: string; metricsUrl?: string } = {};
    cluster.on('listening', (worker, address) => {
      const count = (listened.get(worker.id) ?? 0) + 1;
      listened.set(worker.id, count);
      const host = address.addressType === 6 ? `[${address.address}]` : address.address;
      if (count === 1) urls.url ??= `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;
      else urls.metricsUrl ??= `http://${host}:${address.port}`;
      if (count < ports) return;
      listening.add(worker.id);
      if (!announced && listening.size === config.workers) {
        announced = true;
        logger.info({ ...urls, workers: config.workers }, 'codec server listening');
      }
    });
    cluster.on('exit', (worker, code, signal) => {
      listened.delete(worker.id);
      const started = listening.delete(worker.id);
      if (stopping) return checkDone();
      if (!started) {
        // It never listened (port taken, bad certificate): every other worker would fail the same way.
        failed = true;
        const where = ports > 1 ? ' on both its ports' : '';
        stderr(`temporal-codec: a worker exited with code ${code} before listening${where}; see the log\n`);
        logger.fatal({ worker: worker.id, code, signal }, 'worker failed to start');
        return stop('worker failed to start');
      }
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
      if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
        failed = true;
        logger.fatal({ restarts: restarts.length }, 'workers keep crashing: stopping');
        return stop('crash loop');
      }
      logger.error({ worker: worker.id, code, signal }, 'worker exited unexpectedly: starting another');
      fork();
    });

    for (let i = 0; i < config.workers; i++) fork();
  });
}

/** In a worker: let the primary's AggregatorRegistry collect this worker's registry. */
export function serveClusterMetrics(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one in a worker installs prom-client's listener that answers the primary.
  new AggregatorRegistry();
}

let nextRequestId = 0;

/** In a worker: the whole cluster's metrics, from the primary. */
export function askPrimaryForMetrics(): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const id = nextRequestId++;
    const done = (): void => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    // prom-client gives up on a silent worker after 5 s; wait a little longer for its answer.
    const timer = setTimeout(() => {
      done();
      reject(new HttpError('unavailable', 'cluster metrics are unavailable: the primary did not answer'));
    }, 6_000);
    const onMessage = (message: MetricsResponse): void => {
      if (message?.type !== METRICS_RESPONSE || message.id !== id) return;
      done();
      if (message.text !== undefined) resolve(message.text);
      else reject(new HttpError('unavailable', `cluster metrics are unavailable: ${message.error ?? 'no answer'}`));
    };
    process.on('message', onMessage);
    process.send?.({ type: METRICS_REQUEST, id });
  });
}
