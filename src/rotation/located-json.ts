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
 * Deep enough for any Temporal history (failure causes nest a few levels), shallow enough that recursion stays far
 * from the call stack's limit, so a hostile file fails with a message instead of a RangeError.
 */
const MAX_DEPTH = 1000;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parses JSON (or JSON Lines: several values, each starting on a new line) to the same values `JSON.parse` gives,
 * recording the span of every object `locate` accepts. With the spans, a caller can rewrite those objects and copy
 * every other byte of the text unchanged: numbers past 2^53, escapes and whitespace survive a rewrite.
 *
 * Errors name the line and column, never the content.
 */
export function parseLocatedJson(text: string, locate: (value: Record<string, unknown>) => boolean): LocatedJson {
  const parser = new Parser(text, locate);
  const values = parser.document();
  return values.length === 1
    ? { value: values[0], spans: parser.spans, jsonLines: false }
    : { value: values, spans: parser.spans, jsonLines: true };
}

class Parser {
  readonly spans = new WeakMap<object, Span>();
  #pos: number;

  constructor(
    readonly text: string,
    readonly locate: (value: Record<string, unknown>) => boolean,
  ) {
    this.#pos = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 byte order mark is not part of the JSON
  }

  document(): unknown[] {
    const values: unknown[] = [];
    this.#whitespace();
    if (this.#pos >= this.text.length) throw this.#fail('the file is empty');
    for (;;) {
      values.push(this.#value(0));
      const before = this.#pos;
      this.#whitespace();
      if (this.#pos >= this.text.length) return values;
      if (!this.text.slice(before, this.#pos).includes('\n')) throw this.#fail('unexpected data after the JSON value');
    }
  }

  #value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw this.#fail(`nested more than ${MAX_DEPTH} levels deep`);
    const c = this.text.charCodeAt(this.#pos);
    if (c === 0x7b) return this.#object(depth);
    if (c === 0x5b) return this.#array(depth);
    if (c === 0x22) return this.#string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.#number();
    if (this.text.startsWith('true', this.#pos)) return this.#literal(4, true);
    if (this.text.startsWith('false', this.#pos)) return this.#literal(5, false);
    if (this.text.startsWith('null', this.#pos)) return this.#literal(4, null);
    throw this.#fail(this.#pos >= this.text.length ? 'unexpected end of the text' : 'unexpected character');
  }

  #object(depth: number): Record<string, unknown> {
    const start = this.#pos++;
    const object: Record<string, unknown> = {};
    this.#whitespace();
    if (this.text.charCodeAt(this.#pos) === 0x7d) {
      this.#pos++;
    } else {
      for (;;) {
        this.#whitespace();
        if (this.text.charCodeAt(this.#pos) !== 0x22) throw this.#fail('expected a property name');
        const key = this.#string();
        this.#whitespace();
        this.#expect(0x3a, "expected ':'");
        this.#whitespace();
        const value = this.#value(depth + 1);
        // As JSON.parse does: "__proto__" is an ordinary own property, and a repeated name keeps the last value.
        if (key === '__proto__') {
          Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
        } else {
          object[key] = value;
        }
        this.#whitespace();
        if (this.text.charCodeAt(this.#pos) === 0x2c) {
          this.#pos++;
          continue;
        }
        this.#expect(0x7d, "expected ',' or '}'");
        break;
      }
    }
    if (this.locate(object)) this.spans.set(object, { start, end: this.#pos });
    return object;
  }

  #array(depth: number): unknown[] {
    this.#pos++;
    const array: unknown[] = [];
    this.#whitespace();
    if (this.text.charCodeAt(this.#pos) === 0x5d) {
      this.#pos++;
      return array;
    }
    for (;;) {
      this.#whitespace();
      array.push(this.#value(depth + 1));
      this.#whitespace();
      if (this.text.charCodeAt(this.#pos) === 0x2c) {
        this.#pos++;
        continue;
      }
      this.#expect(0x5d, "expected ',' or ']'");
      return array;
    }
  }

  #string(): string {
    const start = this.#pos;
    let index = start + 1;
    let escaped = false;
    for (;;) {
      if (index >= this.text.length) throw this.#fail('unterminated string', start);
      const c = this.text.charCodeAt(index);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        index += 2;
        continue;
      }
      if (c < 0x20) throw this.#fail('control character in a string', index);
      index++;
    }
    this.#pos = index + 1;
    if (!escaped) return this.text.slice(start + 1, index);
    try {
      return JSON.parse(this.text.slice(start, index + 1)) as string; // the engine decodes (and checks) escapes
    } catch {
      throw this.#fail('invalid escape in a string', start);
    }
  }

  #number(): number {
    NUMBER.lastIndex = this.#pos;
    const match = NUMBER.exec(this.text);
    if (!match) throw this.#fail('invalid number');
    this.#pos += match[0].length;
    return Number(match[0]);
  }

  #literal<T>(length: number, value: T): T {
    this.#pos += length;
    return value;
  }

  #expect(code: number, problem: string): void {
    if (this.text.charCodeAt(this.#pos) !== code) throw this.#fail(problem);
    this.#pos++;
  }

  #whitespace(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.#pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.#pos++;
    }
  }

  #fail(problem: string, at = this.#pos): PayloadJsonError {
    let line = 1;
    let lineStart = 0;
    for (let index = this.text.indexOf('\n'); index !== -1 && index < at; index = this.text.indexOf('\n', index + 1)) {
      line++;
      lineStart = index + 1;
    }
    return new PayloadJsonError('', `not valid JSON: ${problem} at line ${line}, column ${at - lineStart + 1}`);
  }
}

/** One replacement of a span of text. */
export interface TextEdit {
  span: Span;
  text: string;
}

/** The text with each span replaced; spans must not overlap. */
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
