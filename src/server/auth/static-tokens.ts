import { createHash, timingSafeEqual } from 'node:crypto';
import { isMap, isSeq, parseDocument } from 'yaml';
import { Grants, type NamespaceSet, type Right, RIGHTS } from './permissions.js';

/** One configured token, as kept in memory: its SHA-256 digest, never the token. */
export interface StaticToken {
  name: string;
  digest: Buffer;
  namespaces: NamespaceSet;
  rights: ReadonlySet<Right>;
}

/** Random tokens are long; a short one is a password someone typed. `openssl rand -base64 32` makes 44 characters. */
export const MIN_TOKEN_LENGTH = 32;
const NAME = /^[\w.@:+-]{1,64}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;
const FIELDS = new Set(['name', 'token', 'tokenSha256', 'namespaces', 'rights']);

/** SHA-256 of a token's UTF-8 bytes. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Reads a token list (YAML or JSON: a list, or `{tokens: [...]}`) of `{name, token | tokenSha256, namespaces: [...] |
 * "*", rights: [decode, encode]}`. Problems go to `problems`, each naming `source` and the entry, never a token, and
 * never the parser's own message, which quotes the text it failed on.
 */
export function parseStaticTokens(text: string, source: string, problems: string[]): StaticToken[] {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    const line = document.errors[0]!.linePos?.[0]?.line;
    problems.push(`${source} is not valid YAML or JSON${line ? ` (line ${line})` : ''}`);
    return [];
  }
  const root = document.contents;
  const list = isMap(root) ? root.get('tokens', true) : root;
  if (!isSeq(list)) {
    problems.push(`${source} must hold a list of tokens, or {"tokens": [...]}`);
    return [];
  }
  const tokens: StaticToken[] = [];
  list.toJSON().forEach((entry: unknown, index: number) => {
    const token = parseEntry(entry, `${source}: tokens[${index}]`, problems);
    if (token) tokens.push(token);
  });
  return tokens;
}

function parseEntry(entry: unknown, where: string, problems: string[]): StaticToken | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    problems.push(`${where} must be an object {name, token or tokenSha256, namespaces, rights}`);
    return undefined;
  }
  const fields = entry as Record<string, unknown>;
  const before = problems.length;
  const name = fields.name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    problems.push(`${where}.name must be 1-64 letters, digits or . _ @ : + -`);
  }
  const label = typeof name === 'string' && NAME.test(name) ? `${where} ("${name}")` : where;
  for (const field of Object.keys(fields)) {
    if (!FIELDS.has(field)) problems.push(`${label} has an unknown field ${fieldShown(field)}`);
  }
  const digest = digestOf(fields, label, problems);
  const namespaces = namespacesOf(fields.namespaces, label, problems);
  const rights = rightsOf(fields.rights, label, problems);
  if (problems.length > before || !digest || !namespaces || !rights) return undefined;
  return { name: name as string, digest, namespaces, rights };
}

/**
 * An unknown field's name as a problem may show it: a plain word only. A mistyped entry can put its token in a key
 * (`token=...` in YAML), and problems go to the log on a reload.
 */
function fieldShown(field: string): string {
  if (/^[A-Za-z_]{1,20}$/.test(field)) return `"${field}"`;
  return `(not shown: not a plain word; the fields are ${[...FIELDS].join(', ')})`;
}

function digestOf(fields: Record<string, unknown>, label: string, problems: string[]): Buffer | undefined {
  const { token, tokenSha256 } = fields;
  if ((token === undefined) === (tokenSha256 === undefined)) {
    problems.push(`${label} needs exactly one of "token" and "tokenSha256"`);
    return undefined;
  }
  if (token !== undefined) {
    if (typeof token !== 'string' || !TOKEN_CHARS.test(token) || token.length < MIN_TOKEN_LENGTH) {
      problems.push(
        `${label}.token must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces ` +
          '(make one with `openssl rand -base64 32`)',
      );
      return undefined;
    }
    return tokenDigest(token);
  }
  if (typeof tokenSha256 !== 'string' || !SHA256_HEX.test(tokenSha256)) {
    problems.push(`${label}.tokenSha256 must be 64 hex digits (\`printf %s "$TOKEN" | sha256sum\`)`);
    return undefined;
  }
  return Buffer.from(tokenSha256, 'hex');
}

function namespacesOf(value: unknown, label: string, problems: string[]): NamespaceSet | undefined {
  if (value === '*') return '*';
  const list = Array.isArray(value) ? value : undefined;
  if (!list || list.length === 0 || !list.every((ns) => typeof ns === 'string' && ns !== '' && ns.length <= 256)) {
    problems.push(`${label}.namespaces must be "*" or a non-empty list of namespace names`);
    return undefined;
  }
  return list.includes('*') ? '*' : new Set(list as string[]);
}

function rightsOf(value: unknown, label: string, problems: string[]): ReadonlySet<Right> | undefined {
  const list = Array.isArray(value) ? value : undefined;
  if (!list || list.length === 0 || !list.every((right) => RIGHTS.includes(right as Right))) {
    problems.push(`${label}.rights must be a non-empty list of ${RIGHTS.join(', ')}`);
    return undefined;
  }
  return new Set(list as Right[]);
}

/** Two entries with one name or one token would make the log (which names the token) ambiguous. */
export function duplicateProblems(tokens: readonly StaticToken[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const digests = new Map<string, string>();
  for (const token of tokens) {
    if (names.has(token.name)) problems.push(`two tokens are named "${token.name}"`);
    names.add(token.name);
    const hex = token.digest.toString('hex');
    const other = digests.get(hex);
    if (other !== undefined) problems.push(`tokens "${other}" and "${token.name}" are the same token`);
    else digests.set(hex, token.name);
  }
  return problems;
}

/** A configured token that matched: its name (for logs and messages) and what it may do. */
export interface StaticPrincipal {
  kind: 'token';
  name: string;
  grants: Grants;
  token: StaticToken;
}

/**
 * The configured static tokens. A presented token is hashed and its digest compared with every configured digest by
 * `crypto.timingSafeEqual`: both are 32 bytes whatever the token's length, every entry is compared (no early exit),
 * and the raw strings are never compared, so timing tells nothing about how much of a token was right.
 */
export class StaticTokens {
  readonly #tokens: readonly StaticToken[];
  readonly #grants: readonly Grants[];

  constructor(tokens: readonly StaticToken[]) {
    this.#tokens = tokens;
    this.#grants = tokens.map((token) => Grants.of(token.namespaces, token.rights));
  }

  get size(): number {
    return this.#tokens.length;
  }

  /** The names of the configured tokens, for the start-up log. */
  names(): string[] {
    return this.#tokens.map((token) => token.name);
  }

  identify(presented: string): StaticPrincipal | undefined {
    const digest = tokenDigest(presented);
    let match = -1;
    for (let i = 0; i < this.#tokens.length; i++) {
      if (timingSafeEqual(digest, this.#tokens[i]!.digest) && match === -1) match = i;
    }
    if (match === -1) return undefined;
    const token = this.#tokens[match]!;
    return { kind: 'token', name: token.name, grants: this.#grants[match]!, token };
  }
}
