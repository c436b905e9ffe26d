/**
 * Every error code replicant reports, and every server reply prefix it acts on, in one place: what the
 * condition means, what replicant does about it (its class), and what the user should do (the hint).
 * The decisions elsewhere — the reply classifier (src/net/errors.ts), the cluster redirect classifier
 * (src/net/cluster.ts), the handshake's transient replies (src/replication/errors.ts), the sync loops'
 * reconnect decision (src/cli/sync*.ts), the sinks' default hints (src/sinks/errors.ts) — read the
 * class and the hint from here, so the same reply or code is never handled two ways.
 *
 * The README's "Error codes" table is checked against CODES by test/errors/catalogue.test.ts, and so is
 * every code used in src/: a new code goes here (with its README row) or the test fails.
 */

/**
 * What replicant does about a condition:
 * - `retry`: resend at once (nothing was applied, nothing needs to change first);
 * - `backoff`: wait (growing delay), then resend — the server is busy, loading, or a slot moves;
 * - `reconnect`: the connection is gone or could not be made; its owner connects again and goes on;
 * - `refresh-slots`: the cluster slot map is stale; read it again and resend where it now points;
 * - `stop`: nothing replicant can do; stop with the hint (a human fixes it, the next start resumes).
 *
 * For a code, the class says how its condition is handled; the code reaches the user when that did not
 * cure it (a backoff or reconnect that ran out of time), or at once for `stop`.
 */
export type ErrorClass = 'retry' | 'backoff' | 'reconnect' | 'refresh-slots' | 'stop';

/** Which connection a `reconnect` code names: the source link (the sync loops) or a target connection. */
export type Link = 'source' | 'target';

export type CodeInfo =
  | { readonly class: 'reconnect'; readonly link: Link; readonly meaning: string; readonly hint: string }
  | {
      readonly class: Exclude<ErrorClass, 'reconnect'>;
      readonly meaning: string;
      readonly hint: string;
    };

/**
 * The error codes. `meaning` is the README's text for it; `hint` the default advice (call sites usually
 * give a more specific one, naming the key, the flag or the ACL rule).
 */
