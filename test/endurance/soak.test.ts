/** CI form of bench/endurance/soak.ts: 20 s at half the measured capacity (the full run: 10 minutes). */
import { describe, expect, it } from 'vitest';
import { runSoak } from '../../bench/endurance/soak.js';

describe('the codec server at half its capacity for 20 s', () => {
  it('answers every request without a 5xx or an error and keeps its descriptors flat', async () => {
    // Memory and event-loop limits are loose in this short form (a shared CI machine, little time after warm-up);
    // the script holds the limits: RSS +10%, event-loop p99 50 ms.
    const result = await runSoak({ seconds: 20, rssGrowthLimit: 0.5, fdGrowthLimit: 5, eventLoopP99LimitMs: 500 });
    expect(result.load.errors).toBe(0);
    expect(result.load.timeouts).toBe(0);
    expect(Object.keys(result.load.statusCodes).filter((code) => code.startsWith('5'))).toEqual([]);
    // The mix holds its own 4xx: a tampered payload (422) and a body that is not JSON (400).
    expect(result.load.statusCodes['422']).toBeGreaterThan(0);
    expect(result.load.statusCodes['400']).toBeGreaterThan(0);
    expect(result.fds.final - result.fds.baseline).toBeLessThanOrEqual(5);
    expect(result.violations).toEqual([]);
  }, 90_000);
});
