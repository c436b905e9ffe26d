/**
 * ReplicaSource: the replica-link source of the pipeline (design §1, §2). It poses as a replica of the
 * source (src/replication/link.ts), and drives a Sink:
 *
 *   spool ─RDB bytes─▶ RdbDecoder ─KeyVisitor calls─▶ [heartbeat drop, filter.key] ─▶ sink
 *         ─stream bytes─▶ CommandStream ─CommandRecords─▶ [filter.command] ─▶ sink, then a Position
 *
 * Flow control: input is fed in pieces of at most `feedChunkBytes`, and only while
 * `!sink.needsDrain` (we await `sink.drain()` between pieces, never in the middle of a visitor call).
 * The link keeps reading the socket meanwhile; what we haven't taken waits in its spool.
 * Acks: `sink.onAck(pos)` → `link.setAckedOffset(pos.offset)`, so our REPLCONF ACKs report what the
 * target has acknowledged, not what we received.
 */
import { ReplicantError } from '../errors.js';
import type { CommandRecord, KeyMeta, Position, Sink, ValueChunk } from '../records.js';
import { RdbDecoder, type RdbDecoderOptions, type RdbVisitor } from '../rdb/index.js';
import { DEFAULT_HEARTBEAT_KEY, HeartbeatFilter, HeartbeatWriter } from '../replication/heartbeat.js';
import { ReplicaLink, type ReplicaLinkOptions, type SyncStart } from '../replication/link.js';
import { FRAME_RDB, FRAME_RDB_END } from '../replication/spool.js';
import { CommandStream } from '../replication/stream.js';

const EMPTY_PART = Buffer.alloc(0);

/** Synchronous, pure record filter (design §1). Return null to drop, or a (possibly new) record. */
export interface SourceFilter {
  key?(meta: KeyMeta): KeyMeta | null;
  command?(rec: CommandRecord): CommandRecord | null;
}

export interface ReplicaSourceOptions extends ReplicaLinkOptions {
  /** With `resume`: fail with ERR_RESUME_FULLRESYNC unless the source answers +CONTINUE. */
  requireContinue?: boolean;
  /**
   * Awaited after the source answered with a full sync (before any of it reaches the sink): the
   * checkpointed sync empties a target that holds this migration's earlier copy here.
   */
  onFullSync?: () => Promise<void>;
  filter?: SourceFilter;
  /** Heartbeat key (lag measurement); false disables both writing and dropping it. */
  heartbeat?: { key?: string; write?: boolean; intervalMs?: number } | false;
  rdb?: RdbDecoderOptions;
  /** Largest piece of input fed between two needsDrain checks. Default 64 KiB. */
  feedChunkBytes?: number;
}

export type ReplicaPhase = 'connecting' | 'waiting-bgsave' | 'snapshot' | 'stream' | 'stopped';

export interface ReplicaStatus {
  phase: ReplicaPhase;
  mode: SyncStart['mode'] | null;
  replid: string | null;
  /** Offset of the last command parsed (and handed to the sink). */
  offset: number;
  /** Offset the target has acknowledged (what our ACKs report). */
  ackedOffset: number;
  /** Offset of the last byte received from the source. */
  receivedOffset: number;
  db: number;
  rdbBytesReceived: number;
  rdbBytesTotal: number | null;
  rdbBytesApplied: number;
  keys: number;
  keysFiltered: number;
  commands: number;
  /** MULTI groups forwarded in parts (db switch inside, or bigger than the group limit). */
  groupsSplit: number;
  spoolBytes: number;
  spoolMemoryBytes: number;
  spoolDiskBytes: number;
  /** now − newest heartbeat seen in the stream; null = unknown. */
  lagMs: number | null;
}

export class ReplicaSource {
  readonly link: ReplicaLink;
  phase: ReplicaPhase = 'connecting';
  commands = 0;
  rdbBytesApplied = 0;
  ackedOffset = 0;
  /** The newest position the target acknowledged (replid, offset, db): the resume point. */
  acked: Position | null = null;
  /** The source answered with a full resync (or SYNC): this link began a full copy. */
  fullCopyBegun = false;
  /** The target acknowledged a stream position of this link: everything of its snapshot is written. */
  private positionAcked = false;