export const CODES = {
  ERR_CONFIG: {
    class: 'stop',
    meaning: 'bad command line or environment value (all problems listed at once)',
    hint: 'fix the flags or environment variables named in the message (see --help)',
  },
  ERR_CONNECT: {
    // From the source sync loop this can only be the target (the replica link reports its own
    // connect failures as ERR_SOURCE_CONNECT): a new source link cannot cure it.
    class: 'reconnect',
    link: 'target',
    meaning: 'target unreachable (refused, timeout, DNS), or it refused the connection setup',
    hint: 'check the host and port, that the server is running, and that no firewall, bind or protected-mode setting blocks this machine',
  },
  ERR_SOURCE_CONNECT: {
    class: 'reconnect',
    link: 'source',
    meaning: 'source unreachable (refused, timeout, DNS)',
    hint: 'check the source host and port, that redis-server is running, and that no firewall or bind/protected-mode setting blocks this machine',
  },
  ERR_AUTH: {
    class: 'stop',
    meaning: 'wrong password or ACL user',
    hint: 'check the password / ACL user in the URL (redis://user:password@host:port; percent-encode special characters)',
  },
  ERR_SOURCE_AUTH: {
    class: 'stop',
    meaning: 'wrong password or ACL user for the source',
    hint: 'check --source-user / --source-password',
  },
  ERR_NOPERM: {
    class: 'stop',
    meaning: 'the ACL user lacks a permission (the hint names the rule)',
    hint: 'grant it: ACL SETUSER <user> +<command>',
  },
  ERR_SOURCE_NOPERM: {
    class: 'stop',
    meaning: 'the source ACL user may not replicate (the hint names the rule, e.g. `+psync +replconf +ping`)',
    hint: 'on the source run: ACL SETUSER <user> +psync +sync +replconf +ping',
  },
  ERR_TARGET_NOPERM: {
    class: 'stop',
    meaning: 'the target ACL user may not run a command replicant sends (the hint names the rule)',
    hint: 'grant it on the target: ACL SETUSER <user> +<command> (and ~* for keys)',
  },
  ERR_SOURCE_ABORTED: {
    class: 'stop',
    meaning: 'the source aborted the transfer (its BGSAVE failed)',
    hint: "look at the source's log (BGSAVE failure: disk full, fork refused, memory) and retry",
  },
  ERR_SOURCE_LOST: {
    class: 'reconnect',
    link: 'source',
    meaning: 'the source closed the replica link',
    hint: 'the source closed the link (restart, network, or client-output-buffer-limit replica exceeded — see its log); rerun to resume',
  },
  ERR_SOURCE_CONNECTION_LOST: {
    class: 'reconnect',
    link: 'source',
    meaning: 'a connection to the source closed with commands in flight',
    hint: 'the source closed the connection (restart, timeout, maxclients — see its log); rerun to resume',
  },
  ERR_SOURCE_TIMEOUT: {
    class: 'reconnect',
    link: 'source',
    meaning: 'the source sent no reply within the reply timeout with commands outstanding',
    hint: 'the source is stalled or the network dropped silently; check its SLOWLOG and latency',
  },
  ERR_SOURCE_BUSY: {
    class: 'reconnect',
    link: 'source',
    meaning: 'the source kept answering LOADING / BUSY / MASTERDOWN to the handshake',
    hint: 'the source is loading its dataset or has no link to its own master; wait until it is ready and rerun',
  },
  ERR_SOURCE_PROTOCOL: {
    class: 'stop',
    meaning: 'the source sent bytes that are not the replication protocol',
    hint: 'make sure the address is a Redis/Valkey server (not a proxy that does not support replication)',
  },
  ERR_TARGET_NOT_EMPTY: {
    class: 'stop',
    meaning: 'report mode found keys in a target DB we would write to',
    hint: 'pass --on-conflict overwrite, --on-conflict skip or --flush-target',
  },
  ERR_SKIPPED_KEY_READ: {
    class: 'stop',
    meaning:
      '`--hash-field-ttl skip-key`: a stream command reads a hash the snapshot skipped to write another key',
    hint: 'use --hash-field-ttl strip or a 7.4+/Valkey 9 target',
  },
  ERR_TARGET_WRITE: {
    class: 'stop',
    meaning: "the target refused a write; the message names the key, the command and the server's reply",
    hint: 'see the server reply; fix the target and rerun',
  },
  ERR_TARGET_OOM: {
    class: 'stop',
    meaning: 'the target reached maxmemory with a noeviction policy',
    hint: 'raise maxmemory on the target or migrate into a bigger one',
  },
  ERR_TARGET_READONLY: {
    class: 'stop',
    meaning: 'the target is a replica (read-only)',
    hint: 'point --target at its primary, or make it writable (REPLICAOF NO ONE)',
  },
  ERR_TARGET_MISCONF: {
    class: 'stop',
    meaning: 'the target refuses writes because its last BGSAVE failed (stop-writes-on-bgsave-error)',
    hint: 'fix its disk space, permissions or `dir`, BGSAVE until it succeeds',
  },
  ERR_TARGET_BUSYKEY: {
    class: 'stop',
    meaning: 'RESTORE found the key on the target',
    hint: 'use --on-conflict overwrite or --on-conflict skip',
  },
  ERR_TARGET_WRONGTYPE: {
    class: 'stop',
    meaning: 'the target holds the key with another type',
    hint: 'flush the target DB or use --on-conflict overwrite',
  },
  ERR_TARGET_EXECABORT: {
    class: 'stop',
    meaning: 'the target refused a command inside MULTI',
    hint: 'the reply of that command says why',
  },
  ERR_TARGET_REPLY: {
    class: 'stop',
    meaning: 'the target answered a command with an error no other code covers',
    hint: 'the target refused the command; the reply says why',
  },
  ERR_TARGET_MOVED: {
    class: 'refresh-slots',
    meaning: 'cluster target: MOVED — the slot has another owner (the map is refreshed, the write resent)',
    hint: 'the cluster slot map changed: it is read again and the write resent',
  },
  ERR_TARGET_ASK: {
    class: 'refresh-slots',
    meaning: 'cluster target: ASK — the slot is migrating (the write is resent with ASKING)',
    hint: 'a slot is migrating: the write is resent to the importing node with ASKING',
  },
  ERR_TARGET_TRYAGAIN: {
    class: 'backoff',
    meaning: 'cluster target: TRYAGAIN — a multi-key write during a slot migration (retried)',
    hint: 'a slot of the target cluster is being resharded: retried with backoff; if it persists, check the migration (CLUSTER NODES) and rerun',
  },
  ERR_TARGET_CLUSTERDOWN: {
    class: 'backoff',
    meaning:
      'the target cluster kept refusing a write (CLUSTERDOWN, TRYAGAIN, LOADING, BUSY, READONLY, an unreachable master) for 120 s',
    hint: 'check CLUSTER INFO on the target (cluster_state, unassigned slots, a failed master without a replica) and rerun',
  },
  ERR_TARGET_LOADING: {
    class: 'backoff',
    meaning: 'the target is loading its dataset (retried)',
    hint: 'the target is loading its dataset: wait until it has loaded (INFO persistence: loading:0) and rerun',
  },
  ERR_TARGET_BUSY: {
    class: 'backoff',
    meaning: 'the target runs a long script or function (retried)',
    hint: 'the target is running a long script or function: wait for it (SCRIPT KILL / FUNCTION KILL frees it) and rerun',
  },
  ERR_TARGET_MASTERDOWN: {
    class: 'backoff',
    meaning: 'the target lost the link to its master (retried)',
    hint: 'the target lost the link to its master: wait until it is back (INFO replication) and rerun',
  },
  ERR_TARGET_MAXCLIENTS: {
    class: 'backoff',
    meaning: 'the target is at maxclients (retried)',
    hint: 'the target is at maxclients: raise maxclients or close idle clients, and rerun',
  },
  ERR_TARGET_CONNECTION_LOST: {
    class: 'reconnect',
    link: 'target',
    meaning:
      'the target closed the connection with writes in flight (checkpointed stream phase: only after 5 minutes of failed reconnects)',
    hint: 'the target closed the connection (restart, timeout, maxclients, or client-output-buffer-limit — see its log); rerun to resume',
  },
  ERR_TARGET_TIMEOUT: {
    // Not `reconnect`: a stalled target is stopped for, not retried (the cluster writer would resend
    // into the same stall; the standalone writer has no second connection).
    class: 'stop',
    meaning: 'the target sent no reply within the reply timeout with writes outstanding',
    hint: 'the target is stalled or the network dropped silently; check its SLOWLOG and latency, or raise the reply timeout',
  },
  ERR_TARGET_UNSUPPORTED: {
    class: 'stop',
    meaning: 'the target cannot hold something the source has (a command or type it lacks)',
    hint: 'upgrade the target or migrate without the keys that need it',
  },
  ERR_TARGET_NO_FUNCTIONS: {
    class: 'stop',
    meaning: 'the source has function libraries and the target has no FUNCTION command',
    hint: 'use a Redis 7.0+ target, or pass --skip-functions to leave the libraries out',
  },
  ERR_TARGET_PROBE: {
    class: 'stop',
    meaning: 'the target could not be probed',
    hint: 'grant the target user +info (and +config|get, +command)',
  },
  ERR_TARGET_CLUSTER: {
    class: 'stop',
    meaning: 'the target is a cluster node and this command does not write to clusters',
    hint: 'use a standalone target',
  },
  ERR_RDB_FILE: {
    class: 'stop',
    meaning: 'the RDB file is missing or unreadable',
    hint: 'check the path and its permissions',
  },
  ERR_RDB_VERSION: {
    class: 'stop',
    meaning: 'not an RDB file, or an RDB version this build does not read',
    hint: 'check the file; a newer replicant may read it',
  },
  ERR_RDB_CORRUPT: {
    class: 'stop',
    meaning: 'damaged file: the message names the byte offset and what was expected',
    hint: 'the file is damaged or not an RDB file; check it with `replicant rdb-inspect`',
  },
  ERR_RDB_TRUNCATED: {
    class: 'stop',
    meaning: 'the RDB ended early (the transfer was cut or the file is incomplete)',
    hint: 'fetch it again (or rerun the sync)',
  },
  ERR_RDB_CHECKSUM: {
    class: 'stop',
    meaning: 'the RDB checksum does not match',
    hint: 'the file was damaged in transit or on disk; fetch it again',
  },
  ERR_RDB_UNSUPPORTED: {
    class: 'stop',
    meaning: 'an RDB type or opcode this build cannot decode',
    hint: '--skip-unsupported skips it where it can be skipped',
  },
  ERR_RDB_TOO_BIG: {
    class: 'stop',
    meaning:
      'one compact value (ziplist, listpack, intset, zipmap, quicklist or stream node) larger than 64 MiB: refused before it is read',
    hint: 'lower the *-max-listpack-* settings on the source and re-encode the key (e.g. DEBUG RELOAD), or delete/convert it there, then rerun',
  },
  ERR_FILTER_UNMAPPABLE: {
    class: 'stop',
    meaning: 'a stream command names DBs that `--dbs`/`--db-map` cannot express',
    hint: 'widen --dbs / --db-map to cover the DBs the command names',
  },
  ERR_SOURCE_LOST_IN_COPY: {
    class: 'stop',
    meaning:
      'the source link was lost during the full copy of a `--on-conflict skip` run over a target that held other keys',
    hint: 'start again with --flush-target or --on-conflict overwrite',
  },
  ERR_SPOOL_FULL: {
    class: 'stop',
    meaning: 'the spool reached its disk budget (the target is far behind)',
    hint: 'raise --spool-limit or speed up the target; with --state-dir the next start continues from the checkpoint',
  },
  ERR_PROTOCOL: {
    class: 'stop',
    meaning: 'a server sent bytes that are not RESP',
    hint: 'make sure the address is a Redis/Valkey server',
  },
  ERR_STATUS_LISTEN: {
    class: 'stop',
    meaning: 'the status port could not be opened',
    hint: 'choose another --status-port or free this one',
  },
  ERR_INTERRUPTED: {
    class: 'stop',
    meaning:
      '`restore`, or `sync` before its full copy was complete, stopped by a signal: the target holds part of the data (exit 3)',
    hint: 'rerun with --flush-target (or the same --state-dir) to copy it whole',
  },
  ERR_SOURCE_RETRIES_EXHAUSTED: {
    class: 'stop',
    meaning:
      'sync: the source broke --max-full-copies full copies in a row, or reconnecting made no progress for --reconnect-timeout',
    hint: 'see the last error named in the message; fix the source or raise --max-full-copies / --reconnect-timeout',
  },
  ERR_CHECKPOINT_MISMATCH: {
    class: 'stop',
    meaning: 'the checkpoint in `--state-dir` was made with another target, `--dbs` or `--db-map`',
    hint: 'use the same target and DB selection, another --state-dir, or --flush-target',
  },
  ERR_CHECKPOINT_LAYOUT: {
    class: 'stop',
    meaning: 'cluster source: the checkpoints are for slot ranges no shard of the source has now',
    hint: '--flush-target copies again',
  },
  ERR_CHECKPOINT_MISSING_ON_TARGET: {
    class: 'stop',
    meaning: 'the target lost its checkpoint key',
    hint: '--flush-target copies again',
  },
  ERR_CHECKPOINT_TARGET_BEHIND: {
    class: 'stop',
    meaning: 'the target lost writes it had acknowledged',
    hint: '--flush-target copies again',
  },
  ERR_CHECKPOINT: {
    class: 'stop',
    meaning: 'the state-dir file or the target key is not a checkpoint this version reads',
    hint: 'remove the state dir (and start with --flush-target) or use the version that wrote it',
  },
  ERR_CHECKPOINT_WRITE: {
    class: 'stop',
    meaning: 'the target refused the checkpoint key (ACL key patterns)',
    hint: 'the target user needs SET on this key; or choose another checkpoint key/db',
  },
  ERR_RESUME_FULLRESYNC: {
    class: 'stop',
    meaning: 'without `--state-dir`: the source answered a reconnect with a full resync',
    hint: 'restart with --flush-target; a bigger repl-backlog-size on the source lets a longer pause resume',
  },
  ERR_SENTINEL_UNKNOWN_MASTER: {
    class: 'stop',
    meaning: 'no Sentinel knows `--source-master-name`',
    hint: 'check --source-master-name against SENTINEL MASTERS',
  },
  ERR_SENTINEL_UNREACHABLE: {
    // Asked again before every reconnect: during a failover the Sentinels may not answer yet.
    class: 'reconnect',
    link: 'source',
    meaning: 'no Sentinel answered (retried while reconnecting)',
    hint: 'check --source-sentinel (host:port of a Sentinel) and that it is reachable',
  },
  ERR_PRECHECK: {
    class: 'stop',
    meaning: 'the precheck before sync/restore found errors (each with its fix)',
    hint: 'fix each finding, or pass --skip-precheck',
  },
  ERR_CROSS_SLOT: {
    class: 'stop',
    meaning: 'a cluster target and a `MULTI` group or multi-key command whose keys span slots',
    hint: 'rerun with --cross-slot split, or hash-tag the keys on the source',
  },
  ERR_TARGET_DB: {
    class: 'stop',
    meaning:
      'a target DB of the run does not exist on the target (`databases`); nothing meant for it was written',
    hint: 'map it into a DB the target has (--db-map), or raise `databases` on the target',
  },
  ERR_DB_MERGE_FLUSH: {
    class: 'stop',
    meaning:
      '--allow-db-merge: the source ran FLUSHDB (or SWAPDB) in a DB merged with others into one target DB; the run stopped before writing it',
    hint: 'restart with --flush-target, or map the DBs apart',
  },
  ERR_DB_COLLISION: {
    class: 'stop',
    meaning: 'a key exists in more than one source DB mapped into one target DB',
    hint: '--on-conflict overwrite or skip, or map the DBs apart',
  },
  ERR_CLUSTER_DB: {
    class: 'stop',
    meaning: 'a write for a DB other than 0 reached a cluster target',
    hint: 'map it: --db-map N:0, or leave the DB out with --dbs',
  },
  ERR_INTERNAL: {
    class: 'stop',
    meaning: 'a bug in replicant',
    hint: 'this is a bug in replicant; rerun with --debug and report it',
  },
} as const satisfies Record<`ERR_${string}`, CodeInfo>;

