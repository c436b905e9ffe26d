/**
 * StandaloneSink: writes snapshot keys and replication commands into one standalone target through
 * one pipelined connection (design §1, §3).
 *
 * Per key, the cheapest correct path. The key's raw chunks (when RESTORE is possible at all) and its
 * rewrite commands are buffered until `keyEnd` or until they pass `bigKeyBytes`:
 *   - a string without IDLE/FREQ (restore 'auto') → `SET key value [PXAT ms] [NX]`, or in overwrite
 *     mode without a TTL, one of up to 512 keys in an `MSET` batch (RESP-framed into a reused slab);
 *     counted as rewritten, reason 'string-set'. Skip mode: a nil reply is a skipped conflict;
 *   - at `keyEnd`, small and accepted by the target → one `RESTORE … ABSTTL [REPLACE]`, built in place
 *     around the raw body (no payload Buffer) when the writer has `sendRaw`;
 *   - otherwise → `DEL` (overwrite mode) or an `EXISTS` gate (skip mode), the buffered commands, then
 *     the rest of the value streamed as it arrives, then `PEXPIREAT` last, so a key never carries its
 *     TTL before it is complete. Memory: ≤ bigKeyBytes of raw + ≤ bigKeyBytes of commands + the window.
 *
 * Ordering: one connection, so everything — keys, commands, SELECTs, positions — is applied in the
 * order it was fed. Positions are acked (`onAck`) once every write before them is answered.
 */
import type { CommandRecord, KeyMeta, Position, Sink, ValueChunk } from '../records.js';
import { buildDumpPayload, Crc64, rawElementCount } from '../rdb/index.js';
import { type CommandArg, digits, encodeArg, encodedArgLength, writeHeader } from '../resp/index.js';
import { ReplicantError } from '../errors.js';
import { classifyReplyError } from '../net/index.js';
import { copyArgs, copyRecord } from './copy.js';
import { isCommand, noFunctionsError, printableKey } from './errors.js';
import { type Entry, K, missingDbError, WritePipeline } from './pipeline.js';
import { payloadSize, restoreArgv, restoreRefusal } from './restore.js';
import { Rewriter } from './rewrite.js';
import { type SkipDecision, SkippedKeys } from './skipped-keys.js';
import {
  countSkipped,
  newSinkStats,
  type SinkStats,
  type StandaloneSinkOptions,
  type TargetCaps,
  type Writer,
} from './types.js';

const MiB = 1024 * 1024;
const SEND_AS_IS: SkipDecision = { kind: 'send' };
/** Room left under proto-max-bulk-len for the command around the biggest argument. */
const HEADROOM = 64 * 1024;

/** Key states: not written at all, buffering until the path is known, or streaming commands. */
/** MSET batch limits: keys and bytes of values. */
const BATCH_KEYS = 512;
const BATCH_BYTES = 64 * 1024;
/** Room at the front of the batch slab for the `*argc\r\n$4\r\nMSET\r\n` header, written at flush. */
const BATCH_HEAD = 32;

/** RESTORE built in place: room before the body for the header (+ key), after it for version, CRC, options. */
const RESTORE_HEAD = 96;
const RESTORE_TAIL = 128;
const EMPTY = Buffer.alloc(0);
/** Largest raw body looked at for emptiness: an empty collection is a header of a few bytes. */
const EMPTY_BODY_MAX = 64;
/** Keys named in an IDMP warning; the rest are counted. */
const IDMP_WARN_KEYS = 10;

const SKIP = 0;
const BUFFER = 1;
const STREAM = 2;

export class StandaloneSink implements Sink {
  readonly stats: SinkStats = newSinkStats();
  /** Effective limits after capping to the target. */
  readonly bigKeyBytes: number;
  readonly chunkBytes: number;
  private readonly pipe: WritePipeline;
  private readonly rewriter: Rewriter;
  private readonly overwrite: boolean;
  private readonly now: () => number;
  private readonly restoreAuto: boolean;
  private readonly skipFunctions: boolean;
  /** String keys go by one `SET` where the target can (see keyStart); `pxat`: SET takes PXAT (6.2+). */
  private readonly setStrings: boolean;
  private readonly pxat: boolean;
  /** DB the connection is in once everything sent so far has run (-1: unknown, SELECT first). */
  private db = -1;
  /** DBs whose SELECT was sent once: the first one per DB gates the pipeline (K.SELECT). */
  private readonly selected = new Uint8Array(256);
  /** The target's DB count when known (setDatabases): no gate below it, a stop at or above it. */
  private dbCount = 0;

