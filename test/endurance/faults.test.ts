/** CI form of bench/endurance/faults.ts: codec failures, misbehaving clients and a hanging identity provider at a fifth of the full counts. */
import { describe, expect, it } from 'vitest';
import { runFaults } from '../../bench/endurance/faults.js';

describe('the codec server under faults', () => {
  it('answers payloads that make the codecs throw with 422, keeps serving through aborted and stuck clients and a hanging JWKS endpoint', async () => {
    const result = await runFaults({ scale: 0.2 });
    for (const [fault, counts] of Object.entries(result.payloadFaults)) {
      expect(Object.keys(counts).every((key) => key.startsWith('422 ')), `${fault}: ${JSON.stringify(counts)}`).toBe(true);
    }
    expect(result.payloadFaults['decrypts to garbage']).toEqual({ '422 decryption_failed': 4 });
    expect(result.payloadFaults['zlib bomb inside encryption']).toEqual({ '422 decompressed_too_large': 4 });
    expect(result.livenessFailures).toBe(0);
    expect(result.serverFiveXx).toBe(0);
    // A hanging JWKS endpoint: JWT callers get a prompt JSON 503, static-token callers are served throughout.
    expect(result.jwksHang.jwt).toEqual({ '503 unavailable': 40 });
    expect(result.jwksHang.staticToken).toEqual({ '200': 40 });
    // No unhandledRejection or uncaughtException: nothing on stderr, no error log line, a clean exit.
    expect(result.violations).toEqual([]);
  }, 90_000);
});
