/**
 * CheckpointWriter: a {@link Writer} around the target connection that makes stream-phase writes
 * exactly-once across crashes and target reconnects (issue #6).
 *
 * Why a writer and not a file: a checkpoint file (or an ack-driven position) always lags the target,
 * and a checkpoint key written *after* a batch says nothing about the commands sent after it. So in
 * the stream phase every command goes into a `MULTI … EXEC` that ends with
 * `SET <checkpoint key> {seq, replid, offset, db}` — the position of the last command in it. The
 * transaction is atomic on the target: after any crash the key names exactly the last write applied,
 * and `PSYNC replid offset+1` continues with the first one that was not.
 *
 * - Snapshot phase ('pass'): commands go straight through (snapshot keys are idempotent: they replace).
 *   Before the first snapshot write the key is set to `phase: "snapshot"`, so an interrupted full copy
 *   is never mistaken for a resumable position. {@link beginStream} (called once the snapshot is
 *   acknowledged) writes the first stream position: "snapshot complete at offset X".
 * - Stream phase ('tx'): batches close only at a Position (a clean point: everything before it fed,
 *   nothing after it), once they hold `batchCommands`/`batchBytes`, or on the next turn of the event
 *   loop. The sink's own MULTI/EXEC (source transactions, translations) are not sent: their commands
 *   join our transaction (atomic all the same) and the sink gets the replies it expects — OK, QUEUED,
 *   then the EXEC array — in send order. SELECT inside a batch is tracked: the key lives in db `db`,
 *   reached by `SELECT db … SELECT back` inside the transaction when needed.
 * - Replies: each command's real reply (or error) from the EXEC array goes to the sink's callback. An
 *   error when queueing (OOM, READONLY, MISCONF, NOPERM, unknown command) aborts the whole transaction
 *   (EXECABORT): none of it applied, the key unchanged; the sink gets the queueing error (its prefix
 *   kept for the classifier's hint) and stops. The next start continues from the key.
 * - Lost target connection (stream phase, `connect` given): reconnect with backoff and jitter, read
 *   the key, settle every in-flight transaction whose seq the key covers (applied; the sink gets
 *   synthesized OK replies — the real ones were lost with the connection), resend the others in order.
 *   Never a non-idempotent command twice. In the snapshot phase a lost connection is fatal (the next
 *   start copies again).
 * - Memory: encoded commands of unanswered transactions are kept for a resend; `needsDrain` is true
 *   while they pass `maxRetainedBytes` (and while the connection's own window is full).
 * - Cost: 2–4 extra commands per batch (MULTI, SET, EXEC, SELECTs when the batch is in another db),
 *   and one copy of each stream command (the resend buffer).
 */
import { ReplicantError, ServerReplyError } from '../errors.js';
import type { Position } from '../records.js';
import { type CommandArg, encodeCommand } from '../resp/index.js';
import type { ReplyCallback, Writer } from '../sinks/types.js';
import { encodeTargetCheckpoint, readTargetCheckpoint, type TargetCheckpoint } from './target-key.js';

/** The target connection as the writer uses it (RedisConnection fits). */
export interface TargetLink {
  send(
    argv: ReadonlyArray<CommandArg>,
    cb: (err: Error | null, reply: unknown, tag: never) => void,
    tag?: unknown,
  ): number;
  sendRaw(bytes: Buffer, cb: (err: Error | null, reply: unknown, tag: never) => void, tag?: unknown): void;
  readonly needsDrain: boolean;
  drain(): Promise<void>;
  call(argv: ReadonlyArray<CommandArg>): Promise<unknown>;
  readonly closed: boolean;
  destroy(): void;
  close?(): Promise<void>;
}

