import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PayloadJsonError } from '../../src/errors.js';
import { applyEdits, formatLike, parseLocatedJson } from '../../src/rotation/located-json.js';
import { caughtSync, expectCodecError } from '../helpers/errors.js';

const everyObject = (value: Record<string, unknown>) => value !== null;

/** JSON.parse's verdict and value, or the fact that it refused. */
function jsonParse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

describe('parseLocatedJson positions', () => {
  it('counts columns after a byte order mark as an editor shows them', () => {
    const message = (text: string) => caughtSync(() => parseLocatedJson(text, () => false)) as Error;
    expect(message('\ufeff{"a": x}').message).toBe(message('{"a": x}').message);
  });
});

describe('parseLocatedJson (jsonc-parser underneath)', () => {
  it('gives the values JSON.parse gives, in any layout, and spans that hold each object', () => {
    const layout = fc.constantFrom<number | string | undefined>(undefined, 0, 1, 2, '\t', ' ');
    fc.assert(
      fc.property(fc.jsonValue(), layout, (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const located = parseLocatedJson(text, everyObject);
        expect(located.jsonLines).toBe(false);
        expect(located.value).toStrictEqual(JSON.parse(text));
        const check = (node: unknown): void => {
          if (typeof node !== 'object' || node === null) return;
          if (!Array.isArray(node)) {
            const span = located.spans.get(node)!;
            expect(JSON.parse(text.slice(span.start, span.end))).toStrictEqual(node);
          }
          for (const child of Object.values(node)) check(child);
        };
        check(located.value);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes every string escape as JSON.parse does, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const json = JSON.stringify({ text, escaped: text.replace(/[^]/g, (c) => c) });
        expect(parseLocatedJson(json, () => false).value).toStrictEqual(JSON.parse(json));
      }),
      { numRuns: 300 },
    );
    const escapes = '["\\u00e9\\ud83d\\ude00\\ud800\\/\\b\\f\\n\\r\\t\\"\\\\", -0, 1E+2, 0.5e-3, 12345678901234567890123]';
    expect(parseLocatedJson(escapes, () => false).value).toStrictEqual(JSON.parse(escapes));
  });

  it('accepts exactly the one-line texts JSON.parse accepts: no comments, trailing commas or other leniency', () => {
    const token = fc.constantFrom(
      ...['{', '}', '[', ']', ':', ',', ' ', '\t', '\r', '"a"', '"', '\\', '\\u', '00', '1', '-', '.', 'e', '+'],
      ...['true', 'null', 'tru', 'NaN', "'", '/', '*', '//', '/*', '*/', '\u00a0', '\u000b', '\u2028', 'x', '0x1'],
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 14 }), (tokens) => {
        const text = tokens.join('');
        const expected = jsonParse(text);
        let actual: { ok: true; value: unknown } | { ok: false };
        try {
          actual = { ok: true, value: parseLocatedJson(text, () => false).value };
        } catch (error) {
          expect(error).toBeInstanceOf(PayloadJsonError);
          actual = { ok: false };
        }
        expect(actual, JSON.stringify(text)).toStrictEqual(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps "__proto__" as an own property and the last of repeated names, as JSON.parse does', () => {
    const text = '{"__proto__": {"polluted": true}, "a": 1, "a": 2}';
    const { value } = parseLocatedJson(text, () => false);
    expect(value).toStrictEqual(JSON.parse(text));
    expect(Object.keys(value as object)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('skips a UTF-8 byte order mark and keeps the offsets of the text it was given', () => {
    const text = '\ufeff{"a": {"b": 1}}';
    const located = parseLocatedJson(text, (value) => 'b' in value);
    const inner = (located.value as { a: object }).a;
    expect(located.spans.get(inner)).toEqual({ start: 7, end: 15 });
    expect(text.slice(7, 15)).toBe('{"b": 1}');
  });

  it('skips a byte order mark before JSON Lines with CRLF endings too, with spans into the whole text', () => {
    const text = '\ufeff{"a": {"b": 1}}\r\n{"c": {"b": 2}}\r\n';
    const located = parseLocatedJson(text, (value) => 'b' in value);
    expect(located.jsonLines).toBe(true);
    const [first, second] = located.value as [{ a: object }, { c: object }];
    expect(located.value).toEqual([{ a: { b: 1 } }, { c: { b: 2 } }]);
    expect(text.slice(located.spans.get(first.a)!.start, located.spans.get(first.a)!.end)).toBe('{"b": 1}');
    expect(text.slice(located.spans.get(second.c)!.start, located.spans.get(second.c)!.end)).toBe('{"b": 2}');
  });

  it('reads one value per line as JSON Lines, with spans into the whole text', () => {
    const text = '{"a":1}\n\n[2, {"b": 3}]\r\n"x"\n';
    const located = parseLocatedJson(text, everyObject);
    expect(located.jsonLines).toBe(true);
    expect(located.value).toEqual([{ a: 1 }, [2, { b: 3 }], 'x']);
    const lines = located.value as [object, [number, object], string];
    const span = located.spans.get(lines[1][1])!;
    expect(text.slice(span.start, span.end)).toBe('{"b": 3}');
  });

  it('reads a pretty-printed document as one value, not as JSON Lines', () => {
    const located = parseLocatedJson('{\n  "a": [\n    1\n  ]\n}\n', () => false);
    expect(located).toMatchObject({ jsonLines: false, value: { a: [1] } });
  });

  it.each([
    ['   \n\t', 'the file is empty at line 1, column 1'],
    ['{"a": 1}\n{"b": [1,\n2]}', 'unexpected end of the line at line 2, column 10'],
    ['{"a": 1}\n\n{"b": 2} 3', 'unexpected data after the JSON value at line 3, column 10'],
    ['{"a": 1}\n\n{"b": 2} x', 'unexpected character at line 3, column 10'],
    ['{"a": 1}\n{"b": 2}\n{"c" 3}', "expected ':' at line 3, column 6"],
    ['[1, 2,]', 'expected a value at line 1, column 7'],
    ['{"a": 1,}', 'expected a property name at line 1, column 9'],
    ['{"a": [1 2]}', "expected ',' or ']' at line 1, column 10"],
    ['{"a": 1 "b": 2}', "expected ',' or '}' at line 1, column 9"],
    ['// note\n{}', 'comments are not allowed at line 1, column 1'],
    ['["\\u12"]', 'invalid escape in a string at line 1, column 2'],
    ['["tab\there"]', 'control character in a string at line 1, column 6'],
    ['["open', 'unterminated string at line 1, column 2'],
    ['[1.]', 'invalid number at line 1, column 2'],
    ['{"a": [', "expected ',' or ']' at line 1, column 8"],
    ['{"a": ', 'unexpected end of the text at line 1, column 7'],
  ])('reports %j by line and column', (text, problem) => {
    expectCodecError(
      caughtSync(() => parseLocatedJson(text, () => false)),
      PayloadJsonError,
      'ERR_INVALID_PAYLOAD_JSON',
      `not valid JSON: ${problem}`,
    );
  });

  it('never puts the text in an error message', () => {
    const secret = 'tok_live_4242424242';
    for (const text of [`{"card": ${secret}}`, `{"card": "${secret}}`, `{"card": "${secret}" "x"}`, `["${secret}",]`]) {
      const error = caughtSync(() => parseLocatedJson(text, () => false)) as Error;
      expect(error).toBeInstanceOf(PayloadJsonError);
      expect(error.message).not.toContain('tok_');
    }
  });

  it('fails cleanly, not with a stack overflow, on hostile nesting, and accepts 1000 levels', () => {
    expect(() => parseLocatedJson('['.repeat(100_000), () => false)).toThrow(
      'not valid JSON: nested more than 1000 levels deep at line 1, column 1001',
    );
    expect(() => parseLocatedJson(`{"a": 1}\n${'{"a":'.repeat(5000)}`, () => false)).toThrow(
      'not valid JSON: nested more than 1000 levels deep at line 2, column 5001',
    );
    const deepest = `${'['.repeat(1000)}${']'.repeat(1000)}`;
    expect(parseLocatedJson(deepest, () => false).value).toStrictEqual(JSON.parse(deepest));
  });
});

describe('formatLike and applyEdits', () => {
  it('indent a replacement like the object it replaces', () => {
    const text = '{\n    "a": {\n        "x": 1\n    },\n    "b": {"y": 2}\n}';
    const a = { start: text.indexOf('{', 1), end: text.indexOf('}') + 1 };
    const b = { start: text.lastIndexOf('{'), end: text.lastIndexOf('}', text.length - 2) + 1 };
    const out = applyEdits(text, [
      { span: b, text: formatLike(text, b, { y: 3, z: [1] }) },
      { span: a, text: formatLike(text, a, { x: 2, w: 'v' }) },
    ]);
    expect(out).toBe('{\n    "a": {\n        "x": 2,\n        "w": "v"\n    },\n    "b": {"y":3,"z":[1]}\n}');
  });

  it('refuses overlapping edits', () => {
    expect(() =>
      applyEdits('0123456789', [
        { span: { start: 1, end: 5 }, text: '' },
        { span: { start: 4, end: 6 }, text: '' },
      ]),
    ).toThrow('internal error: overlapping edits');
  });
});