/** Every error code; a typo in `new ReplicantError('ERR_…')` is a compile error. */
export type ErrorCode = keyof typeof CODES;

/** Known code (for codes that arrive as plain strings: `(err as { code?: string }).code`). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(CODES, code);
}

/** The class of a code; unknown codes (not ours) are `stop`. */
export function codeClass(code: string): ErrorClass {
  return isErrorCode(code) ? CODES[code].class : 'stop';
}

/**
 * True when reconnecting `link` can cure `code`. The sync loops ask with 'source' (a new replica link
 * to the source, or to the master the Sentinel names now); the target's owners (the cluster writer, the
 * checkpoint writer) with 'target'.
 */
export function isReconnectable(code: string, link: Link): boolean {
  if (!isErrorCode(code)) return false;
  const info: CodeInfo = CODES[code];
  return info.class === 'reconnect' && info.link === link;
}

// ---- server reply prefixes ------------------------------------------------------------------------

export interface ReplyInfo {
  /** What a write refused with this reply means on a standalone target (and on a source handshake). */
  readonly class: ErrorClass;
  /** On a cluster target, when it differs from `class`. */
  readonly cluster?: ErrorClass;
  /** The code the reply is reported under (metrics, and the error a `stop` becomes). */
  readonly code: ErrorCode;
  readonly hint: string;
}

