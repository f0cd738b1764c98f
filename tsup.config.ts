import { defineConfig } from 'tsup';

// Two formats because Temporal worker projects are as often CommonJS as ESM; one bundle per entry point
// keeps internals unreachable except through the `exports` map in package.json.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'failure-converter': 'src/failure-converter.ts',
    cli: 'src/cli/bin.ts',
  },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', 'failure-converter': 'src/failure-converter.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  shims: true,
  splitting: false,
  external: [/^@temporalio\//],
});
