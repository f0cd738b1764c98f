import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('createLogger (the server and CLI logger)', () => {
  it('has written each line to stdout by the time the call returns, so a process killed right after keeps them all', () => {
    // Asynchronous writes would hold all but the first lines in a buffer until the first write's callback: lost here.
    const script = [
      "import { createLogger } from './src/server/logging.ts';",
      "const logger = createLogger('info');",
      "for (let i = 0; i < 2000; i++) logger.info({ requestId: `r-${i}` }, 'request completed');",
      "process.kill(process.pid, 'SIGKILL');",
    ].join('\n');
    let stdout = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 30_000,
      });
    } catch (error) {
      // Killed by its own SIGKILL, as intended.
      const failure = error as { signal?: string; stdout?: string };
      expect(failure.signal).toBe('SIGKILL');
      stdout = failure.stdout ?? '';
    }
    const lines = stdout.split('\n').filter((line) => line.startsWith('{'));
    expect(lines).toHaveLength(2000);
    expect(JSON.parse(lines[1999]!)).toMatchObject({ level: 'info', requestId: 'r-1999', msg: 'request completed' });
  });
});