export interface CheckpointLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CheckpointWriterOptions {
  /** Checkpoint key name and the target db it lives in. */
  key: string;
  db: number;
  /** host:port of the source link (goes into the value). */
  source: string;
  /** Goes into the value: see {@link TargetCheckpoint.exclusive}. */
  exclusive?: boolean;
  /** Db the connection is in when handed over (a fresh connection: 0). */
  connDb?: number;
  /** Opens a new target connection after a loss (stream phase). Absent: a loss is fatal. */
  connect?: () => Promise<TargetLink>;
  /** Close a batch at a Position once it holds this many commands / bytes. Default 512 / 256 KiB. */
  batchCommands?: number;
  batchBytes?: number;
  /** Keep writing the position this often when only PINGs/heartbeats flow. Default 1000 ms. */
  idleCheckpointMs?: number;
  /** Give up reconnecting after this long. Default 300 s. */
  reconnectForMs?: number;
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Resend buffer bound (bytes of unanswered transactions). Default 64 MiB. */
  maxRetainedBytes?: number;
  /** Each checkpoint the target acknowledged (the state-dir copy hangs off this). */
  onApplied?: (c: TargetCheckpoint) => void;
  log?: CheckpointLog;
}

export interface CheckpointWriterStats {
  transactions: number;
  /** Extra commands we sent (MULTI, EXEC, SET, SELECT). */
  overheadCommands: number;
  reconnects: number;
  /** Transactions resent after a reconnect (the key said they were not applied). */
  resent: number;
  /** Transactions the key said were applied although their reply was lost. */
  settledByKey: number;
}

// Item kinds: a real command, and the sink's own MULTI / EXEC (not sent; answered from our EXEC).
const REAL = 0;
const V_MULTI = 1;
const V_EXEC = 2;
/** A command abandoned after its batch's clean point (see abandonTail): answered, never applied here. */
const PHANTOM = 3;

interface Item {
  kind: number;
  cb: ReplyCallback;
  /** REAL: index of its reply in the EXEC array. V_EXEC: the group's range of real replies. */
  at: number;
  to: number;
  /** REAL inside a sink MULTI: the sink expects QUEUED, the EXEC array carries the result. */
  grouped: boolean;
}

interface Batch {
  seq: number;
  /** Db the connection is in before the batch (after DISCARD/resend it starts from here again). */
  startDb: number;
  items: Item[];
  cmds: Buffer[];
  bytes: number;
  /** At the last Position: counts and db (the clean prefix). */
  cleanItems: number;
  cleanCmds: number;
  cleanDb: number;
  /** Closed: the checkpoint it writes, how many commands we queued after the sink's, the db after. */
  value: string | null;
  cp: TargetCheckpoint | null;
  mine: number;
  endDb: number;
  /** The current transmission of the batch (a resend or a DISCARD starts a new one). */
  wire: Wire;
}

/** One transmission of a batch: the tag of its replies; replies of an older one are ignored. */
interface Wire {
  b: Batch;
  gen: number;
  /** Replies counted so far (MULTI's is the first). */
  replies: number;
  queueError: { err: Error; index: number } | null;
}

const MAX_SYNTH = 'OK';

export class CheckpointWriter implements Writer {
  readonly stats: CheckpointWriterStats = {
    transactions: 0,
    overheadCommands: 0,
    reconnects: 0,
    resent: 0,
    settledByKey: 0,
  };
  /** The last checkpoint the target acknowledged. */
  applied: TargetCheckpoint | null = null;
  /** Fatal: every later send fails with it. */
  failure: Error | null = null;
  readonly run: string;
  /** Stream writes between two Positions are one transaction here (see Writer.transactional). */
  readonly transactional = true;

  private conn: TargetLink;
  private gen = 0;
  private mode: 'pass' | 'tx' = 'pass';
  /** Db the server connection will be in after everything sent so far. */
  private connDb: number;
  /** Db the sink believes the connection is in (its SELECTs). Equal to connDb except around abandon. */
  private sinkDb: number;
  private seq = 0;
  private open: Batch | null = null;
  private inflight: Batch[] = [];
  private lastPos: Position | null = null;
  private dirty = false;
  private inGroup = false;
  private groupFrom = 0;
  private retained = 0;
  private closeScheduled = false;
  private reconnecting: Promise<void> | null = null;
  private waiters: (() => void)[] = [];
  private lastWriteAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly o: CheckpointWriterOptions;
  private readonly onQueuedBound = (err: Error | null, reply: unknown, tag: Wire): void =>
    this.onQueued(err, reply, tag);
  private readonly onExecBound = (err: Error | null, reply: unknown, tag: Wire): void =>
    this.onExec(err, reply, tag);

