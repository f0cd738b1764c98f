/**
 * CI form of bench/endurance/fuzz.ts: 5,000 malformed requests (fast-check generated and raw mutations) against the
 * real `temporal-codec serve` process. The full run sends 100,000.
 */
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../../bench/endurance/fuzz.js';

describe('the codec server under 5,000 malformed requests', () => {
  it('never crashes, never answers 5xx, answers every 4xx with a JSON error and never hangs', async () => {
    const result = await runFuzz({ count: 5000, concurrency: 32, seed: 11 });
    expect(result.sent).toBe(5000);
    // The fuzz reached the codec routes and their error paths, not just the socket.
    expect(result.byStatus['400'] ?? 0).toBeGreaterThan(100);
    expect(result.byStatus['200'] ?? 0).toBeGreaterThan(10);
    expect(result.fiveXx).toBe(0);
    expect(result.serverFiveXx).toBe(0);
    expect(result.nonJson4xx).toBe(0);
    expect(result.hangs).toBe(0);
    expect(result.livenessFailures).toBe(0);
    expect(result.violations).toEqual([]);
  }, 120_000);
});
