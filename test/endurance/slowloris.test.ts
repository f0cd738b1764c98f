/** CI form of bench/endurance/slowloris.ts: 50 sockets trickling header bytes (the full run: 200). */
import { describe, expect, it } from 'vitest';
import { runSlowloris } from '../../bench/endurance/slowloris.js';

describe('the codec server against slowloris clients', () => {
  it('closes every socket that trickles its headers within 15 s and keeps answering ordinary decodes', async () => {
    // 15 s is the limit on the behaviour; the p99 limit is loose here (shared CI machine), 200 ms in the script.
    const result = await runSlowloris({ sockets: 50, seconds: 10, closeLimitMs: 15_000, p99LimitMs: 1000 });
    expect(result.closedByServer).toBe(50);
    expect(result.stillOpen).toBe(0);
    expect(result.closedLate).toBe(0);
    // The server says why before closing: its headers timeout, as a JSON 408.
    expect(Object.keys(result.farewell)).toEqual(['HTTP/1.1 408 Request Timeout']);
    expect(result.normal.failures).toBe(0);
    expect(result.normal.requests).toBeGreaterThan(10);
    expect(result.violations).toEqual([]);
  }, 60_000);
});
