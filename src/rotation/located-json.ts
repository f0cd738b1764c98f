import { createScanner, type Node, type ParseError, parseTree, printParseErrorCode, type SyntaxKind } from 'jsonc-parser';
import { PayloadJsonError } from '../errors.js';

/** Where a value sits in the text: `text.slice(start, end)` is its JSON. */
export interface Span {
  start: number;
  end: number;
}

/** A parsed document and the spans of the objects the caller asked to locate. */
export interface LocatedJson {
  /** The value, as `JSON.parse` would give it; for JSON Lines, the array of the lines' values. */
  value: unknown;
  spans: WeakMap<object, Span>;
  /** Whether the text held several JSON values, one per line (JSON Lines), rather than one document. */
  jsonLines: boolean;
}

/**
 * Deep enough for any Temporal history (failure causes nest a few levels), shallow enough that jsonc-parser's
 * recursive descent stays far from the call stack's limit, so a hostile file fails with a message, not a RangeError.
 */
const MAX_DEPTH = 1000;

/**
 * Strict JSON (RFC 8259): jsonc-parser's defaults accept comments. With these options it accepts what JSON.parse
 * accepts and nothing more (test/rotation/located-json.test.ts checks the two against each other).
 */
const STRICT = { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false } as const;

/**
 * jsonc-parser's `SyntaxKind` is a `const enum`, which `verbatimModuleSyntax` cannot import: its values, from
 * jsonc-parser 3's main.d.ts (stable since 2.0).
 */
const TOKEN = {
  openBrace: 1 as SyntaxKind,
  closeBrace: 2 as SyntaxKind,
  openBracket: 3 as SyntaxKind,
  closeBracket: 4 as SyntaxKind,
  eof: 17 as SyntaxKind,
} as const;

/**
 * Parses JSON, or JSON Lines (one value per line), with Microsoft's jsonc-parser (the parser behind VS Code's JSON
 * support), to the same values `JSON.parse` gives, recording the span of every object `locate` accepts. With the
 * spans, a caller can rewrite those objects and copy every other byte of the text unchanged: numbers past 2^53,
 * escapes and whitespace survive a rewrite.
 *
 * Errors name the line and column, never the content.
 */
export function parseLocatedJson(text: string, locate: (value: Record<string, unknown>) => boolean): LocatedJson {
  // A UTF-8 byte order mark is not part of the JSON; a space in its place keeps every offset.
  const source = text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
  if (source.trim() === '') throw fail(text, 0, 'the file is empty');
  const spans = new WeakMap<object, Span>();
  const whole = parseOne(text, source, 0);
  if (whole.error === undefined) return { value: build(whole.root, 0, locate, spans), spans, jsonLines: false };

  // A second value after a line break: JSON Lines, read line by line.
  const { error, root } = whole;
  const endOfFirst = root ? root.offset + root.length : 0;
  if (printParseErrorCode(error.error) !== 'EndOfFileExpected' || !source.slice(endOfFirst, error.offset).includes('\n')) {
    throw describe(text, source, 0, error, root);
  }
  const values: unknown[] = [];
  for (let start = 0; start < source.length; ) {
    const newline = source.indexOf('\n', start);
    const end = newline === -1 ? source.length : newline;
    const line = source.slice(start, end);
    if (line.trim() !== '') {
      const parsed = parseOne(text, line, start);
      if (parsed.error !== undefined) throw describe(text, line, start, parsed.error, parsed.root);
      values.push(build(parsed.root, start, locate, spans));
    }
    start = end + 1;
  }
  return { value: values, spans, jsonLines: true };
}

type Parsed = { root: Node; error: undefined } | { root: Node | undefined; error: ParseError };

/** Parses `json`, which starts at `base` in `original`; the tree, and the first error if any. */
function parseOne(original: string, json: string, base: number): Parsed {
  checkDepth(original, json, base);
  const errors: ParseError[] = [];
  const root = parseTree(json, errors, STRICT);
  if (errors.length > 0) return { root, error: errors[0]! };
  if (!root) throw new Error('internal error: jsonc-parser returned no tree and no error');
  return { root, error: undefined };
}

/** jsonc-parser recurses once per level: refuse hostile nesting first, with its scanner, which does not recurse. */
function checkDepth(original: string, json: string, base: number): void {
  const scanner = createScanner(json, true);
  let depth = 0;
  for (let token = scanner.scan(); token !== TOKEN.eof; token = scanner.scan()) {
    if (token === TOKEN.openBrace || token === TOKEN.openBracket) {
      if (++depth > MAX_DEPTH) {
        throw fail(original, base + scanner.getTokenOffset(), `nested more than ${MAX_DEPTH} levels deep`);
      }
    } else if (token === TOKEN.closeBrace || token === TOKEN.closeBracket) {
      depth--;
    }
  }
}

/** The value of a node of an error-free tree, as `JSON.parse` builds it; located objects' spans go in `spans`. */
function build(
  node: Node,
  base: number,
  locate: (value: Record<string, unknown>) => boolean,
  spans: WeakMap<object, Span>,
): unknown {
  switch (node.type) {
    case 'object': {
      const object: Record<string, unknown> = {};
      for (const property of node.children ?? []) {
        const [name, child] = property.children ?? [];
        if (!name || !child) throw new Error('internal error: a property without a name or a value');
        const key = name.value as string;
        const value = build(child, base, locate, spans);
        // As JSON.parse does: "__proto__" is an ordinary own property, and a repeated name keeps the last value.
        if (key === '__proto__') {
          Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
        } else {
          object[key] = value;
        }
      }
      if (locate(object)) spans.set(object, { start: base + node.offset, end: base + node.offset + node.length });
      return object;
    }
    case 'array':
      return (node.children ?? []).map((child) => build(child, base, locate, spans));
    case 'string':
    case 'number':
    case 'boolean':
    case 'null':
      return node.value as unknown;
    default:
      throw new Error(`internal error: unexpected ${node.type} node`);
  }
}

