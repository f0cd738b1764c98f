/** What a caller may do on the codec server: `decode` (read plaintext) and `encode` (make ciphertext). */
export type Right = 'decode' | 'encode';
export const RIGHTS: readonly Right[] = ['decode', 'encode'];

/**
 * The namespace of a request that names none (no `X-Namespace`, no path prefix): Temporal's own default namespace,
 * which is also what the Temporal CLI uses without `--namespace`. Rights and keys are both looked up under it, so a
 * request without a namespace gets exactly what a request for `default` gets.
 */
export const DEFAULT_NAMESPACE = 'default';

/** Namespaces, or every namespace. */
export type NamespaceSet = '*' | ReadonlySet<string>;

/**
 * Rights by namespace, for one caller: a static token's `namespaces` and `rights`, or what a JWT's permissions claim
 * grants.
 */
export class Grants {
  readonly #byNamespace: ReadonlyMap<string, ReadonlySet<Right>>;
  readonly #everywhere: ReadonlySet<Right>;

  constructor(byNamespace: ReadonlyMap<string, ReadonlySet<Right>>, everywhere: ReadonlySet<Right> = new Set()) {
    this.#byNamespace = byNamespace;
    this.#everywhere = everywhere;
  }

  /** The same rights in each of `namespaces`. */
  static of(namespaces: NamespaceSet, rights: Iterable<Right>): Grants {
    const set = new Set(rights);
    if (namespaces === '*') return new Grants(new Map(), set);
    return new Grants(new Map([...namespaces].map((namespace) => [namespace, set])));
  }

  allows(namespace: string, right: Right): boolean {
    return this.#everywhere.has(right) || (this.#byNamespace.get(namespace)?.has(right) ?? false);
  }
}

/**
 * Temporal's roles, ordered as its authorizer orders them (worker < read < write < admin): decoding needs read or
 * more, encoding write or more. `worker` is the role of a worker process, which decodes with its own keys and needs
 * no codec server, so it grants neither.
 */
const ROLE_RIGHTS: Readonly<Record<string, readonly Right[]>> = {
  worker: [],
  read: ['decode'],
  write: ['decode', 'encode'],
  admin: ['decode', 'encode'],
};

/** The role a right needs, for messages. */
export const ROLE_NEEDED: Readonly<Record<Right, string>> = {
  decode: 'read, write or admin',
  encode: 'write or admin',
};

/**
 * The namespace prefixes whose roles hold in every namespace: `system:admin` as the codec server documents it, and
 * `temporal-system:<role>`, which Temporal's own default JWT claim mapper reads as a system-wide role.
 */
const SYSTEM_NAMESPACES = new Set(['system', 'temporal-system']);

/**
 * The rights in a permissions claim of Temporal's format: a list of `"<namespace>:<role>"` strings (a single
 * space-separated string is read as that list), roles case-insensitive. Entries Temporal's claim mapper would skip
 * (no colon, unknown role) are skipped here too.
 *
 * @example
 * grantsFromPermissions(['production:read', 'staging:write', 'system:admin']);
 */
export function grantsFromPermissions(claim: unknown): Grants {
  const entries = typeof claim === 'string' ? claim.split(/\s+/).filter(Boolean) : Array.isArray(claim) ? claim : [];
  const byNamespace = new Map<string, Set<Right>>();
  const everywhere = new Set<Right>();
  for (const entry of entries) {
    const parts = typeof entry === 'string' ? entry.split(':') : [];
    const role = parts.length === 2 && parts[0] !== '' ? parts[1]!.toLowerCase() : undefined;
    // Own properties only: "ns:constructor" must be an unknown role, not Object's constructor.
    const rights = role !== undefined && Object.hasOwn(ROLE_RIGHTS, role) ? ROLE_RIGHTS[role] : undefined;
    if (!rights) continue;
    const namespace = parts[0]!;
    const target = SYSTEM_NAMESPACES.has(namespace) ? everywhere : getOrAdd(byNamespace, namespace);
    for (const right of rights) target.add(right);
  }
  return new Grants(byNamespace, everywhere);
}

function getOrAdd(map: Map<string, Set<Right>>, key: string): Set<Right> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}