  // Current key.
  private meta: KeyMeta | null = null;
  private key: Buffer = Buffer.alloc(0);
  private keyId = 0;
  private state = SKIP;
  private collectRaw = false;
  /** The decoder (auto mode) delivers this key raw-only until `keyUpgraded` (see decoderOptions). */
  private rawOnly = false;
  /** Why the current key would be rewritten (counted in stats.rewriteReasons). */
  private refusal = 'size';
  private raw: Buffer[] = [];
  private rawBytes = 0;
  /** Element chunks the current key delivered (0 at keyEnd of a decoded collection = empty). */
  private elements = 0;
  private cmds: CommandArg[][] = [];
  private cmdBytes = 0;
  /** The current key goes by one SET: its value collects in `val` (reused across keys, no allocation per key). */
  private fast = false;
  private val: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  private valLen = 0;
  /**
   * Overwrite mode, no TTL: string keys collect into one `MSET k v k v …` (a fraction of the target's
   * per-command cost). Anything else sent first flushes it, so the order of writes is unchanged; a
   * nextTick flush bounds how long it can wait. Keys and values are RESP-encoded straight into
   * `batchSlab` (reused; the writer copies it on sendRaw): no argv, no Buffer view per key.
   */
  private readonly mset: boolean;
  private batchKeys = 0;
  private batchDb = 0;
  private batchLastId = 0;
  private batchFirstKey: Buffer | null = null;
  private readonly batchSlab: Buffer = Buffer.allocUnsafeSlow(BATCH_HEAD + BATCH_BYTES);
  private batchUsed = BATCH_HEAD;
  private batchFlushScheduled = false;
  private readonly batchFlushBound = (): void => {
    this.batchFlushScheduled = false;
    this.flushBatch();
  };
  /** Rewriter.begin is deferred until a key needs the rewriter (most keys go by RESTORE or SET). */
  private begun = false;
  /** RESTORE in place (writer has sendRaw): the raw body collects in `rslab` from offset `rbody`. */
  private readonly direct: boolean;
  /** Keys skipped by `hashFieldTtl: 'skip-key'`, created at the first one: their stream writes are dropped. */
  private skippedKeys: SkippedKeys | null = null;
  private rslab: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  private rbody = 0;
  private readonly crc = new Crc64();
  private readonly log: StandaloneSinkOptions['log'] | null;
  /** A source transaction forwarded in parts is open on the target (MULTI sent, EXEC not yet). */
  private groupOpen = false;
  private groupInner: [string, Buffer | null][] | null = null;
  /** Keep a transaction open across parts (false under a writer that makes its own, see command()). */
  private readonly keepGroupsOpen: boolean;

  constructor(
    writer: Writer,
    private readonly caps: TargetCaps,
    opts: StandaloneSinkOptions = {},
  ) {
    this.overwrite = (opts.onConflict ?? 'overwrite') === 'overwrite';
    this.log = opts.log ?? null;
    this.now = opts.now ?? Date.now;
    this.restoreAuto = (opts.restore ?? 'auto') === 'auto';
    this.skipFunctions = opts.skipFunctions ?? false;
    // SET NX needs 2.6.12; an ACL that denies SET (but allows RESTORE) keeps the RESTORE path.
    this.setStrings = this.restoreAuto && caps.versionNum >= 20612 && caps.hasCommand('set');
    this.pxat = caps.versionNum >= 60200;
    this.direct = typeof writer.sendRaw === 'function';
    this.keepGroupsOpen = writer.transactional !== true;
    this.mset =
      this.setStrings && this.overwrite && caps.hasCommand('mset') && typeof writer.sendRaw === 'function';
    const maxArg = Math.max(4096, caps.protoMaxBulkLen - HEADROOM);
    this.bigKeyBytes = Math.max(1024, Math.min(opts.bigKeyBytes ?? 16 * MiB, maxArg));
    this.chunkBytes = Math.max(1024, Math.min(opts.chunkBytes ?? 8 * MiB, this.bigKeyBytes));
    this.pipe = new WritePipeline(
      writer,
      this.stats,
      opts.classify ?? classifyReplyError,
      (id) => {
        if (id === this.keyId && this.state !== SKIP) this.dropKey();
      },
      opts.onConflict === 'error' ? collisionError : null,
    );
    const v = caps.versionNum;
    const valkey = caps.family === 'valkey';
    this.rewriter = new Rewriter(
      (argv) => this.rewriteCommand(argv),
      {
        chunkElements: Math.max(1, opts.chunkElements ?? 512),
        chunkBytes: this.chunkBytes,
        // Version gate too: hasCommand says yes when the command table could not be read (ACL).
        fieldTtl: caps.hasCommand('hpexpireat') && v >= (valkey ? 90000 : 70400),
        hashFieldTtl: opts.hashFieldTtl ?? 'error',
        streamV2: valkey || v >= 70000,
        createConsumer: valkey || v >= 60200,
      },
      this.stats,
      this.now,
    );
  }

  get needsDrain(): boolean {
    return this.pipe.needsDrain;
  }

  /** Bytes of the current key held until its path is decided (raw + rewrite commands); ≤ ~2 × bigKeyBytes. */
  get bufferedBytes(): number {
    return this.rawBytes * (this.collectRaw ? 1 : 0) + this.cmdBytes;
  }

  /** Entries sent or held and not yet answered. */
  get pending(): number {
    return this.pipe.pending;
  }

  drain(): Promise<void> {
    this.flushBatch();
    return this.pipe.drain();
  }

  flush(): Promise<void> {
    this.flushBatch();
    this.endGroup(false);
    return this.pipe.flush();
  }

  /** Waits for every write to be answered. The connection belongs to the caller, who closes it. */
  close(): Promise<void> {
    this.flushBatch();
    this.endGroup(false);
    return this.pipe.flush();
  }

  onAck(cb: (pos: Position) => void): void {
    this.pipe.onAck(cb);
  }

