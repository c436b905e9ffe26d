import type { ErrorCode } from './error-codes.js';
import { safeText } from './obs/terminal.js';

export type { ErrorClass, ErrorCode } from './error-codes.js';

/**
 * One base error for everything replicant reports to a user.
 *
 * - `code` is stable (catalogued with its class and meaning in src/error-codes.ts, listed in README
 *   "Error codes"); tests match on it, never on message text.
 * - `hint` tells the user what to do next; the CLI prints `error [code]: message` then `hint: …`.
 * - `cause` keeps the underlying error (socket error, server reply) for `--debug`.
 * - `exitCode` is what the CLI exits with: 2 for every user-facing error; 1 is reserved for
 *   "ran fine, but differences remain" in verify; 3 for a copy stopped by a signal before it was
 *   complete (EXIT_INCOMPLETE: the target holds part of the data).
 */
export class ReplicantError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; cause?: unknown; exitCode?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ReplicantError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 2;
  }
}

/** Exit code of a run stopped (SIGINT/SIGTERM) before its copy was complete: never 0, not an error. */
export const EXIT_INCOMPLETE = 3;

/** Configuration or command-line problem: found before anything connects. */
export class ConfigError extends ReplicantError {
  constructor(message: string, hint?: string) {
    super('ERR_CONFIG', message, hint === undefined ? {} : { hint });
    this.name = 'ConfigError';
  }
}

/**
 * A reply error from a Redis server (`-ERR …`, `-MOVED …`, `-NOPERM …`). `prefix` is the first word
 * (`ERR`, `MOVED`, `BUSYKEY`, …) so classifiers switch on it without parsing text again.
 */
export class ServerReplyError extends Error {
  readonly prefix: string;
  constructor(message: string) {
    super(message);
    this.name = 'ServerReplyError';
    const sp = message.indexOf(' ');
    this.prefix = sp === -1 ? message : message.slice(0, sp);
  }
}

/**
 * Render an error for a human on one or two lines (no stack unless debug). Every part goes through
 * safeText: registered secrets masked, control bytes escaped (a message may quote bytes of a file).
 * The message is one line (a newline in it is escaped: it may come from a file); hints and stacks
 * keep their lines.
 */
export function formatError(err: unknown, debug = false): string {
  const one = (t: string) => safeText(t);
  const many = (t: string) => safeText(t, true);
  if (err instanceof ReplicantError) {
    let s = `error [${one(err.code)}]: ${one(err.message)}`;
    if (err.hint) s += `\nhint: ${many(err.hint)}`;
    if (debug && err.stack) s += `\n${many(err.stack)}`;
    if (debug && err.cause)
      s += `\ncaused by: ${many(err.cause instanceof Error ? (err.cause.stack ?? err.cause.message) : String(err.cause))}`;
    return s;
  }
  if (err instanceof Error) {
    return debug && err.stack
      ? `error [ERR_INTERNAL]: ${many(err.stack)}`
      : `error [ERR_INTERNAL]: ${one(err.message)}\nhint: this is a bug in replicant; rerun with --debug and report it`;
  }
  return `error [ERR_INTERNAL]: ${one(String(err))}`;
}