  constructor(conn: TargetLink, opts: CheckpointWriterOptions) {
    this.conn = conn;
    this.o = opts;
    this.connDb = opts.connDb ?? 0;
    this.sinkDb = this.connDb;
    this.run = Math.random().toString(16).slice(2, 10) + Date.now().toString(16).slice(-6);
  }

  get phase(): 'pass' | 'tx' {
    return this.mode;
  }

  get needsDrain(): boolean {
    return (
      this.failure !== null ||
      this.reconnecting !== null ||
      // Only while answers can lower it: an open batch alone over the bound (one big source
      // command in chunks) has nothing to wait for, and reporting it made drain() loops spin.
      (this.retained > (this.o.maxRetainedBytes ?? 64 * 1024 * 1024) && this.inflight.length > 0) ||
      this.conn.needsDrain
    );
  }

  async drain(): Promise<void> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      if (this.reconnecting !== null) {
        await this.reconnecting;
        continue;
      }
      if (this.retained > (this.o.maxRetainedBytes ?? 64 * 1024 * 1024) && this.inflight.length > 0) {
        if (!this.dirty) this.closeBatch();
        await new Promise<void>((r) => this.waiters.push(r));
        continue;
      }
      if (!this.conn.needsDrain) return;
      try {
        await this.conn.drain();
      } catch (err) {
        if (this.mode === 'pass' || !this.o.connect) throw err;
        this.lost(err as Error); // the replies' callbacks report it too; the first one wins
      }
    }
  }

  /** Read the checkpoint key through this writer's connection (before any write). */
  async readTarget(): Promise<TargetCheckpoint | null> {
    const c = await readTargetCheckpoint((argv) => this.conn.call(argv), this.o.key, this.o.db);
    this.connDb = this.o.db;
    this.sinkDb = this.o.db;
    return c;
  }

  // ---- Writer ----------------------------------------------------------------------------------

  send(argv: CommandArg[], cb: ReplyCallback): number {
    if (this.mode === 'pass') {
      if (isName(argv[0], 'select')) this.connDb = this.sinkDb = Number(String(argv[1]));
      return this.conn.send(argv, cb as never);
    }
    if (this.failure !== null) {
      process.nextTick(cb, this.failure, null);
      return 0;
    }
    if (isName(argv[0], 'multi')) {
      this.ensureOpen().items.push({ kind: V_MULTI, cb, at: 0, to: 0, grouped: false });
      this.inGroup = true;
      this.groupFrom = this.open!.cmds.length;
      this.dirty = true;
      return 7;
    }
    if (isName(argv[0], 'exec') && this.inGroup) {
      const b = this.open!;
      b.items.push({ kind: V_EXEC, cb, at: this.groupFrom, to: b.cmds.length, grouped: false });
      this.inGroup = false;
      return 7;
    }
    if (isName(argv[0], 'select')) this.connDb = this.sinkDb = Number(String(argv[1]));
    return this.queue(encodeCommand(argv), cb);
  }

  sendRaw(bytes: Buffer, cb: ReplyCallback): void {
    if (this.mode === 'pass') {
      this.conn.sendRaw(bytes, cb as never);
      return;
    }
    if (this.failure !== null) {
      process.nextTick(cb, this.failure, null);
      return;
    }
    this.queue(Buffer.from(bytes), cb); // raw commands are never SELECT (the sink selects by send)
  }

  private queue(bytes: Buffer, cb: ReplyCallback): number {
    const b = this.ensureOpen();
    b.items.push({ kind: REAL, cb, at: b.cmds.length, to: 0, grouped: this.inGroup });
    b.cmds.push(bytes);
    b.bytes += bytes.length;
    this.retained += bytes.length;
    this.dirty = true;
    if (this.reconnecting === null) this.conn.sendRaw(bytes, this.onQueuedBound as never, b.wire);
    return bytes.length;
  }

  // ---- phases and positions (called by CheckpointSink) -------------------------------------------

  /**
   * Snapshot phase: before the first snapshot write, mark the key "full copy in progress" (an older
   * stream position must not survive a half-done copy). Errors surface through drain().
   */
  markSnapshot(replid: string | null = null): void {
    if (this.mode === 'tx') {
      // A new full copy after streaming (the source answered a resume with FULLRESYNC): back to
      // plain writes. Our open batch ends at its last clean point; sent transactions still answer.
      this.closeNow();
      this.stop();
      this.mode = 'pass';
      this.lastPos = null;
    }
    const cp = this.checkpoint('snapshot', replid, null, null);
    const back = this.connDb;
    const onReply = (err: Error | null): void => {
      if (err !== null && this.failure === null) this.failure = this.keyError(err);
    };
    if (back !== this.o.db) this.conn.send(['SELECT', this.o.db], onReply as never);
    this.conn.send(['SET', this.o.key, encodeTargetCheckpoint(cp)], onReply as never);
    if (back !== this.o.db) this.conn.send(['SELECT', back], onReply as never);
    this.stats.overheadCommands += back !== this.o.db ? 3 : 1;
  }

  /**
   * The snapshot is acknowledged (or there was none: +CONTINUE): from here on every write is in a
   * transaction. Writes the first stream position at once.
   */
  beginStream(pos: Position): void {
    this.mode = 'tx';
    this.lastPos = pos;
    this.dirty = false;
    this.ensureOpen();
    this.closeBatch();
    const every = this.o.idleCheckpointMs ?? 1000;
    this.stop();
    this.idleTimer = setInterval(() => this.idleCheckpoint(every), every);
    this.idleTimer.unref();
  }

  /** A clean point: everything before it was fed, nothing after it. */
  position(pos: Position): void {
    if (this.mode !== 'tx') return;
    if (this.inGroup) return; // never inside a sink MULTI (the source does not do that; be safe)
    this.lastPos = pos;
    this.dirty = false;
    const b = this.open;
    if (b === null) return;
    b.cleanItems = b.items.length;
    b.cleanCmds = b.cmds.length;
    b.cleanDb = this.connDb;
    if (b.cmds.length >= (this.o.batchCommands ?? 512) || b.bytes >= (this.o.batchBytes ?? 256 * 1024)) {
      this.closeBatch();
    } else if (!this.closeScheduled) {
      // Whatever the producer feeds within this turn joins the batch; then it goes.
      this.closeScheduled = true;
      setImmediate(() => {
        this.closeScheduled = false;
        if (!this.dirty) this.closeBatch();
      });
    }
  }

  /**
   * Close the open batch now (flush, stop). A batch with commands after its last clean point (only a
   * source MULTI split across pieces can leave that) is cut back to the clean point: DISCARD, the
   * clean prefix again, and the tail answered without being applied — the source sends it again
   * after the resume point, which is the clean point.
   */
  closeNow(): void {
    if (this.mode !== 'tx') return;
    if (this.open === null) {
      // Positions without commands since the last batch (PINGs, dropped heartbeats): one more
      // checkpoint, so a stop leaves the key at the last position the sink was given.
      const last = this.inflight.at(-1)?.cp ?? this.applied;
      const p = this.lastPos;
      if (p === null || this.failure !== null || this.reconnecting !== null) return;
      if (last !== null && last.offset === p.offset && last.replid === p.replid) return;
      this.ensureOpen();
    }
    if (this.dirty) this.abandonTail();
    this.closeBatch();
  }

  /** Stop the idle timer (the connection belongs to the caller). */
  stop(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
  }

  /** Stop, and close the current connection gracefully (after a reconnect it is not the one handed in). */
  async close(): Promise<void> {
    this.stop();
    await this.conn.close?.().catch(() => this.conn.destroy());
  }

  // ---- batches ----------------------------------------------------------------------------------

  private ensureOpen(): Batch {
    if (this.open !== null) return this.open;
    const b: Batch = {
      seq: ++this.seq,
      startDb: this.connDb,
      items: [],
      cmds: [],
      bytes: 0,
      cleanItems: 0,
      cleanCmds: 0,
      cleanDb: this.connDb,
      value: null,
      cp: null,
      mine: 0,
      endDb: 0,
      wire: null as unknown as Wire,
    };
    b.wire = { b, gen: this.gen, replies: 0, queueError: null };
    this.open = b;
    if (this.reconnecting === null) this.conn.send(['MULTI'], this.onQueuedBound as never, b.wire);
    return b;
  }

  private closeBatch(): void {
    const b = this.open;
    if (b === null || this.dirty || this.lastPos === null) return;
    this.open = null;
    const p = this.lastPos;
    b.cp = this.checkpoint('stream', p.replid, p.offset, p.db);
    b.value = encodeTargetCheckpoint(b.cp);
    // SELECT key-db, SET, SELECT back; after an abandoned tail the connection may also need to be
    // moved back to where the sink believes it is (SET, SELECT).
    b.mine = this.connDb !== this.o.db ? 3 : this.sinkDb !== this.connDb ? 2 : 1;
    b.endDb = this.sinkDb;
    this.inflight.push(b);
    this.stats.transactions++;
    this.stats.overheadCommands += b.mine + 2;
    this.lastWriteAt = Date.now();
    if (this.reconnecting === null) this.sendClose(b);
    this.connDb = this.sinkDb;
  }

  /** Our commands at the end of a closed batch: the key in its db, back, EXEC. */
  private sendClose(b: Batch): void {
    const cb = this.onQueuedBound as never;
    if (b.mine === 3) this.conn.send(['SELECT', this.o.db], cb, b.wire);
    this.conn.send(['SET', this.o.key, b.value!], cb, b.wire);
    if (b.mine >= 2) this.conn.send(['SELECT', b.endDb], cb, b.wire);
    this.conn.send(['EXEC'], this.onExecBound as never, b.wire);
  }

  private checkpoint(
    phase: 'stream' | 'snapshot',
    replid: string | null,
    offset: number | null,
    db: number | null,
  ): TargetCheckpoint {
    return {
      v: 1,
      run: this.run,
      seq: this.seq,
      phase,
      replid,
      offset,
      db,
      source: this.o.source,
      at: Date.now(),
      ...(this.o.exclusive ? { exclusive: true } : {}),
    };
  }

  /**
   * The value that marks a full copy in progress, for a caller that empties the target DBs and must
   * put the marker in the same transaction as the FLUSHDB of the key's db (see runSync).
   */
  snapshotValue(): string {
    return encodeTargetCheckpoint(this.checkpoint('snapshot', null, null, null));
  }

  private idleCheckpoint(every: number): void {
    if (this.mode !== 'tx' || this.open !== null || this.reconnecting !== null || this.failure !== null)
      return;
    if (this.lastPos === null || Date.now() - this.lastWriteAt < every) return;
    const last = this.inflight.at(-1)?.cp ?? this.applied;
    if (last !== null && last.offset === this.lastPos.offset && last.replid === this.lastPos.replid) return;
    this.ensureOpen();
    this.closeBatch();
  }

  private abandonTail(): void {
    const b = this.open!;
    for (let i = b.cleanItems; i < b.items.length; i++) b.items[i]!.kind = PHANTOM;
    for (let i = b.cleanCmds; i < b.cmds.length; i++) this.retained -= b.cmds[i]!.length;
    b.cmds.length = b.cleanCmds;
    this.inGroup = false;
    this.dirty = false;
    this.o.log?.warn(
      { seq: b.seq, dropped: b.items.length - b.cleanItems },
      'closing a batch cut inside a source transaction: its tail is left for the source to send again',
    );
    if (this.reconnecting !== null) {
      this.connDb = b.cleanDb;
      return;
    }
    // DISCARD drops the queued transaction (SELECTs in it never ran); send the clean prefix again.
    this.conn.send(['DISCARD'], () => {});
    this.connDb = b.startDb;
    this.transmit(b);
    this.connDb = b.cleanDb;
  }

  // ---- replies ----------------------------------------------------------------------------------

  private onQueued(err: Error | null, _reply: unknown, w: Wire): void {
    if (w.gen !== this.gen || w.b.wire !== w) return;
    w.replies++;
    if (err === null) return;
    if (!(err instanceof ServerReplyError)) {
      this.lost(err);
      return;
    }
    // Reply 1 is MULTI's, then the sink's commands, then ours.
    if (w.queueError === null) w.queueError = { err, index: w.replies - 2 };
  }

  private onExec(err: Error | null, reply: unknown, w: Wire): void {
    if (w.gen !== this.gen || w.b.wire !== w) return;
    const b = w.b;
    if (err !== null && !(err instanceof ServerReplyError)) {
      this.lost(err);
      return;
    }
    const head = this.inflight.shift();
    if (head !== b) throw new Error('checkpoint writer: EXEC replies out of order (a bug)');
    this.release(b);
    if (err !== null || w.queueError !== null || !Array.isArray(reply)) {
      const q = w.queueError;
      this.abort(b, q?.err ?? err ?? new ServerReplyError('EXECABORT no reply array'), q?.index ?? -1);
      return;
    }
    const mine = reply.length - b.mine;
    const setReply = reply[mine + (b.mine >= 3 ? 1 : 0)];
    if (setReply instanceof Error) {
      this.abortFatal(b, this.keyError(setReply));
      return;
    }
    this.answer(b, reply);
    this.applied = b.cp;
    if (b.cp) this.o.onApplied?.(b.cp);
  }

  /** Hand each sink callback its reply, in send order. `reply` null: synthesized (applied, reply lost). */
  private answer(b: Batch, reply: unknown[] | null): void {
    for (const it of b.items) {
      if (it.kind === V_MULTI) it.cb(null, MAX_SYNTH);
      else if (it.kind === V_EXEC)
        it.cb(null, reply === null ? new Array(it.to - it.at).fill(MAX_SYNTH) : reply.slice(it.at, it.to));
      else if (it.kind === PHANTOM || it.grouped) it.cb(null, it.kind === PHANTOM ? MAX_SYNTH : 'QUEUED');
      else {
        const r = reply === null ? MAX_SYNTH : reply[it.at];
        if (r instanceof Error) it.cb(r, null);
        else it.cb(null, r);
      }
    }
  }

  /** The transaction was refused when queueing: nothing of it applied, the key unchanged. */
  private abort(b: Batch, err: Error, index: number): void {
    const what =
      index < 0
        ? 'MULTI'
        : index < b.cmds.length
          ? `${commandName(b.cmds[index]!)} (command ${index + 1} of ${b.cmds.length})`
          : `the checkpoint SET of key "${this.o.key}"`;
    const msg = `${err.message} [refused when queueing ${what} in a transaction; none of it was applied, the checkpoint is unchanged at the previous transaction]`;
    const e = err instanceof ServerReplyError ? new ServerReplyError(msg) : new Error(msg);
    this.abortFatal(b, e);
  }

  private abortFatal(b: Batch, e: Error): void {
    this.failure ??= e;
    for (const it of b.items) it.cb(e, null);
    this.failAll();
  }

  /** After a fatal error: answer everything outstanding with it. */
  private failAll(): void {
    const e = this.failure!;
    const rest = this.inflight.splice(0);
    if (this.open !== null) rest.push(this.open);
    this.open = null;
    this.gen++; // replies still coming on this connection are not ours to judge any more
    for (const b of rest) {
      this.release(b);
      for (const it of b.items) it.cb(e, null);
    }
    this.stop();
    this.wake();
  }

  private release(b: Batch): void {
    for (const c of b.cmds) this.retained -= c.length;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private keyError(err: Error): ReplicantError {
    return new ReplicantError(
      'ERR_CHECKPOINT_WRITE',
      `the target refused the checkpoint key "${this.o.key}" (db ${this.o.db}): ${err.message}`,
      {
        hint: 'the target user needs SET on this key (ACL key patterns) and room for it; or choose another checkpoint key/db',
        cause: err,
      },
    );
  }

  // ---- reconnect --------------------------------------------------------------------------------

  private lost(err: Error): void {
    if (this.reconnecting !== null || this.failure !== null) return;
    if (this.mode === 'pass' || !this.o.connect) {
      this.failure = err;
      this.failAll();
      return;
    }
    this.gen++; // the dead connection's remaining callbacks are ignored
    this.o.log?.warn(
      { err: err.message, inflight: this.inflight.length, open: this.open !== null },
      'target connection lost; reconnecting (the checkpoint key says which transactions were applied)',
    );
    this.reconnecting = this.reconnect(err).then(
      () => {
        this.reconnecting = null; // resume() already cleared it, synchronously with the resend
        this.wake();
      },
      (e: Error) => {
        this.reconnecting = null;
        this.failure = e;
        this.failAll();
      },
    );
  }

  private async reconnect(cause: Error): Promise<void> {
    const started = Date.now();
    const limit = this.o.reconnectForMs ?? 300_000;
    for (let attempt = 1; ; attempt++) {
      const delay = Math.min(
        this.o.reconnectMaxMs ?? 10_000,
        (this.o.reconnectBaseMs ?? 200) * 2 ** (attempt - 1),
      );
      await new Promise((r) => setTimeout(r, Math.round(delay * (0.5 + Math.random() / 2))));
      if (this.failure !== null) return;
      let conn: TargetLink | null = null;
      try {
        conn = await this.o.connect!();
        const key = await readTargetCheckpoint((argv) => conn!.call(argv), this.o.key, this.o.db);
        this.conn.destroy();
        this.conn = conn;
        this.stats.reconnects++;
        this.resume(key);
        this.o.log?.info({ attempt, applied: key?.seq ?? null }, 'target reconnected');
        return;
      } catch (err) {
        conn?.destroy();
        if (err instanceof ReplicantError && err.code === 'ERR_CHECKPOINT') throw err;
        if (Date.now() - started > limit) {
          throw new ReplicantError(
            'ERR_TARGET_CONNECTION_LOST',
            `the target stayed unreachable for ${Math.round(limit / 1000)} s after the connection was lost (${cause.message}); last error: ${(err as Error).message}`,
            {
              hint: 'bring the target back and rerun: the checkpoint on the target says where to continue',
              cause: err,
            },
          );
        }
        this.o.log?.warn({ attempt, err: (err as Error).message }, 'target reconnect failed; retrying');
      }
    }
  }

  /** On the new connection: settle what the key covers, resend the rest in order. */
  private resume(key: TargetCheckpoint | null): void {
    const appliedSeq = key !== null && key.run === this.run ? key.seq : 0;
    const resend: Batch[] = [];
    for (const b of this.inflight) {
      if (b.seq <= appliedSeq) {
        this.stats.settledByKey++;
        this.release(b);
        this.answer(b, null);
        this.applied = b.cp;
        if (b.cp) this.o.onApplied?.(b.cp);
      } else resend.push(b);
    }
    this.inflight = resend;
    this.gen++;
    const first = resend[0] ?? this.open;
    const startDb = first !== null && first !== undefined ? first.startDb : this.connDb;
    // readTargetCheckpoint left the new connection in the key's db.
    if (startDb !== this.o.db) this.conn.send(['SELECT', startDb], () => {});
    for (const b of resend) {
      this.stats.resent++;
      this.transmit(b);
      this.sendClose(b);
    }
    if (this.open !== null) this.transmit(this.open);
    // From here sends go straight to the new connection (no turn of the loop in between).
    this.reconnecting = null;
  }

  /** (Re)send a batch's MULTI and commands as a new transmission. */
  private transmit(b: Batch): void {
    b.wire = { b, gen: this.gen, replies: 0, queueError: null };
    const cb = this.onQueuedBound as never;
    this.conn.send(['MULTI'], cb, b.wire);
    for (const c of b.cmds) this.conn.sendRaw(c, cb, b.wire);
  }
}

function isName(arg: unknown, lower: string): boolean {
  if (typeof arg === 'string') return arg.toLowerCase() === lower;
  if (!Buffer.isBuffer(arg) || arg.length !== lower.length) return false;
  for (let i = 0; i < arg.length; i++) if ((arg[i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The command name of an encoded command (`*n\r\n$len\r\nNAME\r\n…`), for messages. */
function commandName(bytes: Buffer): string {
  const a = bytes.indexOf('\r\n$');
  const b = a < 0 ? -1 : bytes.indexOf('\r\n', a + 3);
  if (b < 0) return 'a command';
  return bytes
    .subarray(b + 2, bytes.indexOf('\r\n', b + 2))
    .toString('latin1')
    .toUpperCase()
    .slice(0, 32);
}
