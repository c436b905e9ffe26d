/**
 * The records that flow through the one pipeline (docs/design.md §1):
 *
 *   Source ──▶ Filter chain ──▶ Sink ──acks──▶ Checkpoint
 *
 * A snapshot key does not travel as one object: a key can be a 10 M-field hash, so it travels as
 * `keyStart` → any number of `keyRaw` and `keyElements` chunks (interleaved, in source order) → `keyEnd`.
 * Every consumer of a snapshot implements {@link KeyVisitor}. Keys, values and stream arguments are
 * Buffers (binary-safe) and are never turned into JS strings on the data path.
 */

/** Logical Redis type of a key, as `TYPE` reports it (module values report `module`). */
export type ValueType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'module';

/** What is known about a snapshot key before its value is read. Valid until `keyEnd`. */
export interface KeyMeta {
  /** Source database (0–255 for standalone; always 0 for a cluster node). */
  db: number;
  key: Buffer;
  type: ValueType;
  /** The RDB object type byte the raw bytes are encoded with (0–25, docs/protocol.md §2.4). */
  rdbType: number;
  /** RDB version of the file/payload the raw bytes come from; with `rdbType` and the raw body it makes a DUMP payload. */
  rdbVersion: number;
  /** `'redis'` for `REDIS00xx` magic and DUMP payloads with version < 80; `'valkey'` for `VALKEY0xx`. */
  family: 'redis' | 'valkey';
  /** Absolute expiry in Unix milliseconds, or null when the key has none. Never relative. */
  expireAtMs: number | null;
  /** LRU idle seconds (RDB opcode IDLE), when present. */
  idleSeconds: number | null;
  /** LFU counter (RDB opcode FREQ), when present. */
  freq: number | null;
  /** For module values: the module type name (9 chars) and encoding version; null otherwise. */
  module: { name: string; encver: number } | null;
}

/** A stream ID, kept as the decimal text `ms-seq` so it can be sent as a command argument as is. */
export type StreamId = string;

/**
 * A bounded piece of a decoded value. Producers flush a chunk when it reaches their element-count or
 * byte budget, so no chunk holds a whole big value. Consumers must not keep references past the call
 * unless they copy (Buffers may be views into a reused input chunk).
 *
 * Ordering within a key: for `string`, pieces concatenate in order. For `list`, items are in list
 * order head→tail. For `zset`, order is unspecified (members are unique). For `stream`, all
 * `stream-entries` chunks come first (ascending IDs), then exactly one `stream-meta`, then for each
 * group one `stream-group` followed by its `stream-pel` chunks and `stream-consumer` chunks.
 */
export type ValueChunk =
  | { kind: 'string'; data: Buffer }
  | { kind: 'list'; items: Buffer[] }
  | { kind: 'set'; members: Buffer[] }
  /** Scores are exact IEEE-754 doubles, ±Infinity included (format with {@link formatScore}). */
  | { kind: 'zset'; members: Buffer[]; scores: number[] }
  /**
   * `fieldExpireAtMs[i]` is field i's absolute TTL in ms or null; the array is absent when the encoding
   * cannot carry field TTLs (every type but 22/23/24/25 and Valkey HASH_2). Already-expired fields are
   * delivered too — the consumer decides (and counts) what to drop.
   */
  | { kind: 'hash'; fields: Buffer[]; values: Buffer[]; fieldExpireAtMs?: (number | null)[] }
  /** `fields[i]` is the flat field,value,field,value… list of entry `ids[i]`. Deleted entries are omitted. */
  | { kind: 'stream-entries'; ids: StreamId[]; fields: Buffer[][] }
  | {
      kind: 'stream-meta';
      length: number;
      lastId: StreamId;
      /** Present from stream v2 (rdbType 19+); null on v1 streams. */
      firstId: StreamId | null;
      maxDeletedId: StreamId | null;
      entriesAdded: number | null;
      groupCount: number;
    }
  | {
      kind: 'stream-group';
      name: Buffer;
      lastId: StreamId;
      entriesRead: number | null;
      pelSize: number;
      consumerCount: number;
    }
  /** Pending entries of the group named by the latest `stream-group`. */
  | { kind: 'stream-pel'; ids: StreamId[]; deliveryTimeMs: number[]; deliveryCount: number[] }
  /** One consumer of the latest group; `pending` lists the IDs it owns (all present in the group PEL). */
  | {
      kind: 'stream-consumer';
      name: Buffer;
      seenTimeMs: number;
      activeTimeMs: number | null;
      pending: StreamId[];
    }
  /**
   * Stream v4 only (rdbType 26, Redis 8.6), last chunk of the key: the idempotent-producer (IDMP) dedup
   * state, summarised — no command of older servers can carry it, so a rewrite can only count it.
   */
  | { kind: 'stream-idmp'; durationSec: number; maxSize: number; producers: number; ids: number };

