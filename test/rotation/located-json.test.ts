import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEdits, formatLike, parseLocatedJson } from '../../src/rotation/located-json.js';

const everyObject = (value: Record<string, unknown>) => value !== null;

describe('parseLocatedJson', () => {
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

  it('keeps "__proto__" as an own property and the last of repeated names, as JSON.parse does', () => {
    const text = '{"__proto__": {"polluted": true}, "a": 1, "a": 2}';
    const { value } = parseLocatedJson(text, () => false);
    expect(value).toStrictEqual(JSON.parse(text));
    expect(Object.keys(value as object)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads several values on separate lines as JSON Lines', () => {
    const { value, jsonLines } = parseLocatedJson('{"a":1}\n\n[2]\r\n"x"\n', () => false);
    expect(jsonLines).toBe(true);
    expect(value).toEqual([{ a: 1 }, [2], 'x']);
  });

  it('fails cleanly, not with a stack overflow, on hostile nesting', () => {
    expect(() => parseLocatedJson('['.repeat(100_000), () => false)).toThrow(
      'not valid JSON: nested more than 1000 levels deep at line 1, column 1002',
    );
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
