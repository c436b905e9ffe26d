/**
 * The command line: parse once, dispatch, and turn every failure into one `error [CODE]: message` +
 * `hint:` pair on stderr with exit code 2 (stack traces only with --debug). Orchestration only — the
 * work lives in sources, filters, sinks.
 *
 * Exit codes: 0 done, 1 verify found differences, 2 an error, 3 (EXIT_INCOMPLETE) stopped by a signal
 * before the copy was complete, 130 a second signal.
 *
 * Signals: the first SIGINT/SIGTERM aborts the run's AbortSignal (restore stops reading, flushes what
 * it sent, and exits 3 saying the copy is partial; sync exits 0 in the stream phase, 3 inside the full
 * copy); a second one exits at once.
 */
import { capYoungGeneration } from './heap.js';
import { readFileSync } from 'node:fs';
import { type CommandName, type Config, helpText, parseConfig } from '../config/index.js';
import { formatError, ReplicantError } from '../errors.js';
import { createLogger, type Logger, type Progress } from '../obs/index.js';
import { runInspect } from './inspect.js';
import { runPrecheck } from './precheck.js';
import { runRestore } from './restore.js';
import { resolveSource } from './source.js';
import { runSync } from './sync.js';
import { runVerify } from './verify.js';

export interface RunContext {
  config: Config;
  log: Logger;
  signal: AbortSignal;
  /** Lets a command register its progress line so log lines erase it before printing. */
  setProgress(p: Progress | null): void;
}

type Runner = (ctx: RunContext) => Promise<number>;

const RUNNERS: Record<CommandName, Runner> = {
  sync: runSync,
  restore: runRestore,
  'rdb-inspect': (ctx) => runInspect(ctx.config, ctx.signal),
  precheck: runPrecheck,
  verify: runVerify,
};

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  capYoungGeneration();
  let debug = argv.includes('--debug');
  let config: Config;
  try {
    config = parseConfig(argv);
  } catch (err) {
    process.stderr.write(`${formatError(err, debug)}\n`);
    return exitCodeOf(err);
  }
  debug = config.debug;
  if (config.version) {
    process.stdout.write(`replicant ${version()}\n`);
    return 0;
  }
  if (config.help) {
    process.stdout.write(helpText(config.command, config.command === 'sync' && !argv.includes('sync')));
    return 0;
  }

  let progress: Progress | null = null;
  const log = createLogger({
    level: config.logLevel,
    json: config.jsonLogs,
    beforeWrite: () => progress?.clear(),
  });
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`\nreplicant: second ${sig}, exiting now\n`);
      process.exit(130);
    }
    log.warn({ signal: sig }, 'stopping (press Ctrl-C again to exit at once)');
    abort.abort(new ReplicantError('ERR_INTERRUPTED', `interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // precheck, verify: the master the Sentinels name now (sync asks again on every reconnect).
    if (config.command !== 'sync') config = await resolveSource(config, log);
    return await RUNNERS[config.command]({
      config,
      log,
      signal: abort.signal,
      setProgress: (p) => {
        progress = p;
      },
    });
  } catch (err) {
    const p = progress as Progress | null;
    p?.stop();
    process.stderr.write(`${formatError(err, debug)}\n`);
    return exitCodeOf(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function exitCodeOf(err: unknown): number {
  return err instanceof ReplicantError ? err.exitCode : 2;
}
