import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/logging.js';
import { watchDir } from '../../src/server/watch-dir.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function setUp() {
  const root = mkdtempSync(join(tmpdir(), 'codec-watch-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
  const triggers: string[] = [];
  return { root, lines, logger, triggers, onChange: (trigger: string) => void triggers.push(trigger) };
}

const until = async (done: () => boolean, ms = 5_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe('watchDir', () => {
  it('calls back once per burst of changes, after the debounce', async () => {
    const { root, logger, triggers, onChange } = setUp();
    const stop = watchDir(root, { what: 'keys directory', logger, debounceMs: 100, pollMs: 0 }, onChange);
    cleanups.push(stop);
    for (let i = 0; i < 5; i++) writeFileSync(join(root, `k${i}`), 'x');
    await until(() => triggers.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(triggers).toEqual(['keys directory changed']);
  });

  it('polls, and starts watching a directory that appears later', async () => {
    const { root, lines, logger, triggers, onChange } = setUp();
    const dir = join(root, 'later');
    const stop = watchDir(dir, { what: 'tokens directory', logger, debounceMs: 20, pollMs: 100 }, onChange);
    cleanups.push(stop);
    expect(lines.join('')).toContain('cannot watch the tokens directory; polling');
    await until(() => triggers.includes('poll'));
    mkdirSync(dir);
    // The next poll starts the watch; a change is then reported as such, not only by the polls.
    await new Promise((resolve) => setTimeout(resolve, 250));
    writeFileSync(join(dir, 'tokens.yaml'), 'x');
    await until(() => triggers.includes('tokens directory changed'));
    expect(triggers).toContain('tokens directory changed');
  });

  it('stops calling back once stopped', async () => {
    const { root, logger, triggers, onChange } = setUp();
    const stop = watchDir(root, { what: 'keys directory', logger, debounceMs: 20, pollMs: 50 }, onChange);
    await until(() => triggers.length > 0);
    stop();
    const seen = triggers.length;
    writeFileSync(join(root, 'k'), 'x');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(triggers).toHaveLength(seen);
  });
});