  position(pos: Position): void {
    this.flushBatch();
    // Positions never fall inside a source transaction: one that is still open lost its last part
    // to a filter, and everything of it has come.
    this.endGroup(true);
    this.pipe.position(pos);
  }

  // ---- snapshot keys ----------------------------------------------------------------------------

  keyStart(meta: KeyMeta): void {
    this.keyId++;
    this.meta = meta;
    this.state = SKIP;
    if (this.pipe.failure !== null) return;
    this.stats.keys[meta.type]++;
    if (meta.expireAtMs !== null && meta.expireAtMs <= this.now()) {
      countSkipped(this.stats, 'expired');
      return;
    }
    const refusal = this.restoreAuto ? restoreRefusal(meta, this.caps) : 'never';
    const restorable = refusal === null;
    this.refusal = refusal ?? 'size'; // if it is rewritten after all, it was too big
    // A module value loads only where its module is: without any module loaded, don't even try.
    if (meta.type === 'module' && (!restorable || this.caps.modules?.length === 0)) {
      countSkipped(this.stats, `module:${meta.module?.name ?? 'unknown'}`);
      return;
    }
    this.state = BUFFER;
    // A string without LRU/LFU metadata goes by `SET key value [PXAT ms] [NX]`: same result as RESTORE
    // (replaces any type, drops an old TTL), but no payload or CRC on our side and a cheaper command on
    // the target's. Where SET can't carry the TTL (< 6.2) a separate PEXPIREAT would race a skip-mode
    // NX, so those keep RESTORE.
    this.fast =
      this.setStrings &&
      meta.type === 'string' &&
      meta.idleSeconds === null &&
      meta.freq === null &&
      (meta.expireAtMs === null || this.pxat);
    // Copied now, for every key: KeyMeta.key may be a view into the caller's chunk. The decoder
    // replaces meta.key with a copy when a value crosses a write() boundary, but a view taken here
    // (or a filter's copy of the meta) would not see that, so a lazy copy at keyEnd is not safe.
    this.key = Buffer.from(meta.key);
    this.valLen = 0;
    this.collectRaw = restorable && !this.fast;
    if (this.collectRaw && this.direct) {
      this.rbody = RESTORE_HEAD + this.key.length;
      if (this.rbody + RESTORE_TAIL > this.rslab.length)
        this.rslab = Buffer.allocUnsafeSlow(2 * (this.rbody + RESTORE_TAIL));
    }
    this.rawOnly = false;
    this.elements = 0;
    if (this.rawBytes !== 0 || this.raw.length !== 0) this.raw = [];
    this.rawBytes = 0;
    if (this.cmds.length !== 0) this.cmds = [];
    this.cmdBytes = 0;
    this.begun = false;
  }

  /** Open the rewriter for the current key on first use. */
  private rw(): Rewriter {
    if (!this.begun) {
      this.begun = true;
      this.rewriter.begin(this.key);
    }
    return this.rewriter;
  }

  /**
   * Options for an RdbDecoder feeding this sink: auto mode decodes only the keys that can't be
   * restored, and upgrades a raw-only key to decoded once it passes the big-key threshold.
   */
  decoderOptions(): {
    decodeValues: 'auto';
    wantElements: (meta: KeyMeta) => boolean;
    rawOnlyMaxBytes: number;
    yieldWhen: () => boolean;
    rawReplay?: () => Buffer | null;
  } {
    return {
      decodeValues: 'auto',
      wantElements: (meta) => this.wantElements(meta),
      rawOnlyMaxBytes: this.bigKeyBytes - 64, // below our own threshold: the upgrade comes first
      // An upgraded key's re-read would otherwise queue up to bigKeyBytes of commands in one go.
      yieldWhen: () => this.pipe.needsDrain,
      // In place, the raw body is already whole in rslab: the decoder re-reads it from there.
      ...(this.direct ? { rawReplay: () => this.rawReplay() } : {}),
    };
  }

  /**
   * Auto-mode decoder, upgrading the current raw-only key: the body collected so far (a view of
   * rslab, which the decoder then owns; keyUpgraded drops our reference). null: the key is no longer
   * wanted (skipped, failed), so no upgrade.
   */
  rawReplay(): Buffer | null {
    if (this.state !== BUFFER || !this.collectRaw || !this.rawOnly || !this.direct) return null;
    return this.rslab.subarray(this.rbody, this.rbody + this.rawBytes);
  }

  /** Called by an auto-mode decoder right after `keyStart`: does this key need its elements? */
  wantElements(_meta: KeyMeta): boolean {
    if (this.state !== BUFFER) return false; // skipped (expired, module, failed): nothing needed
    this.rawOnly = this.collectRaw;
    return !this.collectRaw;
  }

  /** Auto mode: the key passed `rawOnlyMaxBytes`; its elements follow from the first one. */
  keyUpgraded(): void {
    if (this.state !== BUFFER) return;
    this.rawOnly = false;
    this.commit();
  }

