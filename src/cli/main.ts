import { formatError } from '../errors.js';

/** Entry point; returns the process exit code. Placeholder until the CLI lands. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    process.stderr.write('replicant: no command implemented yet\n');
    return 2;
  } catch (err) {
    process.stderr.write(`${formatError(err, debug)}\n`);
    return 2;
  }
}