  private readonly sink: Sink;
  private readonly o: ReplicaSourceOptions;
  private readonly filter: SourceFilter | null;
  private readonly hb: HeartbeatFilter | null;
  private writer: HeartbeatWriter | null = null;
  private decoder: RdbDecoder | null = null;
  private stream: CommandStream | null = null;
  private readonly snapshot: SnapshotForwarder;
  private lastPosition = -1;
  private stopping = false;
  private running: Promise<void> | null = null;
  /** While idle: wakes the loop when the sink needs draining (it may have failed meanwhile). */
  private watch: NodeJS.Timeout | null = null;

  constructor(sink: Sink, opts: ReplicaSourceOptions) {
    this.sink = sink;
    this.o = opts;
    this.filter = opts.filter ?? null;
    this.hb =
      opts.heartbeat === false ? null : new HeartbeatFilter(opts.heartbeat?.key ?? DEFAULT_HEARTBEAT_KEY);
    this.link = new ReplicaLink(opts);
    this.snapshot = new SnapshotForwarder(sink, this.filter, this.hb);
  }

  /**
   * Connect and run until `stop()` or a fatal error. Resolves once stopped *and* shut down (the sink
   * flushed, the final ACK sent, the link closed); rejects with the ReplicantError that ended it.
   */
  run(): Promise<void> {
    this.running ??= this.loop().then(
      () => this.shutdown(true),
      async (err: unknown) => {
        // A stop() during the handshake closes the link under it: that is a stop, not a failure.
        if (this.stopping && this.link.sync === null) return this.shutdown(false);
        await this.shutdown(false).catch(() => {});
        throw err;
      },
    );
    return this.running;
  }

  /** Stop reading, let the sink flush, send a final ACK, close. Resolves when done. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.link.spool.interrupt();
    if (this.link.phase === 'connecting') await this.link.close();
    if (this.running) await this.running.catch(() => {});
    else await this.shutdown(false);
  }

  /**
   * The target holds a complete copy as far as this link knows: it acknowledged a stream position
   * (every snapshot write before it is answered), or the link continues (PSYNC) from a complete copy
   * and was not answered with a full resync. A SYNC-mode link has no positions: its stream phase
   * began. Still true after the link stopped: a run's exit code is decided from it.
   */
  get copyComplete(): boolean {
    if (this.positionAcked) return true;
    if ((this.o.resume ?? null) !== null && !this.fullCopyBegun) return true;
    return this.link.sync?.mode === 'sync' && this.stream !== null;
  }

  status(): ReplicaStatus {
    const l = this.link;
    const s = l.spool;
    // The link may already be receiving the RDB while we still wait for its first byte.
    const phase = this.phase === 'waiting-bgsave' && l.phase !== 'waiting-bgsave' ? 'snapshot' : this.phase;
    return {
      phase,
      mode: l.sync?.mode ?? null,
      replid: l.sync?.replid ?? null,
      offset: this.stream?.offset ?? l.sync?.offset ?? 0,
      ackedOffset: this.ackedOffset,
      receivedOffset: l.receivedOffset,
      db: this.stream?.db ?? this.streamDb(),
      rdbBytesReceived: l.rdbReceived,
      rdbBytesTotal: l.rdbSize,
      rdbBytesApplied: this.rdbBytesApplied,
      keys: this.snapshot.keys,
      keysFiltered: this.snapshot.keysFiltered,
      commands: this.commands,
      groupsSplit: this.stream?.groupsSplit ?? 0,
      spoolBytes: s.bytes,
      spoolMemoryBytes: s.memoryBytes,
      spoolDiskBytes: s.diskBytes,
      lagMs: this.hb?.lagMs() ?? null,
    };
  }

