/**
 * The Kubernetes manifests against the server itself: the Deployment's environment is run through the server's own
 * configuration loader (with the Secrets and ConfigMaps materialized as files where the pod would mount them), its
 * probes are sent to a server started in process, and ports, paths, the keys directory and the worker count must agree.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODEC_ENV, parseKeyValue } from '../../src/index.js';
import { createCodecServer } from '../../src/server/app.js';
import { isLoopback } from '../../src/server/config-source.js';
import { DEFAULT_PORT, type LoadedServeConfig, loadServeConfig, SERVE_ENV } from '../../src/server/config.js';
import { ACTIVE_KEY_ID_FILE } from '../../src/keys/active-key-id-file.js';
import { createLogger } from '../../src/server/logging.js';
import { buildCodecSet } from '../../src/server/namespaces.js';
import { matchRoute } from '../../src/server/routes.js';
import { call } from '../server/helpers.js';
import { keyFile, writeSecretDir } from '../server/key-reload-helpers.js';

const DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };

const files = readdirSync(DIR).filter((name) => name.endsWith('.yaml'));
const manifests: (Manifest & { file: string })[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return { ...(doc.toJSON() as Manifest), file };
  }),
);
const one = (kind: string, name?: string): Manifest => {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  expect(found.map((m) => `${m.kind}/${m.metadata.name}`), `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

const deployment = one('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const KNOWN_VARIABLES = new Set<string>([...Object.values(SERVE_ENV), ...Object.values(CODEC_ENV)]);

/** The container's port number for a probe's or Service's `port` (a number or a port name). */
function portNumber(port: number | string): number {
  if (typeof port === 'number') return port;
  const named = container.ports.find((p: { name: string }) => p.name === port);
  expect(named, `no container port named ${port}`).toBeDefined();
  return named.containerPort;
}

function cpuCount(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}

/** The Secret or ConfigMap (from its example, for Secrets) a volume is made from, and the files it would hold. */
function volumeFiles(volumeName: string): { source: Manifest; files: Record<string, string> } {
  const volume = pod.volumes.find((v: { name: string }) => v.name === volumeName);
  const ref = volume.secret ? { kind: 'Secret', name: volume.secret.secretName } : { kind: 'ConfigMap', name: volume.configMap.name };
  const source = one(ref.kind, ref.name);
  const data: Record<string, string> = source.stringData ?? source.data ?? {};
  const items: { key: string; path: string }[] | undefined = (volume.secret ?? volume.configMap).items;
  const selected = items ? Object.fromEntries(items.map((item) => [item.path, data[item.key]!])) : { ...data };
  return { source, files: selected };
}

/** Real-looking values in place of the examples' placeholders, so that the server's loader can check the rest. */
function fillPlaceholders(name: string, text: string): string {
  if (!text.includes('PLACEHOLDER')) return text;
  if (name.endsWith('.yaml')) {
    const document = parse(text) as Record<string, unknown>[];
    for (const entry of document) {
      if (String(entry.tokenSha256).includes('PLACEHOLDER')) entry.tokenSha256 = randomBytes(32).toString('hex');
      if (String(entry.token).includes('PLACEHOLDER')) entry.token = randomBytes(32).toString('base64url');
    }
    return stringify(document);
  }
  return keyFile();
}

let root: string;
let loaded: LoadedServeConfig;
let loadError: Error | undefined;
let env: Record<string, string>;