  keyRaw(chunk: Buffer): void {
    if (this.state !== BUFFER || !this.collectRaw) return;
    this.rawBytes += chunk.length;
    // Raw-only in place: the decoder upgrades this key and re-reads the body from rslab (rawReplay),
    // so it is kept whole even past the threshold; keyUpgraded then drops it.
    if (payloadSize(this.rawBytes) > this.bigKeyBytes && !(this.rawOnly && this.direct)) {
      // Too big for one RESTORE: rewrite instead (module values can't be rewritten).
      this.collectRaw = false;
      this.raw = [];
      if (this.rslab.length > MiB) this.rslab = Buffer.allocUnsafeSlow(64 * 1024); // see commit()
      if (this.meta!.type === 'module') {
        countSkipped(this.stats, `module:${this.meta!.module?.name ?? 'unknown'}`);
        this.state = SKIP;
      } else if (!this.rawOnly) this.commit(); // raw-only: wait for keyUpgraded and the elements
      return;
    }
    if (!this.direct) {
      this.raw.push(Buffer.from(chunk)); // copy: the chunk may be a view into a reused input buffer
      return;
    }
    // In place: the body goes where the RESTORE command will hold it (see restoreDirect).
    const at = this.rbody + this.rawBytes - chunk.length;
    if (at + chunk.length + RESTORE_TAIL > this.rslab.length)
      this.growRslab(at + chunk.length + RESTORE_TAIL);
    const b = this.rslab;
    if (chunk.length < 64) for (let j = 0; j < chunk.length; j++) b[at + j] = chunk[j]!;
    else b.set(chunk, at);
  }

  private growRslab(need: number): void {
    // Doubling up to 1 MiB; past that, straight to what one RESTORE can hold (a body over bigKeyBytes is
    // rewritten instead), plus room for the decoder's overshoot before it upgrades a raw-only key. The
    // pages are unzeroed and count in RSS only once written, so a 2 MiB key in a 16 MiB slab costs 2 MiB;
    // doubling on would have left ~16 MiB of old slabs for V8 to collect (measured on test/bigkeys:
    // ~50 MiB of external memory at a 17 MiB upgrade, 35 MiB after).
    const cap = this.rbody + this.bigKeyBytes + 2 * MiB + RESTORE_TAIL;
    const size =
      need <= MiB ? Math.max(need, Math.min(2 * this.rslab.length, MiB)) : Math.max(need + MiB, cap);
    const next = Buffer.allocUnsafeSlow(size);
    this.rslab.copy(next, 0, 0, this.rbody + this.rawBytes);
    this.rslab = next;
  }

  keyElements(chunk: ValueChunk): void {
    if (this.state === SKIP || this.meta!.type === 'module') return;
    this.elements++;
    if (chunk.kind === 'stream-idmp') {
      this.idmpDropped(chunk);
      return;
    }
    if (this.fast) {
      if (chunk.kind === 'string' && this.valLen + chunk.data.length <= this.bigKeyBytes) {
        this.appendVal(chunk.data);
        return;
      }
      this.unfast(); // bigger than one command may be: the rewriter chunks it (SET + APPENDs)
    }
    if (!this.rw().chunk(chunk)) {
      // A field TTL the target can't hold and hashFieldTtl 'skip-key': undo what was written.
      countSkipped(this.stats, 'hash-field-ttl');
      // Its later stream writes are left out too, or they would build a partial hash on the target.
      (this.skippedKeys ??= new SkippedKeys()).add(this.meta!.db, this.key);
      if (this.state === STREAM) {
        this.stats.rewritten[this.meta!.type]--;
        this.emit(K.WRITE, ['DEL', this.key], 'DEL');
      }
      this.dropKey();
    }
  }

  keyEnd(): void {
    const meta = this.meta;
    if (meta === null || this.state === SKIP) {
      this.meta = null;
      return;
    }
    if (this.state === BUFFER && this.fast) {
      this.setString(meta);
      this.dropKey();
      this.meta = null;
      return;
    }
    if (this.state === BUFFER && (this.collectRaw ? this.rawEmpty(meta) : this.noElements(meta))) {
      // An empty collection (other tools' test files, old bugs): Redis' loader skips it, RESTORE refuses it.
      countSkipped(this.stats, 'empty');
      this.dropKey();
      this.meta = null;
      return;
    }
    if (this.state === BUFFER && this.collectRaw && payloadSize(this.rawBytes) > this.bigKeyBytes) {
      this.outgrew(); // raw-only and never upgraded: the decoder's rawOnlyMaxBytes is above ours
    } else if (this.state === BUFFER && this.collectRaw) {
      this.restore(meta);
      this.dropKey();
      this.meta = null;
      return;
    } else if (this.state === BUFFER && this.rawOnly) {
      this.outgrew(); // too big to restore and no elements will come
    } else {
      this.rw().finish(meta);
      if (this.state === BUFFER) this.commit();
      if (this.state === STREAM && meta.expireAtMs !== null) {
        this.emit(K.WRITE, ['PEXPIREAT', this.key, meta.expireAtMs], 'PEXPIREAT');
      }
    }
    if (this.state !== SKIP) this.emitMarker(K.KEY_DONE);
    this.dropKey();
    this.meta = null;
  }

  /** A raw-only key too big for RESTORE reached keyEnd without an upgrade. */
  private outgrew(): void {
    this.pipe.fail(
      new ReplicantError(
        'ERR_INTERNAL',
        `key "${printableKey(this.key)}" outgrew bigKeyBytes in raw-only mode`,
        {
          hint: "this is a bug in replicant (decoder rawOnlyMaxBytes must be below the sink's bigKeyBytes); report it",
        },
      ),
      null,
    );
  }

