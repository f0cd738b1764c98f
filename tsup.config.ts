import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  shims: true,
  splitting: false,
  external: [/^@temporalio\//],
};

export default defineConfig([
  // The library in two formats, because Temporal worker projects are as often CommonJS as ESM; one bundle per entry
  // point keeps internals unreachable except through the `exports` map in package.json.
  {
    ...shared,
    entry: { index: 'src/index.ts', 'failure-converter': 'src/failure-converter.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
  },
  // The CLI is an executable, not an import: ESM only.
  { ...shared, entry: { cli: 'src/cli/bin.ts' }, format: ['esm'] },
]);