  private async loop(): Promise<void> {
    this.sink.onAck((pos: Position) => {
      this.positionAcked = true;
      if (pos.offset > this.ackedOffset) {
        this.ackedOffset = pos.offset;
        this.acked = pos;
      }
      this.link.setAckedOffset(pos.offset);
    });
    const sync = await this.link.start();
    if (this.o.resume && this.o.requireContinue && sync.mode !== 'continue') {
      const r = this.o.resume;
      throw new ReplicantError(
        'ERR_RESUME_FULLRESYNC',
        `the source could not continue from the checkpoint (replid ${r.replid}, offset ${r.offset}): it answered with a ${sync.mode === 'full' ? 'full resync' : 'SYNC'} — its backlog no longer holds that offset, or it is another server or history`,
        {
          hint: 'a full copy is needed: restart with --flush-target (the target DBs are emptied and copied again); a bigger repl-backlog-size on the source lets a longer pause resume',
        },
      );
    }
    this.ackedOffset = this.link.ackedOffset;
    this.fullCopyBegun = sync.mode !== 'continue';
    // +CONTINUE: the resume point itself is acknowledged (it was, by the run that made it). Without
    // this a stop before the first new write left `acked` null, and no resume point was kept.
    if (sync.mode === 'continue' && this.o.resume)
      this.acked = { replid: sync.replid, offset: sync.offset, db: this.o.resume.db ?? 0 };
    else if (this.o.onFullSync) await this.o.onFullSync();
    if (this.o.heartbeat !== false && this.o.heartbeat?.write !== false) this.startHeartbeat();
    if (sync.mode === 'continue') this.beginStream(sync, this.o.resume?.db ?? 0);
    else this.phase = 'waiting-bgsave';

    const spool = this.link.spool;
    const piece = this.o.feedChunkBytes ?? 64 * 1024;
    this.watch = setInterval(() => {
      if (this.sink.needsDrain) spool.interrupt();
    }, 250);
    this.watch.unref();
    while (!this.stopping) {
      const f = spool.shift();
      if (f === null) {
        if (spool.finished) {
          if (spool.error) throw spool.error;
          return;
        }
        // stop() interrupts this wait (no race against a stop promise: that would leave one
        // reaction behind per idle wait for the whole life of the link). So does a sink that
        // failed while we were idle (the watch timer below): its error must not wait for the next PING.
        if (this.sink.needsDrain) await this.sink.drain();
        await spool.readable();
        continue;
      }
      if (f.kind === FRAME_RDB_END) {
        this.endSnapshot(sync);
        continue;
      }
      for (let at = 0; at < f.data.length && !this.stopping; at += piece) {
        const part = f.data.length <= piece ? f.data : f.data.subarray(at, at + piece);
        if (f.kind === FRAME_RDB) this.feedRdb(part);
        else this.feedStream(part);
        if (this.sink.needsDrain) await this.sink.drain();
        // A decoder that yielded (backpressure inside a big key) finishes its input before it gets more.
        while (f.kind === FRAME_RDB && this.decoder?.yielded && !this.stopping) {
          this.decoder.write(EMPTY_PART);
          if (this.sink.needsDrain) await this.sink.drain();
        }
      }
    }
  }

  /**
   * Decoder options. In auto mode (`rdb.wantElements` given, usually the sink's) keys we drop here
   * (heartbeat, filtered) are not decoded at all, and the others are decoded only when the sink says so.
   */
  private decoderOptions(): RdbDecoderOptions | undefined {
    const o = this.o.rdb;
    const want = o?.wantElements;
    if (!want) return o;
    return { ...o, wantElements: (m: KeyMeta) => this.snapshot.wants(m, want) };
  }

  private feedRdb(part: Buffer): void {
    if (this.decoder === null) {
      this.phase = 'snapshot';
      this.decoder = new RdbDecoder(this.snapshot, this.decoderOptions());
    }
    this.decoder.write(part);
    this.rdbBytesApplied += part.length;
  }

  private endSnapshot(sync: SyncStart): void {
    if (this.decoder === null) this.decoder = new RdbDecoder(this.snapshot, this.decoderOptions());
    this.decoder.end(); // throws ERR_RDB_TRUNCATED if the transfer ended early
    this.decoder = null;
    this.beginStream(sync, this.streamDb());
  }

  private beginStream(sync: SyncStart, db: number): void {
    this.phase = 'stream';
    this.stream = new CommandStream({
      offset: sync.offset,
      db,
      addr: this.link.addr,
      heartbeat: this.hb,
      emit: (rec) => this.emit(rec),
      onGetAck: (offset) => this.link.getAck(offset),
    });
    this.position();
  }