  /**
   * A stream v4 that is rewritten loses its idempotent-producer dedup state (no command before 8.6
   * writes it): counted as `skipped: stream-idmp` and logged, the first few keys by name.
   */
  private idmpDropped(c: { producers: number; ids: number; durationSec: number; maxSize: number }): void {
    if (c.producers === 0) return; // no producer state: nothing is lost
    countSkipped(this.stats, 'stream-idmp');
    const n = this.stats.skipped['stream-idmp']!;
    if (n <= IDMP_WARN_KEYS)
      this.log?.warn(
        { key: printableKey(this.key), db: this.meta!.db, producers: c.producers, ids: c.ids },
        `stream rewritten without its idempotent-producer (IDMP) dedup state: the target cannot hold it${n === IDMP_WARN_KEYS ? ' (further keys only counted)' : ''}`,
      );
  }

  /** The raw body says the collection has no elements. Only tiny bodies can: no look at others. */
  private rawEmpty(meta: KeyMeta): boolean {
    if (this.rawBytes > EMPTY_BODY_MAX || meta.type === 'string' || meta.type === 'stream') return false;
    const body = this.direct
      ? this.rslab.subarray(this.rbody, this.rbody + this.rawBytes)
      : Buffer.concat(this.raw, this.rawBytes);
    return rawElementCount(meta.rdbType, body) === 0;
  }

  /** Rewrite path: a decoded collection that delivered no element and made no command. */
  private noElements(meta: KeyMeta): boolean {
    if (this.elements !== 0 || this.rawOnly || this.cmds.length !== 0) return false;
    return meta.type === 'list' || meta.type === 'set' || meta.type === 'zset' || meta.type === 'hash';
  }

  private emitMarker(kind: number): void {
    this.out(this.pipe.entry(kind, null, 'key', this.key, this.db, this.keyId));
  }

  functionLibrary(code: Buffer): void {
    if (this.pipe.failure !== null) return;
    if (this.skipFunctions) {
      countSkipped(this.stats, 'function');
      return;
    }
    if (!this.caps.hasCommand('function') || this.caps.versionNum < 70000) {
      this.pipe.fail(noFunctionsError(), null);
      return;
    }
    const argv: CommandArg[] = ['FUNCTION', 'LOAD'];
    if (this.overwrite) argv.push('REPLACE');
    argv.push(Buffer.from(code));
    this.out(this.pipe.entry(K.FUNCTION, argv, 'FUNCTION LOAD', null, this.db, -1));
  }

  // ---- replication stream -----------------------------------------------------------------------

  command(rec: CommandRecord): void {
    if (this.pipe.failure !== null) return;
    // A DB not selected yet: its gating SELECT goes first, so the copy decision below sees the gate.
    this.preselect(rec);
    if (this.pipe.failure !== null) return;
    // Sent commands are encoded at once; held ones (behind a gate) wait, so they get copies.
    if (this.pipe.gated) rec = copyRecord(rec);
    if (rec.multi !== undefined) {
      // A source transaction forwarded in parts (src/replication/stream.ts): one MULTI, one EXEC.
      const cont = this.groupOpen && rec.groupCont === true;
      if (!cont) {
        this.endGroup(true); // its last part was filtered out: what came before is the whole group
        this.select(rec.db);
        this.send(K.WRITE, ['MULTI'], 'MULTI', null, -1);
        this.groupInner = [];
      }
      const inner = this.groupInner!;
      const queue = (argv: CommandArg[]) => {
        const name = String(argv[0] ?? '').toUpperCase(); // command names are ASCII; never a key or value
        const key = argv.length > 1 ? (argv[1] as Buffer) : null;
        inner.push([name, key === null ? null : Buffer.from(key)]);
        if (isCommand(argv[0], 'select')) this.db = Number(String(argv[1]));
        this.send(K.WRITE, argv, name, key, -1);
      };
      for (const argv of rec.multi) {
        const d = this.skipDecision(this.db, argv);
        if (d === null) return;
        if (d.kind === 'drop') continue;
        if (d.kind === 'send') queue(argv);
        else if (d.db === this.db) queue(['DEL', d.del]);
        else {
          const back = this.db;
          queue(['SELECT', String(d.db)]);
          queue(['DEL', d.del]);
          queue(['SELECT', String(back)]);
        }
      }
      // Only where this sink sends the MULTI itself: a CheckpointWriter already keeps everything
      // between two Positions in one transaction, and holds its own for a resend.
      if (rec.groupMore === true && this.keepGroupsOpen) {
        this.groupOpen = true;
        return;
      }
      this.groupOpen = true;
      this.endGroup(true);
      return;
    }
    this.endGroup(true);
    const argv = rec.argv;
    if (isCommand(argv[0], 'select')) {
      this.select(Number(String(argv[1])));
      return;
    }
    const d = this.skipDecision(rec.db, argv);
    if (d === null || d.kind === 'drop') return;
    if (d.kind === 'replace') {
      this.select(d.db);
      this.send(K.CMD, ['DEL', d.del], 'DEL', d.del, -1);
      return;
    }
    this.select(rec.db);
    this.send(K.CMD, argv, String(argv[0] ?? '').toUpperCase(), argv.length > 1 ? argv[1]! : null, -1);
  }

