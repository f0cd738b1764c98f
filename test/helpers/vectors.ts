import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `../shared/vectors/` beside the project root, where the project's test vectors are kept (see its README.md). */
export const VECTORS_DIR = fileURLToPath(new URL('../../../shared/vectors/', import.meta.url));

/**
 * Where a vectors file is, and whether the tests that need it run: a missing file skips them with a message, except
 * under CI (`CI=true`), where it is a failure.
 */
export function vectorsFile(relativePath: string): { path: string; present: boolean; requiredButMissing: boolean } {
  const path = `${VECTORS_DIR}${relativePath}`;
  const present = existsSync(path);
  if (!present && process.env.CI !== 'true') {
    console.warn(`skipping the tests of ${relativePath}: ${path} is missing (under CI=true this fails instead)`);
  }
  return { path, present, requiredButMissing: !present && process.env.CI === 'true' };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
