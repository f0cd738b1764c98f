import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RouteName } from './routes.js';

/** Namespaces are client-supplied: after this many distinct ones, the rest share one label. */
const MAX_NAMESPACE_LABELS = 100;
const OTHER_NAMESPACE = '_other';

/**
 * The server's Prometheus metrics. Label values are bounded: routes are a fixed set, key ids are those of the key
 * ring (see `ServerCodecs.keyLabel`), namespaces are capped.
 */
export class ServerMetrics {
  readonly registry: Registry;
  readonly #requests: Counter<'route' | 'status'>;
  readonly #duration: Histogram<'route'>;
  readonly #inFlight: Gauge;
  readonly #bytesIn: Counter<'route'>;
  readonly #bytesOut: Counter<'route'>;
  readonly #payloads: Counter<'operation' | 'namespace' | 'key_id'>;
  readonly #encryptions: Counter<'key_id'>;
  readonly #decodeFailures: Counter<'reason'>;
  readonly #authRefusals: Counter<'reason'>;
  readonly #namespaces = new Set<string>();
  // prom-client hashes label objects on every call; the hot path reuses bound children instead (see #child).
  readonly #children = new Map<object, Map<string, unknown>>();

  constructor(options: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    const registry = (this.registry = options.registry ?? new Registry());
    const registers = [registry];
    this.#requests = new Counter({
      name: 'temporal_codec_http_requests_total',
      help: 'HTTP requests answered, by route and status (status "aborted" when the client left first).',
      labelNames: ['route', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'temporal_codec_http_request_duration_seconds',
      help: 'Time from request to the end of the response, by route.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#inFlight = new Gauge({
      name: 'temporal_codec_http_requests_in_flight',
      help: 'Requests being served.',
      registers,
    });
    this.#bytesIn = new Counter({
      name: 'temporal_codec_http_request_body_bytes_total',
      help: 'Request body bytes read, by route.',
      labelNames: ['route'],
      registers,
    });
    this.#bytesOut = new Counter({
      name: 'temporal_codec_http_response_body_bytes_total',
      help: 'Response body bytes sent by the codec routes.',
      labelNames: ['route'],
      registers,
    });
    this.#payloads = new Counter({
      name: 'temporal_codec_payloads_total',
      help: 'Payloads encoded or decoded, by namespace and encryption key id ("none": not encrypted).',
      labelNames: ['operation', 'namespace', 'key_id'],
      registers,
    });
    this.#encryptions = new Counter({
      name: 'temporal_codec_encryptions_total',
      help:
        'AES-256-GCM encryptions with a random 96-bit nonce, by key id. NIST SP 800-38D section 8.3 allows about ' +
        '2^32 per key: rotate well before a key id gets there.',
      labelNames: ['key_id'],
      registers,
    });
    this.#decodeFailures = new Counter({
      name: 'temporal_codec_decode_failures_total',
      help: 'Payloads that could not be decoded, by reason (decryption_failed, decompression_failed, ' +
        'decompressed_too_large).',
      labelNames: ['reason'],
      registers,
    });
    this.#authRefusals = new Counter({
      name: 'temporal_codec_auth_refusals_total',
      help: 'Codec requests refused by access control (a token, a namespace, a key id), by reason.',
      labelNames: ['reason'],
      registers,
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  }

  requestStarted(): void {
    this.#inFlight.inc();
  }

  requestFinished(route: RouteName, status: string, seconds: number): void {
    this.#inFlight.dec();
    this.#child(this.#requests, route, status).inc();
    this.#child(this.#duration, route).observe(seconds);
  }

  /** A request Node refused before it reached the listener (malformed, headers too large, timed out). */
  rejected(status: number): void {
    this.#child(this.#requests, 'unknown', String(status)).inc();
  }

  bodyBytes(route: RouteName, bytesIn: number, bytesOut: number): void {
    if (bytesIn > 0) this.#child(this.#bytesIn, route).inc(bytesIn);
    if (bytesOut > 0) this.#child(this.#bytesOut, route).inc(bytesOut);
  }

  /** The bound child of a labelled metric, made once per label set (label sets are bounded, see the class). */
  #child<Child>(metric: { labels(...values: string[]): Child }, ...labels: string[]): Child {
    let byLabels = this.#children.get(metric);
    if (!byLabels) this.#children.set(metric, (byLabels = new Map()));
    // NUL cannot occur in a header, a route or a key id, so the joined labels name one label set.
    const key = labels.join('\u0000');
    let child = byLabels.get(key) as Child | undefined;
    if (child === undefined) {
      child = metric.labels(...labels);
      byLabels.set(key, child);
    }
    return child;
  }

  /** Counts one request's payloads, given as key label -> count. */
  payloads(operation: 'encode' | 'decode', namespace: string, byKey: ReadonlyMap<string, number>): void {
    const ns = this.#namespaceLabel(namespace);
    for (const [keyId, count] of byKey) {
      this.#child(this.#payloads, operation, ns, keyId).inc(count);
      if (operation === 'encode' && keyId !== 'none') this.#child(this.#encryptions, keyId).inc(count);
    }
  }

  decodeFailure(reason: string): void {
    this.#child(this.#decodeFailures, reason).inc();
  }

  /** A request refused by access control, whether by the authorizer or by a namespace's key ids. */
  authRefused(reason: string): void {
    this.#child(this.#authRefusals, reason).inc();
  }

  #namespaceLabel(namespace: string): string {
    if (namespace === '') return '';
    if (this.#namespaces.has(namespace)) return namespace;
    if (this.#namespaces.size >= MAX_NAMESPACE_LABELS || namespace.length > 100) return OTHER_NAMESPACE;
    this.#namespaces.add(namespace);
    return namespace;
  }
}
