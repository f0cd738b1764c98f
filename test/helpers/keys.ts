import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fixed 32-byte key derived from a label, so tests are deterministic and keys differ by label. */
export function testKey(label: string): Buffer {
  return createHash('sha256').update(`test key: ${label}`).digest();
}

/**
 * The fingerprint as the wire-format note defines it, computed here independently of the library: the first 8 bytes
 * of HMAC-SHA256(key, "temporal-payload-codec fingerprint"), in hex.
 */
export function expectedFingerprint(key: Uint8Array): string {
  return createHmac('sha256', key).update('temporal-payload-codec fingerprint').digest().subarray(0, 8).toString('hex');
}

/** A text key value of `length` ASCII characters that looks random and holds no English words. */
export function textKey(label: string, length: number): string {
  let text = '';
  for (let i = 0; text.length < length; i++) {
    text += createHash('sha256').update(`${label}:${i}`).digest('base64').replace(/[+/=]/g, '');
  }
  return text.slice(0, length);
}

/** A fresh temporary directory, and a function that removes it. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tpc-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