beforeAll(() => {
  // The pod's file system: each mounted volume written where the container would see it, under a temporary root.
  root = mkdtempSync(join(tmpdir(), 'codec-pod-'));
  for (const mount of container.volumeMounts as { name: string; mountPath: string }[]) {
    const target = join(root, mount.mountPath);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    if (volume.emptyDir) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    const { files: contents } = volumeFiles(mount.name);
    writeSecretDir(target, Object.fromEntries(Object.entries(contents).map(([name, text]) => [name, fillPlaceholders(name, text)])));
  }
  env = {};
  for (const source of container.envFrom ?? []) Object.assign(env, one('ConfigMap', source.configMapRef.name).data);
  for (const variable of container.env as { name: string; value?: string; valueFrom?: any }[]) {
    const resource = variable.valueFrom?.resourceFieldRef;
    if (resource) {
      expect(resource).toMatchObject({ containerName: container.name, resource: 'limits.cpu', divisor: '1' });
      env[variable.name] = String(Math.ceil(cpuCount(container.resources.limits.cpu)));
    } else {
      env[variable.name] = variable.value!;
    }
  }
  // Paths into mounted volumes, as seen under the temporary root.
  const podEnv = Object.fromEntries(
    Object.entries(env).map(([name, value]) => {
      const mounted = (container.volumeMounts as { mountPath: string }[]).some((m) => value.startsWith(`${m.mountPath}/`) || value === m.mountPath);
      return [name, mounted ? join(root, value) : value];
    }),
  );
  try {
    loaded = loadServeConfig({}, podEnv);
  } catch (error) {
    // Reported by the tests below (each needs the configuration), rather than as a setup failure that skips them.
    loadError = error as Error;
  }
});

/** The configuration the server makes of the Deployment's environment; fails the calling test if it makes none. */
function current(): LoadedServeConfig {
  expect(loadError?.message, 'the server does not accept the Deployment\'s configuration').toBeUndefined();
  return loaded;
}

