#!/usr/bin/env node
/**
 * The `replicant` command line: argument parsing and orchestration only (src/cli does the work).
 */
import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // main() reports its own errors; reaching here is a bug.
    console.error(err);
    process.exitCode = 2;
  },
);
