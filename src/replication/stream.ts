/**
 * The replication stream after the RDB (docs/protocol.md §1.3, §1.5): RESP arrays of bulk strings,
 * turned into CommandRecords with byte-exact offsets.
 *
 * - Every byte counts: the offset advances by the exact length of each command (RespDecoder's
 *   `lastLength`), including the ones we drop (PING, REPLCONF, SELECT, MULTI/EXEC).
 * - SELECT changes the current db and is not forwarded. PING, REPLCONF (GETACK is reported to the
 *   caller so the link can answer) and Sentinel's `PUBLISH __sentinel__:hello` are dropped.
 * - MULTI … EXEC becomes one record with `multi` and the offset after EXEC. 7.0 may put SELECT inside
 *   the MULTI; a group spanning several dbs is split into one record per db run (each part keeps its
 *   order; only the last part carries the offset after EXEC, earlier parts the offset before MULTI,
 *   so a checkpoint never lands inside a half-applied group).
 * - `committed` is the offset of the last complete unit: never inside an open MULTI. Positions use it.
 */
import { ServerReplyError } from '../errors.js';
import type { CommandRecord } from '../records.js';
import { NEED_MORE, RespDecoder } from '../resp/index.js';
import { protocolError } from './errors.js';
import { type HeartbeatFilter, isCommand } from './heartbeat.js';

const SENTINEL_HELLO = Buffer.from('__sentinel__:hello');

export interface CommandStreamOptions {
  /** Offset the stream starts after (FULLRESYNC offset, or the resume offset). */
  offset: number;
  /** Current db at the start (aux repl-stream-db after a full sync; the saved db after +CONTINUE). */
  db: number;
  addr: string;
  heartbeat?: HeartbeatFilter | null;
  /**
   * Largest MULTI group held before it is forwarded in parts (bounded memory; those parts lose
   * atomicity on the target and are counted in `groupsSplit`). Default 64 MiB.
   */
  maxGroupBytes?: number;
  /** A record to forward (already grouped and heartbeat-filtered). */
  emit: (rec: CommandRecord) => void;
  /** `REPLCONF GETACK` parsed; `offset` is the offset after it. */
  onGetAck: (offset: number) => void;
}

export class CommandStream {
  /** Offset after the last byte parsed (inside an open MULTI too). */
  offset: number;
  /** Offset after the last complete unit (outside any MULTI): safe for a Position. */
  committed: number;
  db: number;
  /** Commands parsed (every top-level array, dropped ones included). */
  parsed = 0;
  /** MULTI groups forwarded in several parts (db changes inside, or bigger than maxGroupBytes). */
  groupsSplit = 0;

  private readonly o: CommandStreamOptions;
  private readonly dec = new RespDecoder();
  /** Open MULTI: the inner commands so far, and the db each run of them belongs to. */
  private group: Buffer[][] | null = null;
  private groupDb = 0;
  private groupStart = 0;
  private groupBytes = 0;
  /** Between two commands with nothing buffered: a leading `\n` of the next chunk is a keepalive. */
  private atBoundary = true;
  private readonly maxGroupBytes: number;

  constructor(opts: CommandStreamOptions) {
    this.o = opts;
    this.offset = opts.offset;
    this.committed = opts.offset;
    this.db = opts.db;
    this.maxGroupBytes = opts.maxGroupBytes ?? 64 * 1024 * 1024;
  }

  /**
   * True while part of the open MULTI has been emitted (a split group): `committed` is then behind
   * writes already handed on, so no Position may be taken until the EXEC.
   */
  splitOpen = false;

  /** True while a MULTI has been opened and its EXEC not yet seen. */
  get inMulti(): boolean {
    return this.group !== null;
  }

