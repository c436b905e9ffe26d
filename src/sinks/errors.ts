/**
 * Errors a sink reports: a refused write names the command, the key (printable, truncated), the db
 * and the server's reply, with a hint saying what to do. Stable codes: ERR_TARGET_WRITE,
 * ERR_TARGET_NO_FUNCTIONS.
 */
import { REPLY_OTHER, replyInfo } from '../error-codes.js';
import { ReplicantError, ServerReplyError } from '../errors.js';
import type { ReplyClass } from './types.js';

const KEY_MAX = 100;

/** Printable form of a binary key for messages: `\xNN` escapes, cut at ~100 bytes. */
export function printableKey(key: Buffer): string {
  let s = '';
  const n = Math.min(key.length, KEY_MAX);
  for (let i = 0; i < n; i++) {
    const c = key[i]!;
    s +=
      c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return key.length > KEY_MAX ? `${s}… (${key.length} bytes)` : s;
}

/**
 * Our own hints, used when no classifier is given or it has none: the reply catalogue's hint
 * (src/error-codes.ts) for the replies it knows, then the sink's own cases (RESTORE payloads, limits).
 */
export function defaultHint(err: Error): string {
  const msg = err.message;
  if (err instanceof ServerReplyError) {
    const known = replyInfo(err.prefix, msg);
    if (known !== REPLY_OTHER) return known.hint;
  }
  if (/DUMP payload|Bad data format/i.test(msg))
    return 'the target rejected a RESTORE payload: rerun with --no-restore to rewrite values with ordinary commands';
  if (/max.*bulk|too big|query buffer/i.test(msg))
    return "a command exceeded the target's limits: lower --big-key-bytes or raise proto-max-bulk-len on the target";
  if (/unknown command/i.test(msg))
    return 'the target does not know this command (older version or renamed): use a newer target';
  return 'see the server reply; fix the target and rerun';
}

/** A reply error → the sink's fatal error. `cmd` is the command name, `key` null for keyless commands. */
export function targetWriteError(
  err: Error,
  cmd: string,
  key: Buffer | null,
  db: number,
  cls: ReplyClass | null,
): ReplicantError {
  if (err instanceof ReplicantError) return err; // connection-level errors are already ours
  const where = key === null ? `(db ${db})` : `on key "${printableKey(key)}" (db ${db})`;
  const reply = err instanceof ServerReplyError ? err.message : `${err.name}: ${err.message}`;
  return new ReplicantError('ERR_TARGET_WRITE', `target refused ${cmd} ${where}: ${reply}`, {
    hint: cls?.hint ?? defaultHint(err),
    cause: err,
  });
}

export function noFunctionsError(): ReplicantError {
  return new ReplicantError(
    'ERR_TARGET_NO_FUNCTIONS',
    'the source has function libraries but the target has no FUNCTION command (Redis < 7.0)',
    { hint: 'use a Redis 7.0+ target, or pass --skip-functions to leave the libraries out' },
  );
}

/** ASCII, case-insensitive compare of a command name argument (no string allocation for Buffers). */
export function isCommand(arg: unknown, lower: string): boolean {
  if (typeof arg === 'string') return arg.toLowerCase() === lower;
  if (!Buffer.isBuffer(arg) || arg.length !== lower.length) return false;
  for (let i = 0; i < arg.length; i++) if ((arg[i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}