/**
 * Reply prefixes (the first word of `-PREFIX message`) replicant acts on. Anything else is `stop`
 * (see REPLY_OTHER). `ERR …` replies are sorted by their text (REPLY_TEXT_RULES).
 */
export const REPLIES = {
  MOVED: { class: 'refresh-slots', code: 'ERR_TARGET_MOVED', hint: CODES.ERR_TARGET_MOVED.hint },
  ASK: { class: 'refresh-slots', code: 'ERR_TARGET_ASK', hint: CODES.ERR_TARGET_ASK.hint },
  TRYAGAIN: { class: 'backoff', code: 'ERR_TARGET_TRYAGAIN', hint: CODES.ERR_TARGET_TRYAGAIN.hint },
  CLUSTERDOWN: {
    class: 'backoff',
    code: 'ERR_TARGET_CLUSTERDOWN',
    hint: 'the target cluster is down: retried with backoff; check CLUSTER INFO (cluster_state) if it persists',
  },
  LOADING: { class: 'backoff', code: 'ERR_TARGET_LOADING', hint: CODES.ERR_TARGET_LOADING.hint },
  BUSY: { class: 'backoff', code: 'ERR_TARGET_BUSY', hint: CODES.ERR_TARGET_BUSY.hint },
  MASTERDOWN: { class: 'backoff', code: 'ERR_TARGET_MASTERDOWN', hint: CODES.ERR_TARGET_MASTERDOWN.hint },
  // A replica with replica-serve-stale-data no, while its master link is down.
  NOMASTERLINK: {
    class: 'backoff',
    code: 'ERR_TARGET_MASTERDOWN',
    hint: CODES.ERR_TARGET_MASTERDOWN.hint,
  },
  // One answer, two settings. On a cluster target a master demoted by a failover answers the writes it
  // still receives with READONLY: the slot map is stale, and the new master takes them after a refresh
  // (given up after the retry timeout like CLUSTERDOWN). A standalone target has no map to refresh: it
  // is a replica, and only a human can point --target at the primary.
  READONLY: {
    class: 'stop',
    cluster: 'refresh-slots',
    code: 'ERR_TARGET_READONLY',
    hint: 'the target is a replica (read-only): point --target at its primary, or make it writable (REPLICAOF NO ONE), then start again with the same --state-dir',
  },
  OOM: {
    class: 'stop',
    code: 'ERR_TARGET_OOM',
    hint: 'the target reached maxmemory with a noeviction policy: raise maxmemory (CONFIG SET maxmemory …) or migrate into a bigger target',
  },
  MISCONF: {
    class: 'stop',
    code: 'ERR_TARGET_MISCONF',
    hint: 'the target refuses writes because its last BGSAVE failed (stop-writes-on-bgsave-error): fix its disk space, permissions or `dir` (see its log), run BGSAVE until it succeeds (or CONFIG SET stop-writes-on-bgsave-error no), then start again with the same --state-dir',
  },
  NOPERM: {
    class: 'stop',
    code: 'ERR_TARGET_NOPERM',
    hint: "the target's ACL user may not run this command: ACL SETUSER <user> +<command> (and ~* for keys)",
  },
  NOAUTH: { class: 'stop', code: 'ERR_AUTH', hint: 'check the password / ACL user in the target URL' },
  WRONGPASS: { class: 'stop', code: 'ERR_AUTH', hint: 'check the password / ACL user in the target URL' },
  BUSYKEY: {
    class: 'stop',
    code: 'ERR_TARGET_BUSYKEY',
    hint: 'the key already exists on the target: use --on-conflict overwrite (replace it) or --on-conflict skip (keep it)',
  },
  WRONGTYPE: {
    class: 'stop',
    code: 'ERR_TARGET_WRONGTYPE',
    hint: 'the target holds this key with another type: flush the target DB or use --on-conflict overwrite',
  },
  EXECABORT: {
    class: 'stop',
    code: 'ERR_TARGET_EXECABORT',
    hint: 'the target refused a command inside MULTI; the reply of that command says why',
  },
  NOREPLICAS: {
    class: 'stop',
    code: 'ERR_TARGET_REPLY',
    hint: 'the target refuses writes until enough replicas are connected (min-replicas-to-write): bring its replicas back or lower that setting',
  },
} as const satisfies Record<string, ReplyInfo>;

