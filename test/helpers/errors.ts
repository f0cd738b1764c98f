import { expect } from 'vitest';
import { CodecError, type CodecErrorCode } from '../../src/errors.js';

/** The error `fn` throws (or its promise rejects with); fails the test when it returns normally. */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  expect.fail('expected an error, but none was thrown');
}

/** The error a synchronous `fn` throws; fails the test when it returns normally. */
export function caughtSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  expect.fail('expected an error, but none was thrown');
}

/** Asserts that `error` is a library error of this class and code (and, when given, this exact message). */
export function expectCodecError<T extends CodecError>(
  error: unknown,
  type: abstract new (...args: never[]) => T,
  code: CodecErrorCode,
  message?: string,
): T {
  expect(error).toBeInstanceOf(type);
  expect(error).toBeInstanceOf(CodecError);
  const codecError = error as T;
  expect(codecError.code).toBe(code);
  expect(codecError.name).toBe(type.name);
  if (message !== undefined) expect(codecError.message).toBe(message);
  return codecError;
}

/**
 * Asserts that no run of 8 or more characters of any secret appears in `text` (the wire-format note: a message names
 * the variable, never its value). Checking every 8-character window catches a value shown in part or cut short.
 */
export function expectNoSecret(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    for (let start = 0; start + 8 <= secret.length; start++) {
      const window = secret.slice(start, start + 8);
      if (text.includes(window)) {
        expect.fail(`text reveals part of a secret (${JSON.stringify(window)}): ${text}`);
      }
    }
  }
}