/**
 * A parse error of `json` (which starts at `base` in `original`) as a message: what is wrong, in words, and where;
 * never the text itself.
 */
function describe(original: string, json: string, base: number, error: ParseError, root: Node | undefined): PayloadJsonError {
  const { offset, length } = error;
  const at = (problem: string, where = offset): PayloadJsonError => fail(original, base + where, problem);
  switch (printParseErrorCode(error.error)) {
    case 'InvalidSymbol':
      return at('unexpected character');
    case 'InvalidNumberFormat':
    case 'UnexpectedEndOfNumber':
      return at('invalid number');
    case 'PropertyNameExpected':
      return at('expected a property name');
    case 'ValueExpected':
      if (offset < json.trimEnd().length) return at('expected a value');
      return at(base === 0 && json.length === original.length ? 'unexpected end of the text' : 'unexpected end of the line');
    case 'ColonExpected':
      return at("expected ':'");
    case 'CommaExpected':
      return at(`expected ',' or '${closerAt(root, offset)}'`);
    case 'CloseBraceExpected':
      return at("expected ',' or '}'");
    case 'CloseBracketExpected':
      return at("expected ',' or ']'");
    case 'EndOfFileExpected':
      return at('unexpected data after the JSON value');
    case 'InvalidCommentToken':
    case 'UnexpectedEndOfComment':
      return at('comments are not allowed');
    case 'UnexpectedEndOfString':
    case 'InvalidCharacter': {
      // The error spans the string token: point at its control character (a raw line break ends the token), if any.
      const control = firstControlCharacter(json, offset + 1, offset + length + 1);
      return control === -1 ? at('unterminated string') : at('control character in a string', control);
    }
    case 'InvalidUnicode':
    case 'InvalidEscapeCharacter':
      return at('invalid escape in a string');
    default:
      return at('not a JSON value');
  }
}

/** The closing bracket of the innermost object or array around `offset` in a partial tree. */
function closerAt(root: Node | undefined, offset: number): '}' | ']' {
  let container: Node | undefined;
  for (let node = root; node; ) {
    if (node.type === 'object' || node.type === 'array') container = node;
    node = node.children?.find((child) => child.offset < offset && offset <= child.offset + child.length);
  }
  return container?.type === 'object' ? '}' : ']';
}

function firstControlCharacter(text: string, from: number, to: number): number {
  for (let index = from; index < Math.min(to, text.length); index++) if (text.charCodeAt(index) < 0x20) return index;
  return -1;
}

function fail(text: string, at: number, problem: string): PayloadJsonError {
  let line = 1;
  let lineStart = 0;
  for (let index = text.indexOf('\n'); index !== -1 && index < at; index = text.indexOf('\n', index + 1)) {
    line++;
    lineStart = index + 1;
  }
  // A byte order mark opens the text but is no column an editor shows.
  const column = at - lineStart + 1 - (line === 1 && text.charCodeAt(0) === 0xfeff ? 1 : 0);
  return new PayloadJsonError('', `not valid JSON: ${problem} at line ${line}, column ${column}`);
}

/** One replacement of a span of text. */
export interface TextEdit {
  span: Span;
  text: string;
}

/**
 * The text with each span replaced; spans must not overlap. (jsonc-parser's own `applyEdits` builds a new string per
 * edit, which is quadratic for a large history with many payloads to rewrap; this joins the pieces once.)
 */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => a.span.start - b.span.start);
  const parts: string[] = [];
  let copied = 0;
  for (const edit of sorted) {
    if (edit.span.start < copied) throw new Error('internal error: overlapping edits');
    parts.push(text.slice(copied, edit.span.start), edit.text);
    copied = edit.span.end;
  }
  parts.push(text.slice(copied));
  return parts.join('');
}

/**
 * `value` as JSON in the style of the object at `span`: on one line if that object was, else indented like it (the
 * indent unit read from its first inner line, continuation lines at its own line's indent, and its line endings).
 * For text written by `JSON.stringify(x, null, n)`, Go's `json.Indent` or the Temporal CLI, this reproduces exactly
 * what that writer would have written for `value`.
 */
export function formatLike(text: string, span: Span, value: unknown): string {
  const original = text.slice(span.start, span.end);
  const firstBreak = original.indexOf('\n');
  if (firstBreak === -1) return JSON.stringify(value);
  const lineStart = text.lastIndexOf('\n', span.start - 1) + 1;
  const lineIndent = /^[ \t]*/.exec(text.slice(lineStart, span.start))![0];
  const innerIndent = /^[ \t]*/.exec(original.slice(firstBreak + 1))![0];
  const nested = innerIndent.length > lineIndent.length && innerIndent.startsWith(lineIndent);
  const unit = nested ? innerIndent.slice(lineIndent.length) : '  ';
  const newline = original[firstBreak - 1] === '\r' ? '\r\n' : '\n';
  return JSON.stringify(value, null, unit).replaceAll('\n', `${newline}${lineIndent}`);
}