  private feedStream(part: Buffer): void {
    this.stream!.feed(part);
    this.position();
  }

  /** Everything before the stream's committed offset has been handed to the sink. */
  private position(): void {
    const s = this.stream!;
    // Part of a split MULTI is out but `committed` is still before it: not a clean point yet.
    if (s.splitOpen || s.committed === this.lastPosition || this.link.sync?.mode === 'sync') return;
    this.lastPosition = s.committed;
    this.sink.position({ replid: this.link.sync!.replid, offset: s.committed, db: s.db });
  }

  private emit(rec: CommandRecord): void {
    const out = this.filter?.command ? this.filter.command(rec) : rec;
    if (out === null) return;
    this.commands++;
    this.sink.command(out);
  }

  /** Initial db of the stream after a full sync: aux repl-stream-db, default 0 (protocol.md §1.3). */
  private streamDb(): number {
    const v = Number(this.snapshot.auxFields.get('repl-stream-db') ?? 0);
    return Number.isInteger(v) && v >= 0 ? v : 0;
  }

  private startHeartbeat(): void {
    const hb = this.o.heartbeat || {};
    this.writer = new HeartbeatWriter({
      host: this.o.host,
      port: this.o.port,
      username: this.o.username,
      password: this.o.password,
      key: hb.key ?? DEFAULT_HEARTBEAT_KEY,
      intervalMs: hb.intervalMs ?? 1000,
      ...(this.o.log ? { log: this.o.log } : {}),
    });
    this.writer.start();
  }

  private async shutdown(flush: boolean): Promise<void> {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
    if (this.phase === 'stopped') return;
    this.phase = 'stopped';
    await this.writer?.stop();
    try {
      // Let the target acknowledge what we fed, so the final ACK (sent by close) reports it.
      if (flush) await this.sink.flush();
    } finally {
      await this.link.close();
    }
  }
}

/** The RDB visitor: forwards to the sink, minus the heartbeat key and what the filter drops. */
class SnapshotForwarder implements RdbVisitor {
  keys = 0;
  keysFiltered = 0;
  /** Aux fields of the snapshot we care about (repl-stream-db, repl-id, repl-offset). */
  readonly auxFields = new Map<string, string>();
  private skipping = false;

  constructor(
    private readonly sink: Sink,
    private readonly filter: SourceFilter | null,
    private readonly hb: HeartbeatFilter | null,
  ) {}

  keyStart(meta: KeyMeta): void {
    if (this.hb?.isKey(meta.key)) {
      this.skipping = true;
      return;
    }
    const m = this.filter?.key ? this.filter.key(meta) : meta;
    if (m === null) {
      this.skipping = true;
      this.keysFiltered++;
      return;
    }
    this.keys++;
    this.sink.keyStart(m);
  }
  keyRaw(chunk: Buffer): void {
    if (!this.skipping) this.sink.keyRaw(chunk);
  }
  keyElements(chunk: ValueChunk): void {
    if (!this.skipping) this.sink.keyElements(chunk);
  }
  keyEnd(): void {
    if (this.skipping) this.skipping = false;
    else this.sink.keyEnd();
  }
  /** Auto-mode decoder, right after keyStart: decode this key's elements? Never for a dropped key. */
  wants(meta: KeyMeta, sinkWants: (m: KeyMeta) => boolean): boolean {
    return this.skipping ? false : sinkWants(meta);
  }
  /** Auto-mode decoder: a raw-only key turned out big; its elements follow from the first one. */
  keyUpgraded(): void {
    if (!this.skipping) (this.sink as Sink & { keyUpgraded?(): void }).keyUpgraded?.();
  }
  functionLibrary(code: Buffer): void {
    this.sink.functionLibrary(code);
  }
  aux(key: Buffer, value: Buffer): void {
    const k = key.toString('latin1');
    if (k === 'repl-stream-db' || k === 'repl-id' || k === 'repl-offset')
      this.auxFields.set(k, value.toString('latin1'));
  }
}