  /**
   * The target's DB count, learned at the start (src/precheck/dbs.ts). With it, a DB below the count
   * needs no gated first SELECT (so a checkpointed stream never waits on one), and a DB at or above it
   * stops the run with ERR_TARGET_DB before its SELECT is sent. null: unknown, the gate stays.
   */
  setDatabases(n: number | null): void {
    if (n !== null && Number.isInteger(n) && n > 0) this.dbCount = n;
  }

  /**
   * Close the transaction a multi record opened: EXEC (`commit`), or DISCARD when the rest of the
   * source transaction will never come on this stream (a stop or a lost source link before its
   * EXEC: the source sends the whole group again after the resume point, which is before its MULTI).
   */
  private endGroup(commit: boolean): void {
    if (!this.groupOpen) return;
    this.groupOpen = false;
    if (commit) {
      const e = this.pipe.entry(K.EXEC, ['EXEC'], 'EXEC', null, this.db, -1);
      e.inner = this.groupInner;
      this.groupInner = null;
      this.out(e);
      return;
    }
    this.groupInner = null;
    this.send(K.WRITE, ['DISCARD'], 'DISCARD', null, -1);
    this.db = -1; // SELECTs queued in it never ran: select again before the next write
  }

  /** Did the snapshot skip this key (`hashFieldTtl: 'skip-key'`)? Its stream writes are dropped here. */
  isSkippedKey(db: number, key: Buffer): boolean {
    return this.skippedKeys?.has(db, key) ?? false;
  }

  /** Stream commands against keys the snapshot skipped (see SkippedKeys); null: the run stopped. */
  private skipDecision(db: number, argv: CommandArg[]): SkipDecision | null {
    if (this.skippedKeys === null) return SEND_AS_IS;
    try {
      const d = this.skippedKeys.decide(db, argv);
      if (d.kind !== 'send') countSkipped(this.stats, 'hash-field-ttl: stream writes');
      return d;
    } catch (err) {
      this.pipe.fail(err as Error, null);
      return null;
    }
  }

  // ---- internals --------------------------------------------------------------------------------

  private select(db: number): void {
    if (db === this.db) return;
    if (this.dbCount > 0 && db >= this.dbCount) {
      // Known to be missing: stop before the SELECT, so nothing meant for it runs anywhere.
      this.pipe.fail(missingDbError(db, this.dbCount), null);
      return;
    }
    this.db = db;
    // Count unknown: the first SELECT of a DB waits for its answer before anything after it is sent —
    // a DB the target lacks must stop the run, not let the writes run in the DB the connection is
    // still in. DB 0 exists on every server (a cluster's only one): no wait for it.
    const first = this.dbCount === 0 && db > 0 && db < 256 && this.selected[db] === 0;
    if (first) this.selected[db] = 1;
    this.send(first ? K.SELECT : K.WRITE, ['SELECT', db], 'SELECT', null, -1);
  }

  /**
   * Every DB a stream record will select, selected once now (gating) if it never was: inside a
   * MULTI group a failed SELECT only shows at EXEC, after the commands behind it ran in the old DB.
   */
  private preselect(rec: CommandRecord): void {
    if (this.dbCount > 0) {
      // No gate: select() checks against the count; a SELECT inside a group is checked here, before MULTI.
      if (rec.multi !== undefined)
        for (const argv of rec.multi) {
          if (!isCommand(argv[0], 'select')) continue;
          const d = Number(String(argv[1]));
          if (d >= this.dbCount) this.pipe.fail(missingDbError(d, this.dbCount), null);
        }
      return;
    }
    let moved = false;
    if (rec.multi !== undefined) {
      for (const argv of rec.multi) {
        if (!isCommand(argv[0], 'select')) continue;
        const d = Number(String(argv[1]));
        if (d > 0 && d < 256 && this.selected[d] === 0) {
          this.select(d);
          moved = true;
        }
      }
    }
    if (moved || (rec.db > 0 && rec.db < 256 && this.selected[rec.db] === 0)) this.select(rec.db);
  }

  private send(kind: number, argv: CommandArg[], name: string, key: Buffer | null, keyId: number): void {
    this.out(this.pipe.entry(kind, argv, name, key, this.db, keyId));
  }

  /** A command of the current key. */
  private emit(kind: number, argv: CommandArg[], name: string): void {
    const e = this.pipe.entry(kind, argv, name, this.key, this.db, this.keyId);
    e.type = this.meta!.type;
    this.out(e);
  }

  private restore(meta: KeyMeta): void {
    if (this.direct && !this.pipe.gated) {
      this.restoreDirect(meta);
      return;
    }
    const payload = this.direct
      ? buildDumpPayload(
          meta.rdbType,
          this.rslab.subarray(this.rbody, this.rbody + this.rawBytes),
          meta.rdbVersion,
        )
      : buildDumpPayload(meta.rdbType, this.raw, meta.rdbVersion);
    this.raw = [];
    this.select(meta.db);
    const argv = restoreArgv(meta, payload, this.overwrite, this.caps, this.now());
    const kind = meta.type === 'module' ? K.MODULE : this.overwrite ? K.WRITE : K.RESTORE_NX;
    const e = this.pipe.entry(kind, argv, 'RESTORE', this.key, this.db, this.keyId);
    e.type = meta.type;
    e.module = meta.module?.name ?? null;
    e.keysDone = 1;
    this.stats.restored[meta.type]++;
    this.out(e);
  }