  /** Parse every complete command in `chunk` (plus what was buffered before). */
  feed(chunk: Buffer): void {
    if (this.atBoundary) {
      // Bare `\n` keepalives between commands (old masters, chained replicas with their master
      // down) are outside the stream: skipped and not counted. They arrive at chunk starts.
      let i = 0;
      while (i < chunk.length && chunk[i] === 10) i++;
      if (i > 0) chunk = chunk.subarray(i);
      if (chunk.length === 0) return;
    }
    this.atBoundary = false;
    this.dec.feed(chunk);
    for (;;) {
      const v = this.dec.next();
      if (v === NEED_MORE) return;
      this.offset += this.dec.lastLength;
      this.parsed++;
      if (!isCommandArray(v)) {
        const what = v instanceof ServerReplyError ? `-${v.message}` : describe(v);
        throw protocolError(this.o.addr, `non-command in the replication stream: ${what}`);
      }
      this.handle(v);
      if (this.dec.buffered === 0) this.atBoundary = true;
    }
  }

  private handle(argv: Buffer[]): void {
    const name = argv[0]!;
    if (isCommand(name, 'select')) {
      const db = Number(argv[1]?.toString('latin1'));
      if (!Number.isInteger(db) || db < 0) throw protocolError(this.o.addr, 'SELECT without a valid db');
      if (this.group !== null && this.group.length > 0 && db !== this.groupDb) this.splitGroup();
      this.db = db;
      if (this.group !== null && this.group.length === 0) this.groupDb = db;
    } else if (isCommand(name, 'ping')) {
      // Liveness only (repl-ping-replica-period); counted in the offset, never applied.
    } else if (isCommand(name, 'replconf')) {
      if (argv.length >= 2 && isCommand(argv[1]!, 'getack')) this.o.onGetAck(this.offset);
    } else if (isCommand(name, 'multi')) {
      this.group = [];
      this.splitOpen = false;
      this.groupDb = this.db;
      this.groupBytes = 0;
      this.groupStart = this.offset - this.dec.lastLength;
      return;
    } else if (isCommand(name, 'exec') && this.group !== null) {
      const g = this.group;
      this.group = null;
      this.splitOpen = false;
      this.emitGroup(g, this.groupDb, this.offset);
    } else if (isCommand(name, 'publish') && argv.length >= 2 && argv[1]!.equals(SENTINEL_HELLO)) {
      // Sentinel's hello messages are replicated in non-cluster mode; they mean nothing on the target.
    } else {
      const kept = this.o.heartbeat ? this.o.heartbeat.command(argv) : argv;
      if (kept !== null) {
        if (this.group !== null) {
          this.group.push(kept);
          this.groupBytes += this.dec.lastLength;
          if (this.groupBytes > this.maxGroupBytes) this.splitGroup();
        } else this.o.emit({ db: this.db, argv: kept, offset: this.offset });
      }
    }
    if (this.group === null) this.committed = this.offset;
  }

  /** A SELECT inside an open MULTI switched db: emit the commands so far as their own part. */
  private splitGroup(): void {
    const g = this.group!;
    this.group = [];
    this.groupBytes = 0;
    if (g.length > 0) {
      this.groupsSplit++;
      this.splitOpen = true;
    }
    this.emitGroup(g, this.groupDb, this.groupStart);
  }

  private emitGroup(g: Buffer[][], db: number, offset: number): void {
    if (g.length === 0) return; // everything in it was ours (heartbeat) or it was empty
    if (g.length === 1) this.o.emit({ db, argv: g[0]!, offset });
    else this.o.emit({ db, argv: g[0]!, offset, multi: g });
    this.groupDb = this.db;
  }
}

function isCommandArray(v: unknown): v is Buffer[] {
  if (!Array.isArray(v) || v.length === 0) return false;
  for (let i = 0; i < v.length; i++) if (!Buffer.isBuffer(v[i])) return false;
  return true;
}

function describe(v: unknown): string {
  if (Buffer.isBuffer(v)) return `bulk string of ${v.length} bytes`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  return typeof v;
}