export type ReplyPrefix = keyof typeof REPLIES;

/** `-ERR …` replies told apart by their text, tried in order. */
export const REPLY_TEXT_RULES: readonly (ReplyInfo & { readonly match: RegExp })[] = [
  {
    match: /^ERR unknown (?:sub)?command/i,
    class: 'stop',
    code: 'ERR_TARGET_UNSUPPORTED',
    hint: 'the target does not support this command (older version, renamed or disabled command): upgrade the target or migrate without the keys that need it',
  },
  {
    match: /^ERR max(?:imum)? number of clients/i,
    class: 'backoff',
    code: 'ERR_TARGET_MAXCLIENTS',
    hint: CODES.ERR_TARGET_MAXCLIENTS.hint,
  },
];

/** Every other reply. */
export const REPLY_OTHER: ReplyInfo = {
  class: 'stop',
  code: 'ERR_TARGET_REPLY',
  hint: CODES.ERR_TARGET_REPLY.hint,
};

/** The catalogue entry of a known prefix, or null. */
export function replyPrefixInfo(prefix: string): ReplyInfo | null {
  return Object.hasOwn(REPLIES, prefix) ? REPLIES[prefix as ReplyPrefix] : null;
}

/** What a reply error means: by prefix, then by text, else REPLY_OTHER. */
export function replyInfo(prefix: string, message: string): ReplyInfo {
  const p = replyPrefixInfo(prefix);
  if (p !== null) return p;
  for (const r of REPLY_TEXT_RULES) if (r.match.test(message)) return r;
  return REPLY_OTHER;
}

/** The class of a reply on a standalone target/source (`cluster: false`) or a cluster target. */
export function replyClass(prefix: string, message: string, cluster: boolean): ErrorClass {
  const i = replyInfo(prefix, message);
  return cluster ? (i.cluster ?? i.class) : i.class;
}
