/**
 * `replicant precheck --source URL --target URL` (or `--rdb FILE --target URL` for a restore): every
 * finding with its fix on stdout, or one JSON document with --json. Exit 2 on any error, else 0.
 */
import { formatFindings, runPrecheck } from '../precheck/index.js';
import type { RunContext } from './main.js';

export async function runPrecheckCommand(ctx: RunContext): Promise<number> {
  const c = ctx.config;
  const r = await runPrecheck(c, c.rdb !== null && c.source === null ? 'restore' : 'sync');
  if (c.json) process.stdout.write(`${JSON.stringify({ ok: r.errors === 0, ...r })}\n`);
  else process.stdout.write(formatFindings(r));
  return r.errors > 0 ? 2 : 0;
}

export { runPrecheckCommand as runPrecheck };