  /**
   * The RESTORE command built around the body already in `rslab`: type byte and header written in
   * front of it, version, CRC (one pass over the bytes in place) and the options after it, then one
   * copy into the connection. No payload Buffer, no argv encoding of the payload.
   */
  private restoreDirect(meta: KeyMeta): void {
    this.select(meta.db); // may send a batch and a SELECT first; neither touches rslab
    const argv = restoreArgv(meta, EMPTY, this.overwrite, this.caps, this.now()); // argv[3]: placeholder
    const b = this.rslab;
    const body = this.rbody;
    const n = this.rawBytes;
    b[body - 1] = meta.rdbType;
    let o = body + n;
    b[o++] = meta.rdbVersion & 0xff;
    b[o++] = meta.rdbVersion >>> 8;
    const crc = this.crc;
    crc.lo = 0;
    crc.hi = 0;
    crc.update(b, body - 1, o);
    b.writeUInt32LE(crc.lo, o);
    b.writeUInt32LE(crc.hi, o + 4);
    o += 8;
    b[o++] = 13;
    b[o++] = 10;
    for (let i = 4; i < argv.length; i++) o = encodeArg(b, o, argv[i]!);
    const plen = payloadSize(n);
    const head =
      1 +
      digits(argv.length) +
      2 +
      encodedArgLength('RESTORE') +
      encodedArgLength(this.key) +
      encodedArgLength(argv[2]!) +
      (1 + digits(plen) + 2);
    const start = body - 1 - head; // ≥ 0: keyStart reserved RESTORE_HEAD + key length
    let h = writeHeader(b, start, 0x2a, argv.length);
    h = encodeArg(b, h, 'RESTORE');
    h = encodeArg(b, h, this.key);
    h = encodeArg(b, h, argv[2]!);
    writeHeader(b, h, 0x24, plen);
    const kind = meta.type === 'module' ? K.MODULE : this.overwrite ? K.WRITE : K.RESTORE_NX;
    const e = this.pipe.entry(kind, null, 'RESTORE', this.key, this.db, this.keyId);
    e.type = meta.type;
    e.module = meta.module?.name ?? null;
    e.keysDone = 1;
    this.stats.restored[meta.type]++;
    this.pipe.sendRaw(e, b.subarray(start, o)); // copied before it returns
    if (b.length > MiB) this.rslab = Buffer.allocUnsafeSlow(64 * 1024); // don't keep a big one around
  }

  /** The current string key as one SET (see keyStart); skip mode adds NX and a nil reply is a conflict. */
  private setString(meta: KeyMeta): void {
    this.select(meta.db);
    const key = this.key;
    const klen = key.length;
    const vlen = this.valLen;
    const need = klen + vlen + 2 * 16; // two bulk strings: `$len\r\n…\r\n`
    if (this.mset && meta.expireAtMs === null && need <= BATCH_BYTES) {
      if (this.batchUsed + need > this.batchSlab.length) this.flushBatch();
      const b = this.batchSlab;
      let o = writeHeader(b, this.batchUsed, 0x24, klen);
      // Small copies by loop: Buffer#copy's call overhead is most of the cost at these sizes.
      if (klen < 64) for (let j = 0; j < klen; j++) b[o + j] = key[j]!;
      else key.copy(b, o);
      o += klen;
      b[o++] = 13;
      b[o++] = 10;
      o = writeHeader(b, o, 0x24, vlen);
      const v = this.val;
      if (vlen < 64) for (let j = 0; j < vlen; j++) b[o + j] = v[j]!;
      else v.copy(b, o, 0, vlen);
      o += vlen;
      b[o++] = 13;
      b[o++] = 10;
      this.batchUsed = o;
      if (this.batchKeys === 0) {
        this.batchDb = this.db;
        this.batchFirstKey = key; // named in an error about the batch
      }
      this.batchLastId = this.keyId;
      if (++this.batchKeys >= BATCH_KEYS) this.flushBatch();
      else if (!this.batchFlushScheduled) {
        this.batchFlushScheduled = true;
        process.nextTick(this.batchFlushBound);
      }
      return;
    }
    this.countSet(1);
    const value = this.val.subarray(0, this.valLen);
    let argv: CommandArg[];
    if (meta.expireAtMs === null) {
      argv = this.overwrite ? ['SET', this.key, value] : ['SET', this.key, value, 'NX'];
    } else {
      argv = this.overwrite
        ? ['SET', this.key, value, 'PXAT', meta.expireAtMs]
        : ['SET', this.key, value, 'PXAT', meta.expireAtMs, 'NX'];
    }
    const e = this.pipe.entry(
      this.overwrite ? K.WRITE : K.SET_NX,
      argv,
      'SET',
      this.key,
      this.db,
      this.keyId,
    );
    e.type = 'string';
    e.keysDone = 1;
    this.out(e); // the writer encodes at once (or, behind a skip-mode gate, the entry holds argv)
    if (this.pipe.gated) argv[2] = Buffer.from(value); // held behind an EXISTS: `val` is reused, keep a copy
    if (this.val.length > MiB) this.val = Buffer.allocUnsafeSlow(64 * 1024); // don't keep a big one around
  }

