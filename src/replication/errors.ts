/**
 * The errors a user meets first when pointing replicant at a source: each one a ReplicantError with a
 * stable code, a one-line message and a hint saying what to do. Built here, in one place, so the link
 * and the heartbeat word them the same way.
 */
import { replyPrefixInfo } from '../error-codes.js';
import { ReplicantError } from '../errors.js';

export type SourceErrorCode =
  | 'ERR_SOURCE_CONNECT'
  | 'ERR_SOURCE_AUTH'
  | 'ERR_SOURCE_NOPERM'
  | 'ERR_SOURCE_ABORTED'
  | 'ERR_SOURCE_LOST'
  | 'ERR_SOURCE_PROTOCOL'
  | 'ERR_SOURCE_BUSY';

export class SourceError extends ReplicantError {
  declare readonly code: SourceErrorCode;
  constructor(code: SourceErrorCode, message: string, hint: string, cause?: unknown) {
    super(code, message, cause === undefined ? { hint } : { hint, cause });
    this.name = 'SourceError';
  }
}

export function connectError(addr: string, cause: unknown): SourceError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new SourceError(
    'ERR_SOURCE_CONNECT',
    `cannot connect to source ${addr}: ${why}`,
    'check the source host and port, that redis-server is running, and that no firewall or bind/protected-mode setting blocks this machine',
    cause,
  );
}

export function authError(addr: string, reply: string, user: string | undefined): SourceError {
  const missing = /NOAUTH/.test(reply);
  return new SourceError(
    'ERR_SOURCE_AUTH',
    missing
      ? `source ${addr} requires authentication`
      : `source ${addr} refused the credentials${user ? ` for user '${user}'` : ''}: ${reply}`,
    missing
      ? 'pass --source-password (and --source-user for an ACL user)'
      : 'check --source-user / --source-password (the password of the default user unless a user is given)',
  );
}

export function nopermError(addr: string, reply: string, user: string | undefined): SourceError {
  const who = user ?? 'default';
  return new SourceError(
    'ERR_SOURCE_NOPERM',
    `user '${who}' on source ${addr} may not replicate: ${reply}`,
    `on the source run: ACL SETUSER ${who} +psync +replconf +ping (resumable live sync); +sync +replconf +ping alone also works, by SYNC (a full copy on every reconnect). Sources that allow neither (some managed services) cannot be read live; copy an RDB export with \`replicant restore\``,
  );
}

export function abortedError(addr: string, reply: string): SourceError {
  return new SourceError(
    'ERR_SOURCE_ABORTED',
    `source ${addr} aborted the full sync instead of sending the snapshot: ${reply}`,
    "look at the source's log (BGSAVE failure: disk full, fork refused, memory) and retry",
  );
}

export function lostError(addr: string, during: string, cause?: unknown): SourceError {
  return new SourceError(
    'ERR_SOURCE_LOST',
    `connection to source ${addr} lost during ${during}`,
    'the source closed the link (restart, network, or client-output-buffer-limit replica exceeded — see its log); rerun to resume',
    cause,
  );
}

export function protocolError(addr: string, what: string): SourceError {
  return new SourceError(
    'ERR_SOURCE_PROTOCOL',
    `the source sent something a Redis master does not (source ${addr}): ${what}`,
    'make sure the address is a Redis/Valkey server (not a proxy that does not support replication)',
  );
}

/**
 * The replication stream broke the protocol or the server's own limits. `offset` is the replication
 * offset of the offending byte (the space of PSYNC and the source's master_repl_offset).
 */
export function streamProtocolError(addr: string, what: string, offset: number): SourceError {
  return new SourceError(
    'ERR_SOURCE_PROTOCOL',
    `the source sent ${what}, at byte offset ${offset} of the replication stream (source ${addr})`,
    'a Redis master never sends this (its own limits are proto-max-bulk-len and client-query-buffer-limit): check that the address is a Redis/Valkey master and not a proxy, or a corrupted link; rerunning resumes from the last acknowledged offset',
  );
}

/** No byte from the source for `ms`: the link is dead even though TCP did not say so. */
export function silentError(addr: string, ms: number, during: string): SourceError {
  const s = Math.round(ms / 1000);
  return new SourceError(
    'ERR_SOURCE_LOST',
    `no data from the source for ${s} s (repl-timeout) during ${during} (source ${addr}): a live master sends at least a PING every repl-ping-replica-period (10 s)`,
    'the source is stalled or the network drops packets silently (firewall, NAT timeout, a paused VM): check the source and the path to it; rerun to resume',
  );
}

export function busyError(addr: string, reply: string, attempts: number): SourceError {
  return new SourceError(
    'ERR_SOURCE_BUSY',
    `source ${addr} kept answering '${reply}' after ${attempts} attempts`,
    'the source is loading its dataset or has no link to its own master; wait until it is ready and rerun',
  );
}

/**
 * Replies after which a real replica retries later rather than giving up: the prefixes the catalogue
 * (src/error-codes.ts) classes `backoff` (LOADING, NOMASTERLINK, MASTERDOWN, BUSY, TRYAGAIN, …).
 */
export function isTransient(reply: string): boolean {
  if (reply.charCodeAt(0) !== 0x2d) return false; // '-'
  const sp = reply.indexOf(' ');
  return replyPrefixInfo(reply.slice(1, sp === -1 ? undefined : sp).trimEnd())?.class === 'backoff';
}
