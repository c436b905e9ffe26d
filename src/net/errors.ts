/**
 * Connection errors (codes the CLI documents) and the one classifier that decides what to do with a
 * server reply error: retry, back off, reconnect, refresh cluster slots, or stop with a hint.
 */
import { CODES, codeClass, type ErrorClass, replyInfo } from '../error-codes.js';
import { ReplicantError, ServerReplyError } from '../errors.js';

export type Role = 'source' | 'target';

export function connectError(endpoint: string, role: Role, cause: unknown): ReplicantError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ReplicantError('ERR_CONNECT', `cannot connect to ${role} ${endpoint}: ${why}`, {
    hint: `check the ${role} host and port, that the server is running, and that no firewall, bind or protected-mode setting blocks this machine`,
    cause,
  });
}

export function authError(
  endpoint: string,
  role: Role,
  reply: string,
  user: string | undefined,
): ReplicantError {
  const missing = /^NOAUTH/.test(reply);
  const noPassSet = /without any password configured/.test(reply);
  const message = missing
    ? `${role} ${endpoint} requires a password`
    : noPassSet
      ? `${role} ${endpoint} has no password set but one was given`
      : `${role} ${endpoint} refused the credentials${user ? ` of user '${user}'` : ''}: ${reply}`;
  const hint = noPassSet
    ? `remove the password from the ${role} URL`
    : `check the password / ACL user in the ${role} URL (redis://user:password@host:port; percent-encode special characters)`;
  return new ReplicantError('ERR_AUTH', message, { hint, cause: new ServerReplyError(reply) });
}

export function nopermError(
  endpoint: string,
  role: Role,
  reply: string,
  user: string | undefined,
): ReplicantError {
  const who = user ?? 'default';
  const cmd = commandInReply(reply);
  return new ReplicantError(
    'ERR_NOPERM',
    `user '${who}' on ${role} ${endpoint} lacks a permission: ${reply}`,
    {
      hint: `grant it on the ${role}: ACL SETUSER ${who} +${cmd ?? '<command>'}`,
      cause: new ServerReplyError(reply),
    },
  );
}

export function connectionLostError(
  endpoint: string,
  role: Role,
  pending: number,
  cause?: unknown,
): ReplicantError {
  const code = role === 'target' ? 'ERR_TARGET_CONNECTION_LOST' : 'ERR_SOURCE_CONNECTION_LOST';
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new ReplicantError(
    code,
    `connection to ${role} ${endpoint} lost with ${pending} command(s) unanswered${why}`,
    {
      hint: `the ${role} closed the connection (restart, timeout, maxclients, or client-output-buffer-limit — see its log); rerun to resume`,
      cause,
    },
  );
}

/** The command name quoted in "unknown command 'X'" / "no permissions to run the 'x' command". */
function commandInReply(reply: string): string | null {
  const m =
    /unknown (?:sub)?command [`']([^`']*)[`']/i.exec(reply) ?? /to run the '([^']*)' command/i.exec(reply);
  return m ? m[1]! : null;
}

export type ReplyAction = 'retry' | 'backoff' | 'reconnect' | 'refresh-slots' | 'fatal';

export interface ReplyClass {
  action: ReplyAction;
  /** Stable code for metrics ("errors by class") and for the ReplicantError a fatal reply becomes. */
  code: string;
  hint: string;
}

/** The catalogue's class under this API's name for it ('fatal' is the class 'stop'). */
const actionOf = (c: ErrorClass): ReplyAction => (c === 'stop' ? 'fatal' : c);

/**
 * The one place that decides what a failed command on a standalone target means, as the catalogue
 * (src/error-codes.ts) says. Call sites supply the handling (resend, delay, slot refresh); this only
 * sorts. Connection-level ReplicantErrors of the class `reconnect` map to `reconnect`.
 */
export function classifyReplyError(err: unknown): ReplyClass {
  if (!(err instanceof ServerReplyError)) {
    if (err instanceof ReplicantError) {
      const cls = codeClass(err.code);
      if (cls === 'reconnect')
        return { action: 'reconnect', code: err.code, hint: err.hint ?? 'reconnect and resend' };
      return { action: 'fatal', code: err.code, hint: err.hint ?? '' };
    }
    return { action: 'fatal', code: 'ERR_INTERNAL', hint: CODES.ERR_INTERNAL.hint };
  }
  const msg = err.message;
  const info = replyInfo(err.prefix, msg);
  let hint = info.hint;
  // The command the server names makes the catalogue's hint exact.
  const cmd =
    info.code === 'ERR_TARGET_NOPERM' || info.code === 'ERR_TARGET_UNSUPPORTED' ? commandInReply(msg) : null;
  if (cmd !== null)
    hint = hint
      .replace('this command', info.code === 'ERR_TARGET_NOPERM' ? `'${cmd}'` : cmd)
      .replace('<command>', cmd);
  return { action: actionOf(info.class), code: info.code, hint };
}
