/**
 * Connection errors (codes the CLI documents) and the one classifier that decides what to do with a
 * server reply error: retry, back off, reconnect, refresh cluster slots, or stop with a hint.
 */
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

/**
 * The one place that decides what a failed command means. Call sites supply the handling (resend,
 * delay, slot refresh); this only sorts. Connection-level ReplicantErrors map to `reconnect`.
 */
export function classifyReplyError(err: unknown): ReplyClass {
  if (!(err instanceof ServerReplyError)) {
    if (err instanceof ReplicantError) {
      if (err.code.endsWith('_CONNECTION_LOST') || err.code === 'ERR_CONNECT') {
        return { action: 'reconnect', code: err.code, hint: err.hint ?? 'reconnect and resend' };
      }
      return { action: 'fatal', code: err.code, hint: err.hint ?? '' };
    }
    return {
      action: 'fatal',
      code: 'ERR_INTERNAL',
      hint: 'this is a bug in replicant; rerun with --debug and report it',
    };
  }
  const msg = err.message;
  switch (err.prefix) {
    case 'MOVED':
      return {
        action: 'refresh-slots',
        code: 'ERR_TARGET_MOVED',
        hint: 'the cluster slot map changed; refreshing it',
      };
    case 'ASK':
      return {
        action: 'refresh-slots',
        code: 'ERR_TARGET_ASK',
        hint: 'a slot is migrating; resend with ASKING',
      };
    case 'TRYAGAIN':
      return {
        action: 'backoff',
        code: 'ERR_TARGET_TRYAGAIN',
        hint: 'a slot is being resharded; retrying shortly',
      };
    case 'CLUSTERDOWN':
      return {
        action: 'backoff',
        code: 'ERR_TARGET_CLUSTERDOWN',
        hint: 'the target cluster is down; waiting for it',
      };
    case 'LOADING':
      return {
        action: 'backoff',
        code: 'ERR_TARGET_LOADING',
        hint: 'the target is loading its dataset; waiting',
      };
    case 'BUSY':
      return {
        action: 'backoff',
        code: 'ERR_TARGET_BUSY',
        hint: 'the target is running a long script or function; waiting (SCRIPT KILL / FUNCTION KILL frees it)',
      };
    case 'MASTERDOWN':
      return {
        action: 'backoff',
        code: 'ERR_TARGET_MASTERDOWN',
        hint: 'the target lost its master link; waiting',
      };
    case 'OOM':
      return {
        action: 'fatal',
        code: 'ERR_TARGET_OOM',
        hint: 'the target reached maxmemory with a noeviction policy: raise maxmemory (CONFIG SET maxmemory …) or migrate into a bigger target',
      };
    case 'READONLY':
      return {
        action: 'fatal',
        code: 'ERR_TARGET_READONLY',
        hint: 'the target is a replica (read-only): point --target at its master, or make it writable (REPLICAOF NO ONE), then start again with the same --state-dir',
      };
    case 'NOPERM': {
      const cmd = commandInReply(msg);
      return {
        action: 'fatal',
        code: 'ERR_TARGET_NOPERM',
        hint: `the target's ACL user may not run ${cmd ? `'${cmd}'` : 'this command'}: ACL SETUSER <user> +${cmd ?? '<command>'} (and ~* for keys)`,
      };
    }
    case 'NOAUTH':
    case 'WRONGPASS':
      return {
        action: 'fatal',
        code: 'ERR_AUTH',
        hint: 'check the password / ACL user in the target URL',
      };
    case 'MISCONF':
      return {
        action: 'fatal',
        code: 'ERR_TARGET_MISCONF',
        hint: 'the target refuses writes because its last BGSAVE failed (stop-writes-on-bgsave-error): fix its disk space, permissions or `dir` (see its log), run BGSAVE until it succeeds (or CONFIG SET stop-writes-on-bgsave-error no), then start again with the same --state-dir',
      };
    case 'BUSYKEY':
      return {
        action: 'fatal',
        code: 'ERR_TARGET_BUSYKEY',
        hint: 'the key already exists on the target: use --on-conflict overwrite (replace it) or --on-conflict skip (keep it)',
      };
    case 'WRONGTYPE':
      return {
        action: 'fatal',
        code: 'ERR_TARGET_WRONGTYPE',
        hint: 'the target holds this key with another type: flush the target DB or use --on-conflict overwrite',
      };
    case 'EXECABORT':
      return {
        action: 'fatal',
        code: 'ERR_TARGET_EXECABORT',
        hint: 'the target refused a command inside MULTI; the reply of that command says why',
      };
  }
  if (/^ERR unknown (?:sub)?command/i.test(msg)) {
    const cmd = commandInReply(msg);
    return {
      action: 'fatal',
      code: 'ERR_TARGET_UNSUPPORTED',
      hint: `the target does not support ${cmd ?? 'this command'} (older version, renamed or disabled command): upgrade the target or migrate without the keys that need it`,
    };
  }
  if (/^ERR max(?:imum)? number of clients/i.test(msg)) {
    return { action: 'backoff', code: 'ERR_TARGET_MAXCLIENTS', hint: 'the target is at maxclients; waiting' };
  }
  return {
    action: 'fatal',
    code: 'ERR_TARGET_REPLY',
    hint: 'the target refused the command; the reply says why',
  };
}