  private countSet(n: number): void {
    this.stats.rewritten.string += n;
    this.stats.rewriteReasons['string-set'] = (this.stats.rewriteReasons['string-set'] ?? 0) + n;
  }

  /** Every write goes out through here: a pending MSET batch goes first, so the order holds. */
  private out(e: Entry): void {
    if (this.batchKeys > 0) this.flushBatch();
    this.pipe.send(e);
  }

  private flushBatch(): void {
    const n = this.batchKeys;
    if (n === 0) return;
    const b = this.batchSlab;
    const argc = 1 + 2 * n;
    const start = BATCH_HEAD - (1 + digits(argc) + 2 + 10); // `*argc\r\n` + `$4\r\nMSET\r\n`
    let o = writeHeader(b, start, 0x2a, argc);
    o = writeHeader(b, o, 0x24, 4);
    b[o++] = 0x4d; // M
    b[o++] = 0x53; // S
    b[o++] = 0x45; // E
    b[o++] = 0x54; // T
    b[o++] = 13;
    b[o] = 10;
    const e = this.pipe.entry(K.WRITE, null, 'MSET', this.batchFirstKey, this.batchDb, this.batchLastId);
    e.type = 'string';
    e.keysDone = n;
    // Counted per batch (a keyed counter per key showed in profiles); the batch leaves within the tick.
    this.countSet(n);
    const bytes = b.subarray(start, this.batchUsed);
    this.batchKeys = 0;
    this.batchUsed = BATCH_HEAD;
    this.batchFirstKey = null;
    this.pipe.sendRaw(e, bytes); // copied by the writer before it returns: the slab is free again
  }

  private appendVal(data: Buffer): void {
    const need = this.valLen + data.length;
    if (need > this.val.length) {
      const next = Buffer.allocUnsafeSlow(Math.max(need, 2 * this.val.length));
      this.val.copy(next, 0, 0, this.valLen);
      this.val = next;
    }
    const v = this.val;
    const at = this.valLen;
    // Small values (most keys) by loop: Buffer#copy's call overhead dominates at these sizes.
    if (data.length < 64) for (let j = 0; j < data.length; j++) v[at + j] = data[j]!;
    else data.copy(v, at);
    this.valLen = need;
  }

  /** The string outgrew one SET: hand what was collected to the rewriter and take the normal path. */
  private unfast(): void {
    this.fast = false;
    const data = this.val.subarray(0, this.valLen);
    this.valLen = 0;
    if (data.length > 0) this.rw().chunk({ kind: 'string', data }); // buffered commands are copies
  }

  /** The key goes by rewrite: open it on the target, send what was buffered, stream the rest. */
  private commit(): void {
    const meta = this.meta!;
    this.collectRaw = false;
    this.raw = [];
    // Rewritten from here on: a slab grown towards bigKeyBytes would sit unused for the whole key.
    if (this.rslab.length > MiB) this.rslab = Buffer.allocUnsafeSlow(64 * 1024);
    this.state = STREAM;
    this.stats.rewritten[meta.type]++;
    this.stats.rewriteReasons[this.refusal] = (this.stats.rewriteReasons[this.refusal] ?? 0) + 1;
    this.select(meta.db);
    // Skip mode: the key's commands wait behind its EXISTS (the pipeline's gate).
    if (this.overwrite) this.emit(K.WRITE, ['DEL', this.key], 'DEL');
    else this.emit(K.EXISTS, ['EXISTS', this.key], 'EXISTS');
    const cmds = this.cmds;
    this.cmds = [];
    this.cmdBytes = 0;
    for (const argv of cmds) this.emit(K.WRITE, argv, String(argv[0]));
  }

  private rewriteCommand(argv: CommandArg[]): void {
    if (this.state === SKIP) return;
    if (this.state === STREAM) {
      // The writer encodes at once; only a command that waits behind an EXISTS needs its own copy.
      this.emit(K.WRITE, this.pipe.gated ? copyArgs(argv, this.key) : argv, String(argv[0]));
      return;
    }
    const copy = copyArgs(argv, this.key);
    this.cmds.push(copy);
    for (const a of copy) this.cmdBytes += Buffer.isBuffer(a) ? a.length + 16 : 16;
    if (this.cmdBytes > this.bigKeyBytes) this.commit();
  }

  private dropKey(): void {
    this.state = SKIP;
    if (this.raw.length !== 0) this.raw = [];
    if (this.cmds.length !== 0) this.cmds = [];
    this.collectRaw = false;
    this.fast = false;
  }
}

/** Report mode with several source DBs mapped into one target DB: a key the target already has. */
function collisionError(key: Buffer | null, db: number): ReplicantError {
  return new ReplicantError(
    'ERR_DB_COLLISION',
    `key "${key === null ? '?' : printableKey(key)}" exists in more than one source DB mapped into target DB ${db}`,
    {
      hint: 'keys with the same name in source DBs mapped together collide: --on-conflict overwrite (the last DB copied wins) or skip (the first wins), or map the DBs apart',
    },
  );
}
