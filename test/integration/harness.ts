/**
 * Test side of the integration harness: which tools a block needs (skip locally, fail in CI), throwaway keys, and the
 * process helpers of scripts/lib/services.ts (shared with `npm run demo`) with logs under artifacts/integration.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { ScanReport } from '../../src/index.js';
import { findChromium, findTemporalCli, PROJECT_ROOT, ProcessGroup } from '../../scripts/lib/services.js';

export * from '../../scripts/lib/services.js';

export const ARTIFACTS_DIR = join(PROJECT_ROOT, 'artifacts', 'integration');
export const IS_CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

/**
 * Generous bounds for a loaded 2-core CI machine: a test drives real processes and a browser (each step has its own
 * tighter wait); a file's beforeAll starts a dev server, a worker that bundles its workflows and runs workflows.
 */
export const TEST_TIMEOUT_MS = 120_000;
export const SETUP_TIMEOUT_MS = 240_000;

export interface Tools {
  /** Path of the Temporal CLI. */
  temporal: string;
  /** Path of Chromium. */
  chromium: string;
}

const TOOL_HINTS: Record<keyof Tools, string> = {
  temporal: 'the Temporal CLI (run scripts/ensure-temporal.sh)',
  chromium: 'Chromium at /usr/bin/chromium or $CHROMIUM_PATH (run scripts/ensure-chromium.sh)',
};

/**
 * A `describe` that needs real tools. Locally a missing tool skips the block with a message; under CI=true the
 * block fails with the same message, so CI never goes green by skipping.
 */
export function describeWithTools(name: string, needs: readonly (keyof Tools)[], body: (tools: Tools) => void): void {
  const found: Partial<Tools> = {
    temporal: needs.includes('temporal') ? findTemporalCli() : '',
    chromium: needs.includes('chromium') ? findChromium() : '',
  };
  const missing = needs.filter((tool) => !found[tool]);
  if (missing.length === 0) {
    describe(name, { timeout: TEST_TIMEOUT_MS }, () => body(found as Tools));
    return;
  }
  const message = `missing ${missing.map((tool) => TOOL_HINTS[tool]).join(' and ')}`;
  if (!IS_CI) {
    process.stderr.write(`[integration] skipping "${name}": ${message}\n`);
    describe.skip(`${name} (skipped: ${message})`, () => body(found as Tools));
    return;
  }
  describe(name, () => {
    throw new Error(`CI=true and ${message}: the integration suite must not be skipped in CI`);
  });
}

/** A process group whose logs go to artifacts/integration/logs/<file>/. */
export function testProcessGroup(file: string): ProcessGroup {
  return new ProcessGroup({ logDir: join(ARTIFACTS_DIR, 'logs', file) });
}

export interface TestKeys {
  keyId: string;
  key: Buffer;
  /** `TEMPORAL_ENCRYPTION_KEY_<id>` and the active key id, for child processes and `createDataConverter({ env })`. */
  env: Record<string, string>;
}

/** A fresh random key under a fresh key id, so every test file proves its own payloads. */
export function makeTestKeys(keyId = `it-${randomBytes(3).toString('hex')}`): TestKeys {
  const key = randomBytes(32);
  return {
    keyId,
    key,
    env: {
      [`TEMPORAL_ENCRYPTION_KEY_${keyId}`]: `base64:${key.toString('base64')}`,
      TEMPORAL_CODEC_ENCRYPTION_KEY_ID: keyId,
    },
  };
}

/**
 * `temporal-codec scan --output json` in process against `address`, with only the key variables in `env` and no
 * Temporal configuration of this machine (HOME points nowhere); fails the test unless it exits 0.
 */
export async function scanInProcess(address: string, env: Record<string, string>, extra: readonly string[] = []): Promise<ScanReport> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['scan', '--address', address, '--output', 'json', ...extra], {
    env: { HOME: '/nonexistent', ...env },
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    readInput: async () => '',
  });
  expect(code, err.join('')).toBe(0);
  return JSON.parse(out.join('')) as ScanReport;
}

/** The key variables of a deployment that holds `keys` (key id to its 32 bytes) and encrypts with `active`. */
export function keyEnv(keys: Readonly<Record<string, Uint8Array>>, active: string): Record<string, string> {
  const env: Record<string, string> = { TEMPORAL_CODEC_ENCRYPTION_KEY_ID: active };
  for (const [keyId, key] of Object.entries(keys)) env[`TEMPORAL_ENCRYPTION_KEY_${keyId}`] = `base64:${Buffer.from(key).toString('base64')}`;
  return env;
}
