#!/usr/bin/env node
import { main } from './main.js';

// The one place the CLI's exit code reaches the process.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`temporal-codec: ${(error as Error)?.message ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
