/**
 * What a sink needs from the rest of the program, as small interfaces: a pipelined writer (the
 * target connection), the target's capabilities (from the probe), the options, and the counters.
 * Kept as interfaces so the sink logic is testable against any writer (tests also use ioredis).
 */
import type { CommandArg } from '../resp/index.js';
import type { ValueType } from '../records.js';

/** Reply callback of a pipelined write; replies arrive in send order. `err` is a ServerReplyError or a connection error. */
export type ReplyCallback = (err: Error | null, reply: unknown) => void;

/** The part of `RedisConnection` (src/net) a sink writes through. */
export interface Writer {
  /**
   * Queue one command; `cb` is called with its reply, in send order. Never returns a Promise.
   * Must encode (copy) the argument Buffers before returning: the sink passes views into the
   * producer's input, which is reused after the call (RedisConnection and CommandWriter do this).
   * May return the command's encoded size (RedisConnection does), which spares the sink computing it.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a writer that doesn't report sizes returns nothing
  send(argv: CommandArg[], cb: ReplyCallback): number | void;
  /** Optional: queue one command already RESP-encoded (copied before it returns); one reply, like send. */
  sendRaw?(bytes: Buffer, cb: ReplyCallback): void;
  /** True while the in-flight window is full; the producer should await `drain()`. */
  readonly needsDrain: boolean;
  /** Resolves when the window has room again. */
  drain(): Promise<void>;
  /**
   * True when the writer itself applies every stream write between two Positions in one transaction
   * (CheckpointWriter): the sink then need not keep a source transaction open across records.
   */
  readonly transactional?: boolean;
}

/** The part of the probed `ServerInfo` (src/net `probeServer`) that decides RESTORE-or-rewrite and command forms. */
export interface TargetCaps {
  family: 'redis' | 'valkey';
  /** e.g. 70015 for 7.0.15. */
  versionNum: number;
  /** Highest RDB/DUMP payload version the target's RESTORE accepts. */
  maxRdbVersion: number;
  /** The target's `proto-max-bulk-len`: no argument may exceed it. */
  protoMaxBulkLen: number;
  /** Command names are lower case. */
  hasCommand(name: string): boolean;
  /** Loaded modules (MODULE LIST); when known and empty, module values are skipped without a try. */
  modules?: { name: string }[];
}

/** How a refused reply is to be handled; mirrors src/net `classifyReplyError`. */
export interface ReplyClass {
  action: string;
  code: string;
  hint?: string | undefined;
}

export interface StandaloneSinkOptions {
  /** Warnings about data a rewrite cannot carry (stream IDMP state), naming the key. */
  log?: { warn(obj: object, msg: string): void };
  /**
   * 'overwrite' replaces target keys; 'skip' leaves existing keys and counts them; 'error' writes like
   * 'skip' but a key found on the target stops the run with ERR_DB_COLLISION (several source DBs
   * mapped into one target DB that was empty: the key came from another source DB). Default 'overwrite'.
   */
  onConflict?: 'overwrite' | 'skip' | 'error';
  /** Raw value size above which a key is streamed as chunked commands. Default 16 MiB, capped below protoMaxBulkLen. */
  bigKeyBytes?: number;
  /** Elements per rewrite command. Default 512. */
  chunkElements?: number;
  /** Byte budget of one rewrite command. Default min(8 MiB, bigKeyBytes). */
  chunkBytes?: number;
  /** 'never' always rewrites (tests, `--no-restore`). Default 'auto'. */
  restore?: 'auto' | 'never';
  /**
   * Hash field TTLs on a target without HPEXPIREAT (`--hash-field-ttl`): 'error' stops with
   * ERR_TARGET_UNSUPPORTED naming the key, 'strip' writes the fields without their TTL, 'drop' leaves
   * out fields that have a TTL, 'skip-key' skips the whole key (counted). Default 'error'.
   */
  hashFieldTtl?: 'error' | 'strip' | 'drop' | 'skip-key';
  /** Count function libraries instead of loading them (`--skip-functions`). */
  skipFunctions?: boolean;
  /** Clock for expiry decisions (tests inject it). */
  now?: () => number;
  /** Reply-error classifier; default src/net `classifyReplyError` (its hint goes into the error). */
  classify?: (err: Error) => ReplyClass;
}

/** Plain counters; the metrics layer reads them. */
export interface SinkStats {
  /** Snapshot keys received, by type (expired and skipped ones included). */
  keys: Record<ValueType, number>;
  restored: Record<ValueType, number>;
  rewritten: Record<ValueType, number>;
  /** Keys acknowledged by the target (the reply to their last command arrived). */
  keysWritten: number;
  /** Why keys were rewritten instead of restored: never (option), family, version, type, size. */
  rewriteReasons: Record<string, number>;
  /** Keys not written, by reason: expired, conflict, module:<name>, hash-field-ttl, unsupported. */
  skipped: Record<string, number>;
  /** Hash fields left out because their TTL had passed (or per `hashFieldTtl: 'drop'`). */
  fieldsDropped: number;
  /** Stream-phase command records applied (acknowledged by the target). */
  commands: number;
  /** Commands sent (all kinds) and their encoded bytes. */
  commandsSent: number;
  bytesSent: number;
  /** Largest single command sent, in encoded bytes (checks the chunking). */
  maxCommandBytes: number;
  functions: number;
}

const zeroByType = (): Record<ValueType, number> => ({
  string: 0,
  list: 0,
  set: 0,
  zset: 0,
  hash: 0,
  stream: 0,
  module: 0,
});

export function newSinkStats(): SinkStats {
  return {
    keys: zeroByType(),
    restored: zeroByType(),
    rewritten: zeroByType(),
    keysWritten: 0,
    rewriteReasons: {},
    skipped: {},
    fieldsDropped: 0,
    commands: 0,
    commandsSent: 0,
    bytesSent: 0,
    maxCommandBytes: 0,
    functions: 0,
  };
}

/** A new full copy begins: per-key counts start again (see obs restartCopyCounts); traffic totals stay. */
export function restartSinkCopyCounts(s: SinkStats): void {
  s.keys = zeroByType();
  s.restored = zeroByType();
  s.rewritten = zeroByType();
  s.keysWritten = 0;
  s.rewriteReasons = {};
  s.skipped = {};
  s.fieldsDropped = 0;
  s.functions = 0;
}

export function countSkipped(stats: SinkStats, reason: string, n = 1): void {
  stats.skipped[reason] = (stats.skipped[reason] ?? 0) + n;
}