describe('the Kubernetes manifests', () => {
  it('are listed in the kustomization, all but the example Secrets', () => {
    const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual(files.filter((f) => !f.includes('example') && f !== 'kustomization.yaml').sort());
  });

  it("set only variables the server reads, and make a configuration its loader accepts (auth on, so off loopback)", () => {
    for (const name of Object.keys(env)) expect(KNOWN_VARIABLES, `unknown variable ${name}`).toContain(name);
    const { config } = current();
    expect(isLoopback(config.host)).toBe(false);
    expect(config.auth?.tokens.length).toBeGreaterThan(0);
    expect(config.auth?.jwt?.oidcIssuer).toMatch(/^https:/);
    expect(config.namespaceKeys?.size).toBeGreaterThan(0);
    expect(config.allowUnauthenticated).toBe(false);
    expect(current().keyRing?.activeKeyId).toBe(one('Secret', 'temporal-codec-keys').stringData[ACTIVE_KEY_ID_FILE]);
  });

  it('mount the keys Secret, without subPath, at the keys directory the server reads', () => {
    const keysDir = env[CODEC_ENV.keysDir];
    expect(keysDir).toBeDefined();
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === keysDir);
    expect(mount, `no volume is mounted at ${keysDir}`).toBeDefined();
    // A subPath mount never sees Secret updates: hot reload would silently stop.
    expect(mount.subPath).toBeUndefined();
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.secret?.secretName).toBe('temporal-codec-keys');
    expect(volume.secret.items).toBeUndefined();
    expect(current().config.codec.keysDir).toBe(join(root, keysDir!));
    expect(current().keySource?.keysDir).toBe(join(root, keysDir!));
  });

  it('mount the tokens file and the namespace keys where the variables point', () => {
    for (const variable of [SERVE_ENV.authTokensFile, SERVE_ENV.namespaceKeys]) {
      const path = env[variable]!;
      const mount = container.volumeMounts.find((m: { mountPath: string }) => path.startsWith(`${m.mountPath}/`));
      expect(mount, `${variable}=${path} is on no mounted volume`).toBeDefined();
      expect(Object.keys(volumeFiles(mount.name).files)).toContain(path.slice(mount.mountPath.length + 1));
    }
  });

  it('probe /livez and /readyz on the metrics port, serve /metrics only there, and the server answers them', async () => {
    const { config } = current();
    expect(config.port).toBe(Number(env[SERVE_ENV.port] ?? DEFAULT_PORT));
    const http = container.ports.find((p: { name: string }) => p.name === 'http');
    expect(http.containerPort).toBe(config.port);
    // /metrics names namespaces and key ids: not on the port the Service (and so the ingress) exposes.
    expect(config.separateMetrics).toBe(true);
    const metricsPort = container.ports.find((p: { name: string }) => p.name === 'metrics');
    expect(metricsPort.containerPort).toBe(config.metricsPort);
    expect(Number(deployment.spec.template.metadata.annotations['prometheus.io/port'])).toBe(config.metricsPort);
    expect(matchRoute(deployment.spec.template.metadata.annotations['prometheus.io/path']).name).toBe('metrics');
    // Readiness, not liveness, reports a draining server: a liveness probe on /readyz would restart pods mid-drain.
    const probes = { livenessProbe: 'livez', readinessProbe: 'readyz', startupProbe: 'livez' } as const;
    const server = createCodecServer(config, {
      logger: createLogger('silent'),
      codecsFor: buildCodecSet(config.codec, current().keyRing, config.namespaceKeys).codecsFor,
    });
    const listen = (each: Server) =>
      new Promise<number>((resolve) => each.listen(0, '127.0.0.1', () => resolve((each.address() as AddressInfo).port)));
    const ports = { [config.port]: await listen(server.server), [config.metricsPort!]: await listen(server.metricsServer!) };
    try {
      for (const [probe, route] of Object.entries(probes)) {
        const { path, port: probePort, scheme } = container[probe].httpGet;
        expect(matchRoute(path).name, `${probe} ${path}`).toBe(route);
        // On the metrics port, plain http whatever TLS the codec port has (a plain-http probe of a TLS port would fail
        // and restart the pod).
        expect(portNumber(probePort), `${probe} port`).toBe(config.metricsPort);
        expect(scheme ?? 'HTTP', `${probe} scheme`).toBe('HTTP');
        expect((await call(ports[config.metricsPort!]!, { method: 'GET', path })).status, `${probe} GET ${path}`).toBe(200);
      }
      expect((await call(ports[config.metricsPort!]!, { method: 'GET', path: '/metrics' })).status).toBe(200);
      if (!config.tls) expect((await call(ports[config.port]!, { method: 'GET', path: '/metrics' })).status).toBe(404);
    } finally {
      for (const each of [server.server, server.metricsServer!]) {
        each.closeAllConnections();
        each.close();
      }
    }
  });

  it('leave time to drain before Kubernetes kills the pod', () => {
    const { shutdownDelay, shutdownTimeout } = current().config;
    expect(shutdownDelay).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdownDelay + shutdownTimeout + 1000);
  });

  it('run one worker per CPU of the limit, with requests and limits set', () => {
    const { limits, requests } = container.resources;
    expect(current().config.workers).toBe(Math.ceil(cpuCount(limits.cpu)));
    expect(requests.cpu).toBeDefined();
    expect(requests.memory).toBeDefined();
    expect(limits.memory).toBeDefined();
  });

  it('run as non-root with a read-only root file system and no privilege escalation', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('keep at least two replicas through scaling and disruptions, selecting the same pods', () => {
    const labels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);

    const service = one('Service');
    expect(selects(service.spec.selector)).toBe(true);
    for (const port of service.spec.ports) expect(portNumber(port.targetPort)).toBe(current().config.port);

    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);

    const pdb = one('PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(hpa.spec.minReplicas);
  });

  it('ship example Secrets with placeholders only, which the server refuses as keys or tokens', () => {
    const keys = one('Secret', 'temporal-codec-keys');
    expect(keys.file).toMatch(/example/);
    for (const [name, value] of Object.entries(keys.stringData as Record<string, string>)) {
      if (name === ACTIVE_KEY_ID_FILE) continue;
      expect(value).toMatch(/^PLACEHOLDER/);
      expect(parseKeyValue(value, name).ok).toBe(false);
    }
    const auth = one('Secret', 'temporal-codec-auth');
    expect(auth.file).toMatch(/example/);
    const tokens = parse(auth.stringData['tokens.yaml']) as Record<string, string>[];
    for (const entry of tokens) expect(entry.tokenSha256 ?? entry.token).toMatch(/^PLACEHOLDER/);
    for (const manifest of manifests) {
      const text = JSON.stringify(manifest);
      expect(text, manifest.file).not.toMatch(/base64:[A-Za-z0-9+/]{43}=/);
      expect(text, manifest.file).not.toMatch(/[0-9a-f]{64}/);
    }
  });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));
