import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commonJsUsesIn, extractTsSnippets, snippetPreambles, typecheckSnippets, type TypecheckResult } from './readme-snippets.js';

// Packs the package as npm would publish it and uses it from an empty project with production dependencies only,
// so a missing runtime dependency, a file left out of `files` or a wrong `exports` entry fails here, not for a user.
const root = new URL('../..', import.meta.url).pathname;
let work: string;
let tarball: string;
let app: string;

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; input?: string }) {
  return spawnSync(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    input: options.input,
    encoding: 'utf8',
    timeout: 180_000,
  });
}

beforeAll(() => {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore', timeout: 120_000 });
  work = mkdtempSync(join(tmpdir(), 'tpc-package-'));
  const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' });
  tarball = join(work, (JSON.parse(packed) as Array<{ filename: string }>)[0]!.filename);
  app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const install = run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', tarball], { cwd: app });
  if (install.status !== 0) throw new Error(`npm install of the packed package failed:\n${install.stderr}`);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the published package', () => {
  it('ships only dist, README and LICENSE', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    for (const file of listing) expect(file).toMatch(/^package\/(dist\/|README\.md$|LICENSE$|package\.json$)/);
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/dist/index.cjs');
    expect(listing).toContain('package/dist/cli.js');
  });

  it('passes publint', () => {
    const result = run('npx', ['publint', '--strict', tarball], { cwd: root });
    expect(result.stderr + result.stdout).not.toMatch(/error|warning/i);
    expect(result.status).toBe(0);
  });

  it('has correct types under node16 and bundler resolution (are-the-types-wrong; Node >= 20 only)', () => {
    const result = run('npx', ['attw', '--format', 'json', tarball], { cwd: root });
    const problems = (JSON.parse(result.stdout) as { analysis: { problems: Array<{ resolutionKind?: string }> } })
      .analysis.problems;
    // node10 resolution predates `exports` and cannot see subpaths; the package requires Node >= 20.
    expect(problems.filter((problem) => problem.resolutionKind !== 'node10')).toEqual([]);
  });

  it('loads as CommonJS and as ESM with the same API', () => {
    const cjs = run('node', ['-e', "const m = require('temporal-payload-codec'); console.log(typeof m.createDataConverter, typeof m.EncryptionCodec)"], { cwd: app });
    expect(cjs.stderr).toBe('');
    expect(cjs.stdout.trim()).toBe('function function');
    const esm = run('node', ['--input-type=module', '-e', "import { createDataConverter, EncryptionCodec } from 'temporal-payload-codec'; console.log(typeof createDataConverter, typeof EncryptionCodec)"], { cwd: app });
    expect(esm.stderr).toBe('');
    expect(esm.stdout.trim()).toBe('function function');
  });

  it('keeps internals out of reach of deep imports', () => {
    const deep = run('node', ['-e', "require('temporal-payload-codec/dist/index.cjs')"], { cwd: app });
    expect(deep.status).not.toBe(0);
    expect(deep.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('points createDataConverter at a failure converter module that exists in the install', () => {
    const result = run('node', ['-e', "const m = require('temporal-payload-codec'); const p = require(m.failureConverterPath()); console.log(m.failureConverterPath().includes('node_modules/temporal-payload-codec/dist/'), p.failureConverter.options.encodeCommonAttributes)"], { cwd: app });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('true true');
  });

  it('runs the installed CLI: keygen, keys, encode and decode round trip', () => {
    const bin = join(app, 'node_modules', '.bin', 'temporal-codec');
    const keygen = run(bin, ['keygen', '--id', 'production'], { cwd: app });
    expect(keygen.status).toBe(0);
    const [name, value] = keygen.stdout.trim().split(/=(.*)/s);
    expect(name).toBe('TEMPORAL_ENCRYPTION_KEY_production');
    const env = { [name!]: value!, TEMPORAL_CODEC_ENCRYPTION_KEY_ID: 'production' };

    const keys = run(bin, ['keys', '--check'], { cwd: app, env });
    expect(keys.status).toBe(0);
    expect(keys.stdout).toContain('production');
    expect(keys.stdout).not.toContain(value!.slice('base64:'.length));

    const input = JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"total":42}').toString('base64') }] });
    const encoded = run(bin, ['encode', '-'], { cwd: app, env, input });
    expect(encoded.status).toBe(0);
    const encrypted = JSON.parse(encoded.stdout).payloads[0];
    expect(Buffer.from(encrypted.metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    const decoded = run(bin, ['decode', '-'], { cwd: app, env, input: encoded.stdout });
    expect(decoded.status).toBe(0);
    expect(JSON.parse(decoded.stdout)).toEqual(JSON.parse(input));
  });

  it('declares @temporalio/common and @temporalio/proto as peers so an app loads one copy', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual(['@temporalio/client', '@temporalio/common', '@temporalio/envconfig', '@temporalio/proto']);
    expect(manifest.peerDependenciesMeta['@temporalio/client'].optional).toBe(true);
    expect(manifest.dependencies['@temporalio/common']).toBeUndefined();
  });
});

describe('the README TypeScript samples, against the published package', () => {
  const snippets = extractTsSnippets(readFileSync(join(root, 'README.md'), 'utf8'));
  let typecheck: TypecheckResult;

  beforeAll(() => {
    typecheck = typecheckSnippets(snippets, { root, app, dir: join(app, 'readme-snippets') });
  }, 120_000);

  it('finds the samples, and a sample for every preamble', () => {
    expect(snippets.length).toBeGreaterThan(0);
    const firstLines = new Set(snippets.map((snippet) => snippet.firstLine));
    const stale = Object.keys(snippetPreambles).filter((firstLine) => !firstLines.has(firstLine));
    expect(stale, 'a preamble in test/package/readme-snippets.ts names a first line no README sample has').toEqual([]);
  });

  it('resolve temporal-payload-codec to the installed tarball, with no errors outside the samples', () => {
    expect(typecheck.unattributed).toEqual([]);
    const own = typecheck.files.filter((file) => /temporal-payload-codec\/dist\/index\.d\.ts$/.test(file) || file.startsWith(join(root, 'dist')) || file.startsWith(join(root, 'src')));
    expect(own).toEqual([join(app, 'node_modules/temporal-payload-codec/dist/index.d.ts')]);
  });

  it.each(snippets)('README.md:$line (sample $index) uses no CommonJS-only names', (snippet) => {
    expect(commonJsUsesIn(snippet)).toEqual([]);
  });

  it.each(snippets)('README.md:$line (sample $index) type-checks as an ES module (strict, NodeNext)', (snippet) => {
    expect(typecheck.errors.get(snippet.index) ?? [], `tsc errors in the README sample at line ${snippet.line}`).toEqual([]);
  });
});
