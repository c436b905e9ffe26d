/**
 * The one flag schema for every command. Each flag says which commands accept it, how its value is
 * checked, and its help line; parsing (parse.ts) and `--help` (help.ts) both read this table, so a
 * flag cannot exist in one and be missing from the other.
 */
import { DEFAULT_HEARTBEAT_KEY } from '../replication/heartbeat.js';

export const COMMANDS = ['sync', 'restore', 'rdb-inspect', 'precheck', 'verify'] as const;
export type CommandName = (typeof COMMANDS)[number];

export const COMMAND_SUMMARY: Record<CommandName, string> = {
  sync: 'live migration: pose as a replica of --source, copy the snapshot, then replay writes into --target',
  restore: 'load an RDB file (--rdb FILE) into --target',
  'rdb-inspect': 'print what an RDB file holds (per-DB key counts by type; --json: one line per key)',
  precheck: 'check source and target before a migration: every finding with its fix; exit 2 on any error',
  verify:
    'compare source and target key by key (multi-round, so it can run during a live sync); --repair fixes differences',
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const CONFLICT_MODES = ['report', 'overwrite', 'skip'] as const;
export type ConflictMode = (typeof CONFLICT_MODES)[number];

/** How a flag's value is checked and converted (parse.ts implements each kind once). */
export type ValueKind =
  | 'boolean'
  | 'url'
  | 'string'
  | 'path'
  | 'port'
  | 'size'
  | 'dbs'
  | 'db-map'
  | 'log-level'
  | 'conflict'
  /** One of FlagSpec.choices. */
  | 'choice'
  /** A whole number ≥ 1. */
  | 'count'
  /** `500ms`, `2s`, `5m`, `1h`; a bare number is seconds. Converted to milliseconds. */
  | 'duration'
  /** `host:port`. */
  | 'host-port';

export interface FlagSpec {
  /** Long name without dashes, as typed: `--name`. */
  name: string;
  /** Key in the Config object. */
  key: string;
  kind: ValueKind;
  /** Commands that accept it; 'all' = every command. */
  commands: readonly CommandName[] | 'all';
  help: string;
  /** Placeholder shown in help (`--target URL`). */
  arg?: string;
  short?: string;
  /** Environment variable consulted when the flag is absent (flags win). */
  env?: string;
  /** Value when neither flag nor env is given. */
  default?: unknown;
  /** Never echo this value (passwords). */
  secret?: boolean;
  /** The accepted values of a 'choice' flag. */
  choices?: readonly string[];
}

const LIVE: readonly CommandName[] = ['sync', 'precheck', 'verify'];
const WRITES: readonly CommandName[] = ['sync', 'restore'];
const TARGETED: readonly CommandName[] = ['sync', 'restore', 'precheck', 'verify'];
const SNAPSHOT: readonly CommandName[] = ['sync', 'restore', 'rdb-inspect', 'precheck', 'verify'];
const CHECKED: readonly CommandName[] = ['sync', 'restore', 'precheck'];

export const HASH_FIELD_TTL_MODES = ['error', 'strip', 'skip-key'] as const;
export type HashFieldTtlMode = (typeof HASH_FIELD_TTL_MODES)[number];
export const CROSS_SLOT_MODES = ['error', 'split'] as const;
export type CrossSlotMode = (typeof CROSS_SLOT_MODES)[number];

export const FLAGS: readonly FlagSpec[] = [
  {
    name: 'source',
    key: 'source',
    kind: 'url',
    commands: LIVE,
    arg: 'URL',
    env: 'REPLICANT_SOURCE',
    help: 'source server, redis://[user:password@]host:port (TLS is not supported yet)',
  },
  {
    name: 'source-user',
    key: 'sourceUser',
    kind: 'string',
    commands: LIVE,
    arg: 'NAME',
    env: 'REPLICANT_SOURCE_USER',
    help: 'ACL user on the source (overrides the URL)',
  },
  {
    name: 'source-password',
    key: 'sourcePassword',
    kind: 'string',
    commands: LIVE,
    arg: 'PASS',
    env: 'REPLICANT_SOURCE_PASSWORD',
    secret: true,
    help: 'source password (prefer the env variable REPLICANT_SOURCE_PASSWORD)',
  },
  {
    name: 'target',
    key: 'target',
    kind: 'url',
    commands: TARGETED,
    arg: 'URL',
    env: 'REPLICANT_TARGET',
    help: 'target server, redis://[user:password@]host:port (TLS is not supported yet)',
  },
  {
    name: 'target-user',
    key: 'targetUser',
    kind: 'string',
    commands: TARGETED,
    arg: 'NAME',
    env: 'REPLICANT_TARGET_USER',
    help: 'ACL user on the target (overrides the URL)',
  },
  {
    name: 'target-password',
    key: 'targetPassword',
    kind: 'string',
    commands: TARGETED,
    arg: 'PASS',
    env: 'REPLICANT_TARGET_PASSWORD',
    secret: true,
    help: 'target password (prefer the env variable REPLICANT_TARGET_PASSWORD)',
  },
  {
    name: 'rdb',
    key: 'rdb',
    kind: 'path',
    commands: ['restore', 'precheck'],
    arg: 'FILE',
    help: 'the RDB file to load (precheck: check a restore of this file instead of a live sync)',
  },
  {
    name: 'json',
    key: 'json',
    kind: 'boolean',
    commands: ['rdb-inspect', 'precheck', 'verify'],
    default: false,
    help: 'machine-readable output on stdout: rdb-inspect one JSON line per key then a summary; precheck/verify one JSON document',
  },
  {
    name: 'dbs',
    key: 'dbs',
    kind: 'dbs',
    commands: SNAPSHOT,
    arg: 'LIST',
    help: 'only these source DBs, e.g. 0,3,15 (0-255); default all',
  },
  {
    name: 'db-map',
    key: 'dbMap',
    kind: 'db-map',
    commands: SNAPSHOT,
    arg: 'MAP',
    help: 'write source DB s into target DB t: s:t[,s:t…], e.g. 3:0,4:1; unmapped DBs keep their number',
  },
  {
    name: 'match',
    key: 'match',
    kind: 'string',
    commands: ['restore', 'rdb-inspect', 'verify'],
    arg: 'GLOB',
    help: 'only keys whose name matches this Redis glob (* ? [a-z] \\x), snapshot keys only',
  },
  {
    name: 'on-conflict',
    key: 'onConflict',
    kind: 'conflict',
    commands: CHECKED,
    arg: 'MODE',
    default: 'report',
    help: 'when a target DB already holds keys: report (refuse to start), overwrite, skip (keep the target key)',
  },
  {
    name: 'big-key-bytes',
    key: 'bigKeyBytes',
    kind: 'size',
    commands: WRITES,
    arg: 'SIZE',
    default: 16 * 1024 * 1024,
    help: 'values larger than this are rewritten in chunks instead of one RESTORE (suffixes kb, mb, gb); default 16mb',
  },
  {
    name: 'no-restore',
    key: 'noRestore',
    kind: 'boolean',
    commands: CHECKED,
    default: false,
    help: 'never use RESTORE; always rewrite values with ordinary commands',
  },
  {
    name: 'no-verify-crc',
    key: 'noVerifyCrc',
    kind: 'boolean',
    commands: ['restore'],
    default: false,
    help: "don't check the file's CRC64 in a first pass before writing (saves one read of the file; a damaged file may then be partly written before its checksum is found wrong)",
  },
  {
    name: 'skip-unsupported',
    key: 'skipUnsupported',
    kind: 'boolean',
    commands: SNAPSHOT,
    default: false,
    help: 'skip and count keys of RDB types this version cannot decode, instead of failing',
  },
  {
    name: 'flush-target',
    key: 'flushTarget',
    kind: 'boolean',
    commands: CHECKED,
    default: false,
    help: 'empty (FLUSHDB) every target DB this run writes to before writing; for a restart without resume, so keys deleted on the source meanwhile do not survive',
  },
  {
    name: 'skip-functions',
    key: 'skipFunctions',
    kind: 'boolean',
    commands: CHECKED,
    default: false,
    help: 'do not copy function libraries',
  },
  {
    name: 'hash-field-ttl',
    key: 'hashFieldTtl',
    kind: 'choice',
    choices: HASH_FIELD_TTL_MODES,
    commands: CHECKED,
    arg: 'MODE',
    default: 'error',
    help: 'hash fields with a TTL (Redis 7.4+) on a target without HPEXPIREAT: error (stop, default), strip (write the fields without their TTL), skip-key (skip and count those keys)',
  },
  {
    name: 'cross-slot',
    key: 'crossSlot',
    kind: 'choice',
    choices: CROSS_SLOT_MODES,
    commands: CHECKED,
    arg: 'MODE',
    default: 'error',
    help: 'cluster target, a MULTI group or command whose keys span slots: error (stop, default) or split (apply per slot, not atomically, and count)',
  },
  {
    name: 'prefer-replica',
    key: 'preferReplica',
    kind: 'boolean',
    commands: LIVE,
    default: false,
    help: 'cluster source: sync from (or read from) a replica of each shard instead of its master',
  },
  {
    name: 'source-sentinel',
    key: 'sourceSentinel',
    kind: 'host-port',
    commands: LIVE,
    arg: 'HOST:PORT',
    env: 'REPLICANT_SOURCE_SENTINEL',
    help: 'find the source master through this Sentinel (with --source-master-name) and follow its failovers',
  },
  {
    name: 'source-master-name',
    key: 'sourceMasterName',
    kind: 'string',
    commands: LIVE,
    arg: 'NAME',
    help: 'the master name Sentinel knows the source by (with --source-sentinel)',
  },
  {
    name: 'spool-limit',
    key: 'spoolLimit',
    kind: 'size',
    commands: ['sync'],
    arg: 'SIZE',
    default: 8 * 1024 ** 3,
    help: 'disk budget of the spool in --state-dir (source bytes the target has not taken yet); default 8gb',
  },
  {
    name: 'spool-memory',
    key: 'spoolMemory',
    kind: 'size',
    commands: ['sync'],
    arg: 'SIZE',
    default: 64 * 1024 ** 2,
    help: 'source bytes the spool keeps in memory before it writes them to disk (then --spool-limit applies); default 64mb',
  },
  {
    name: 'skip-precheck',
    key: 'skipPrecheck',
    kind: 'boolean',
    commands: WRITES,
    default: false,
    help: 'do not run the precheck before writing (its errors would otherwise stop the run)',
  },
  {
    name: 'allow-db-merge',
    key: 'allowDbMerge',
    kind: 'boolean',
    commands: CHECKED,
    default: false,
    help: 'accept a --db-map that writes several source DBs into one target DB (same-named keys collide; a FLUSHDB/SWAPDB of a merged DB then stops the run)',
  },
  {
    name: 'allow-eviction',
    key: 'allowEviction',
    kind: 'boolean',
    commands: CHECKED,
    default: false,
    help: 'accept a target whose maxmemory-policy is not noeviction (the precheck then only warns); keys may be evicted on the target',
  },
  {
    name: 'sample',
    key: 'sample',
    kind: 'count',
    commands: ['verify'],
    arg: 'N',
    help: 'verify about N randomly chosen source keys instead of every key',
  },
  {
    name: 'rounds',
    key: 'rounds',
    kind: 'count',
    commands: ['verify'],
    arg: 'N',
    default: 3,
    help: 'compare rounds: keys that differ are re-checked after --round-delay, so writes in flight are not reported; default 3',
  },
  {
    name: 'round-delay',
    key: 'roundDelay',
    kind: 'duration',
    commands: ['verify'],
    arg: 'TIME',
    default: 2000,
    help: 'wait between verify rounds (500ms, 2s, 1m); default 2s',
  },
  {
    name: 'ttl-tolerance',
    key: 'ttlTolerance',
    kind: 'duration',
    commands: ['verify'],
    arg: 'TIME',
    default: 2000,
    help: 'TTLs that differ by no more than this are equal; default 2s',
  },
  {
    name: 'report',
    key: 'report',
    kind: 'path',
    commands: ['verify'],
    arg: 'FILE',
    help: 'write one JSON line per differing key to FILE; default replicant-verify-<time>.jsonl in the current directory when there are differences',
  },
  {
    name: 'repair',
    key: 'repair',
    kind: 'boolean',
    commands: ['verify'],
    default: false,
    help: 'rewrite every differing or missing key on the target from the source (extra keys only with --delete-extra)',
  },
  {
    name: 'delete-extra',
    key: 'deleteExtra',
    kind: 'boolean',
    commands: ['verify'],
    default: false,
    help: 'with --repair: delete target keys that the source does not have',
  },
  {
    name: 'heartbeat-key',
    key: 'heartbeatKey',
    kind: 'string',
    commands: ['sync'],
    arg: 'NAME',
    default: DEFAULT_HEARTBEAT_KEY,
    help: `key written on the source every second to measure lag (never copied); default ${DEFAULT_HEARTBEAT_KEY}`,
  },
  {
    name: 'status-port',
    key: 'statusPort',
    kind: 'port',
    commands: ['sync', 'restore'],
    arg: 'N',
    env: 'REPLICANT_STATUS_PORT',
    help: 'serve /status (JSON) and /metrics (Prometheus) on this port (0 = any free port); default off',
  },
  {
    name: 'status-host',
    key: 'statusHost',
    kind: 'string',
    commands: ['sync', 'restore'],
    arg: 'HOST',
    default: '127.0.0.1',
    help: 'address the status server listens on; default 127.0.0.1 (any other address needs --status-token)',
  },
  {
    name: 'status-token',
    key: 'statusToken',
    kind: 'string',
    commands: ['sync', 'restore'],
    arg: 'TOKEN',
    env: 'REPLICANT_STATUS_TOKEN',
    secret: true,
    help: 'clients of the status server must send Authorization: Bearer TOKEN (every route); required when --status-host is not a loopback address (prefer the env variable REPLICANT_STATUS_TOKEN)',
  },
  {
    name: 'max-full-copies',
    key: 'maxFullCopies',
    kind: 'count',
    commands: ['sync'],
    arg: 'N',
    default: 5,
    help: 'stop (ERR_SOURCE_RETRIES_EXHAUSTED) when the source breaks this many full copies in a row (truncated or broken transfers); default 5',
  },
  {
    name: 'reconnect-timeout',
    key: 'reconnectTimeout',
    kind: 'duration',
    commands: ['sync'],
    arg: 'TIME',
    default: 300_000,
    help: 'stop (ERR_SOURCE_RETRIES_EXHAUSTED) when reconnecting to the source has made no progress for this long (500ms, 30s, 5m); default 5m',
  },
  {
    name: 'state-dir',
    key: 'stateDir',
    kind: 'path',
    commands: ['sync'],
    arg: 'DIR',
    env: 'REPLICANT_STATE_DIR',
    help: 'directory for the spool files and the resume checkpoint (a clean stop there resumes by PSYNC on the next start); default: spool in the OS temp dir, no checkpoint',
  },
  {
    name: 'log-level',
    key: 'logLevel',
    kind: 'log-level',
    commands: 'all',
    arg: 'LEVEL',
    env: 'REPLICANT_LOG_LEVEL',
    default: 'info',
    help: `${LOG_LEVELS.join('|')}; default info`,
  },
  {
    name: 'json-logs',
    key: 'jsonLogs',
    kind: 'boolean',
    commands: 'all',
    default: false,
    help: 'logs as JSON lines (pino) on stderr instead of compact text',
  },
  {
    name: 'no-progress',
    key: 'noProgress',
    kind: 'boolean',
    commands: 'all',
    default: false,
    help: 'no progress line on stderr',
  },
  {
    name: 'debug',
    key: 'debug',
    kind: 'boolean',
    commands: 'all',
    default: false,
    help: 'stack traces on errors',
  },
  {
    name: 'help',
    key: 'help',
    kind: 'boolean',
    commands: 'all',
    short: 'h',
    default: false,
    help: 'show help for the command',
  },
  {
    name: 'version',
    key: 'version',
    kind: 'boolean',
    commands: 'all',
    default: false,
    help: 'print the version',
  },
];

/** Old or commonly guessed names → the flag to use instead. */
export const RENAMED: Readonly<Record<string, string>> = {
  src: '--source',
  'source-url': '--source',
  from: '--source',
  dst: '--target',
  dest: '--target',
  destination: '--target',
  'target-url': '--target',
  to: '--target',
  db: '--dbs',
  databases: '--dbs',
  'map-db': '--db-map',
  'db-mapping': '--db-map',
  conflict: '--on-conflict',
  replace: '--on-conflict overwrite',
  overwrite: '--on-conflict overwrite',
  file: '--rdb',
  'rdb-file': '--rdb',
  input: '--rdb',
  'log-json': '--json-logs',
  quiet: '--no-progress --log-level warn',
  verbose: '--log-level debug',
  password: '--source-password / --target-password',
  'big-key': '--big-key-bytes',
  'no-functions': '--skip-functions',
  'no-precheck': '--skip-precheck',
  fix: '--repair',
  sentinel: '--source-sentinel',
  'master-name': '--source-master-name',
  'metrics-port': '--status-port',
  port: '--status-port',
};

export function flagApplies(spec: FlagSpec, command: CommandName): boolean {
  return spec.commands === 'all' || spec.commands.includes(command);
}
