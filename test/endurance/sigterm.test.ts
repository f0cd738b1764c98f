/** CI form of bench/endurance/sigterm.ts: SIGTERM while 16 clients keep one worker busy. */
import { describe, expect, it } from 'vitest';
import { runSigterm } from '../../bench/endurance/sigterm.js';

describe('SIGTERM under load', () => {
  it('answers every request sent before the signal in full, and those sent just after on open connections, refuses new connections, and exits 0 within 10 s', async () => {
    const result = await runSigterm({ workers: 1, clients: 16, exitLimitMs: 10_000 });
    expect(result.inFlightAtSignal).toBeGreaterThan(0);
    expect(Object.keys(result.beforeSignal)).toEqual(['ok']);
    expect(result.afterSignal.refused ?? 0).toBeGreaterThan(0);
    // A request sent on a kept-alive connection just after the signal is answered (with Connection: close), not reset.
    expect(result.afterSignal['reset-before-answer'] ?? 0).toBe(0);
    expect(result.exitCode).toBe(0);
    expect(result.exitMs).toBeLessThan(10_000);
    expect(result.violations).toEqual([]);
  }, 60_000);
});