/**
 * Consumer of a snapshot (an RDB file, the RDB of a full sync, a SCAN pass).
 *
 * Contract:
 * - Calls arrive in source order. Between `keyStart` and `keyEnd`, `keyRaw` delivers the key's RDB
 *   object body (the bytes after the key name, without the type byte) in order, and `keyElements`
 *   delivers the same value decoded, in bounded chunks. A consumer may use either or both.
 * - `keyRaw` chunks concatenated = the body of a DUMP payload (see src/rdb dump builder).
 * - Calls are synchronous. A consumer that cannot keep up exposes backpressure through its own
 *   `needsDrain`/`drain()` (see {@link Sink}); the Source checks it between input chunks, never in the
 *   middle of a visitor call.
 */
export interface KeyVisitor {
  keyStart(meta: KeyMeta): void;
  keyRaw(chunk: Buffer): void;
  keyElements(chunk: ValueChunk): void;
  keyEnd(): void;
  /** A function library (RDB FUNCTION2 opcode, or FUNCTION DUMP on a SCAN source): its Lua code `#!lua name=…`. */
  functionLibrary(code: Buffer): void;
}

/**
 * One command from a replication stream or AOF. `argv[0]` is the command name as sent (any case).
 * `offset` is the source replication offset *after* this command (0 where the source has none).
 * A MULTI…EXEC group travels as one record with `multi` set (argv of each inner command; MULTI/EXEC
 * themselves are not included).
 */
export interface CommandRecord {
  db: number;
  argv: Buffer[];
  offset: number;
  multi?: Buffer[][];
  /**
   * A MULTI group too big to hold whole is forwarded in parts, all in the same db (see
   * src/replication/stream.ts): `groupMore` — more parts of this transaction follow, so no EXEC after
   * this one; `groupCont` — this part continues the transaction the previous record left open, so no
   * MULTI before it. No Position is emitted between the parts. A sink that ignores the two flags
   * applies each part as a transaction of its own (atomicity lost between parts, nothing else).
   */
  groupMore?: boolean;
  groupCont?: boolean;
}

/** "Everything before me has been emitted." A sink acks it once the target acknowledged all writes before it. */
export interface Position {
  replid: string;
  offset: number;
  db: number;
}

/**
 * Where records go. Implemented by the standalone writer, the cluster writer, a file writer, null.
 *
 * Contract:
 * - Order is preserved per key (and per slot on a cluster); writes to unrelated keys may complete in
 *   any order only if the implementation documents it.
 * - Snapshot keys are idempotent: they replace whatever the target holds (subject to the conflict mode).
 *   Commands are not idempotent: each is applied exactly once, in order.
 * - Flow control: after feeding records, a producer checks `needsDrain` and, when true, awaits
 *   `drain()` before feeding more. Memory held by the sink is bounded by its window.
 * - `position()` resolves (via `onAck`) only after every write fed before it was acknowledged.
 * - Errors: a write the target refuses is classified once (retry / back off / reconnect / fatal); a
 *   fatal one rejects `drain()`/`flush()` with a ReplicantError naming the key and the server reply.
 */
export interface Sink extends KeyVisitor {
  command(rec: CommandRecord): void;
  position(pos: Position): void;
  onAck(cb: (pos: Position) => void): void;
  readonly needsDrain: boolean;
  drain(): Promise<void>;
  /** Resolves when every write fed so far is acknowledged by the target. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Format a zset score so the server parses back exactly the same double. */
export function formatScore(score: number): string {
  if (score === Number.POSITIVE_INFINITY) return '+inf';
  if (score === Number.NEGATIVE_INFINITY) return '-inf';
  // Number#toString gives the shortest text that round-trips to the same double (ECMA-262 Number::toString).
  return String(score);
}
