/**
 * The checkpointed pipeline as its own process, for kill -9 tests (run by vite-node, straight from
 * src). Arguments: JSON {source, target, spoolDir?}. Prints one JSON line when the link started
 * ({"started": mode, "resumedFrom": …}), runs until SIGTERM (clean stop, exit 0) or a fatal error
 * (the error on stderr, exit 2).
 */
import { startPipeline } from './compose.js';

const o = JSON.parse(process.argv[2] ?? '{}');
const p = startPipeline(o);
p.started.then((s) =>
  process.stdout.write(`${JSON.stringify({ started: s.mode, resumedFrom: s.resumedFrom })}\n`),
);
process.on('SIGTERM', () => {
  void p.stop().then(() => process.exit(0));
});
p.done.then(
  () => process.exit(0),
  (err: Error & { code?: string }) => {
    process.stderr.write(`fatal [${err.code ?? 'ERR'}]: ${err.message}\n`);
    process.exit(2);
  },
);
