/** The routes the server knows; also the `route` label of its metrics, so never a raw path. */
export type RouteName = 'encode' | 'decode' | 'download' | 'livez' | 'readyz' | 'metrics' | 'unknown';

/** Where a request goes. */
export interface RouteMatch {
  name: RouteName;
  /** For the codec routes: the last segment of the path before `/encode`, `/decode` (the CLI's `{namespace}`). */
  pathNamespace?: string;
}

const UNKNOWN: RouteMatch = { name: 'unknown' };
const OPS: Record<string, RouteMatch> = {
  '/livez': { name: 'livez' },
  '/readyz': { name: 'readyz' },
  '/metrics': { name: 'metrics' },
};

/**
 * Only the last path segment picks a codec route (the protocol of Temporal's codec servers), so the server can be
 * mounted at any prefix: `/decode`, `//decode` (the Web UI with a trailing slash in its endpoint), `/<ns>/decode`.
 * The query string (the UI's `?preserveStorageRefs=true`) does not matter.
 */
export function matchRoute(url: string): RouteMatch {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const ops = OPS[path];
  if (ops) return ops;
  const slash = path.lastIndexOf('/');
  if (slash === -1) return UNKNOWN;
  const last = path.slice(slash + 1);
  if (last === 'encode' || last === 'decode') {
    const pathNamespace = namespaceFromPrefix(path.slice(0, slash));
    return pathNamespace === undefined ? { name: last } : { name: last, pathNamespace };
  }
  if (last === 'download') return { name: 'download' };
  return UNKNOWN;
}

function namespaceFromPrefix(prefix: string): string | undefined {
  const slash = prefix.lastIndexOf('/');
  const segment = prefix.slice(slash + 1);
  if (segment === '') return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Whether a route is served by the codec handler (for POST). */
export function isCodecRoute(name: RouteName): name is 'encode' | 'decode' {
  return name === 'encode' || name === 'decode';
}
