/**
 * The replication stream after the RDB (docs/protocol.md §1.3, §1.5): RESP arrays of bulk strings,
 * turned into CommandRecords with byte-exact offsets.
 *
 * - Every byte counts: the offset advances by the exact wire length of each command, including the
 *   ones we drop (PING, REPLCONF, SELECT, MULTI/EXEC).
 * - SELECT changes the current db and is not forwarded. PING, REPLCONF (GETACK is reported to the
 *   caller so the link can answer) and Sentinel's `PUBLISH __sentinel__:hello` are dropped.
 * - MULTI … EXEC becomes one record with `multi` and the offset after EXEC. 7.0 may put SELECT inside
 *   the MULTI; a group spanning several dbs is split into one record per db run (each part keeps its
 *   order; only the last part carries the offset after EXEC, earlier parts the offset before MULTI,
 *   so a checkpoint never lands inside a half-applied group).
 * - `committed` is the offset of the last complete unit: never inside an open MULTI. Positions use it.
 *
 * Bounded memory (issue #14): the parser is our own, not RespDecoder, because a command can be far
 * bigger than anything worth holding. A variadic write whose repeated part keeps its meaning when
 * applied in pieces (SADD, RPUSH, HSET, ZADD, DEL, MSET… see SPLIT) is forwarded in chunks of
 * ~1024 arguments / 1 MiB as it arrives: an 8M-member SADD never exists as 8M Buffer views. The
 * chunks are ordinary records of the same db; no Position can fall between them (`committed` only
 * moves once the whole command is in), so an ACK or checkpoint covers the command only once every
 * chunk is acknowledged. A MULTI group is forwarded in parts once it holds `maxGroupArgs` arguments
 * or `maxGroupBytes` bytes; the parts are flagged (`groupMore`/`groupCont`) so a standalone sink
 * keeps them in one transaction. Other commands are held whole, within the limits below, which are
 * the server's own: a master never sends more than a client could have sent it.
 */
import type { CommandRecord } from '../records.js';
import { streamProtocolError } from './errors.js';
import { type HeartbeatFilter, isCommand } from './heartbeat.js';

const SENTINEL_HELLO = Buffer.from('__sentinel__:hello');
const EMPTY = Buffer.alloc(0);

/** Redis `proto-max-bulk-len` default: the largest bulk string a server accepts from a client. */
export const MAX_BULK_BYTES = 512 * 1024 * 1024;
/** Redis `client-query-buffer-limit` default: the largest command a client can send a server. */
export const MAX_COMMAND_BYTES = 1024 * 1024 * 1024;
/** Smallest wire size of one argument (`$0\r\n\r\n`): a bigger count cannot fit in MAX_COMMAND_BYTES. */
const MIN_ARG_BYTES = 6;
/**
 * Arguments held at once for a command that is not forwarded in pieces (each costs a Buffer view,
 * ~100 bytes of heap, on top of its bytes). Redis itself has no such command in practice: variadic
 * writes are split (SPLIT), and scripts are replicated as their effects.
 */
export const MAX_HELD_ARGS = 1024 * 1024;
/** A `*`/`$` header line is at most `*2147483647\r\n`; anything longer is not a header. */
const MAX_HEADER_LINE = 32;

/** Chunk of a split command: this many repeated arguments, or this many bytes, whichever first. */
const CHUNK_ARGS = 1024;
const CHUNK_BYTES = 1024 * 1024;

/**
 * Commands forwarded in chunks: `prefix` arguments (name included) repeat in every chunk, the rest
 * come in units of `unit` arguments. Each one's chunks, applied in order, leave the same state as the
 * whole command (replies are consumed by nobody). Not XADD (one entry: splitting would make several),
 * not MSETNX (all-or-nothing), not GEOADD (masters replicate it as ZADD).
 */
interface Split {
  prefix: number;
  unit: number;
  /** ZADD: NX|XX|GT|LT|CH|INCR right after the key join the prefix. */
  zadd: boolean;
}
const SPLIT = new Map<string, Split>();
for (const n of ['sadd', 'srem', 'rpush', 'lpush', 'rpushx', 'lpushx', 'pfadd', 'zrem', 'hdel'])
  SPLIT.set(n, { prefix: 2, unit: 1, zadd: false });
for (const n of ['hset', 'hmset']) SPLIT.set(n, { prefix: 2, unit: 2, zadd: false });
for (const n of ['del', 'unlink']) SPLIT.set(n, { prefix: 1, unit: 1, zadd: false });
SPLIT.set('mset', { prefix: 1, unit: 2, zadd: false });
SPLIT.set('zadd', { prefix: 2, unit: 2, zadd: true });
const ZADD_OPTS = new Set(['nx', 'xx', 'gt', 'lt', 'ch', 'incr']);

export interface CommandStreamOptions {
  /** Offset the stream starts after (FULLRESYNC offset, or the resume offset). */
  offset: number;
  /** Current db at the start (aux repl-stream-db after a full sync; the saved db after +CONTINUE). */
  db: number;
  addr: string;
  heartbeat?: HeartbeatFilter | null;
  /**
   * A MULTI group is forwarded in parts once it holds this many bytes (default 64 MiB) or
   * `maxGroupArgs` arguments (default 65536): bounded memory. The parts carry `groupMore`/`groupCont`
   * (one transaction on a standalone target); counted in `groupsSplit`.
   */
  maxGroupBytes?: number;
  maxGroupArgs?: number;
  /** Protocol limits (defaults: the server's own, see above). */
  maxBulkBytes?: number;
  maxCommandBytes?: number;
  maxHeldArgs?: number;
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
  /** MULTI groups forwarded in several parts (db changes inside, or bigger than the group limits). */
  groupsSplit = 0;
  /** Commands forwarded in chunks (SPLIT), and the chunks that made them. */
  commandsSplit = 0;
  chunks = 0;
  /** Largest command seen, in wire bytes. */
  maxCommandSeen = 0;

  private readonly o: CommandStreamOptions;
  /** Open MULTI: the inner commands so far, and the db each run of them belongs to. */
  private group: Buffer[][] | null = null;
  private groupDb = 0;
  private groupStart = 0;
  private groupBytes = 0;
  private groupArgs = 0;
  /** Parts of the open group went out flagged `groupMore`: the next part continues that transaction. */
  private groupCont = false;
  private readonly maxGroupBytes: number;
  private readonly maxGroupArgs: number;
  private readonly maxBulk: number;
  private readonly maxCommand: number;
  private readonly maxArgs: number;
  private readonly maxHeld: number;

  // Parser state. `buf[pos…]` is unparsed input; a header line cut short stays there (≤ 32 bytes).
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Inside a command: bulks still to read, the count it declared, wire bytes consumed so far. */
  private argsLeft = -1;
  private declared = 0;
  private cmdBytes = 0;
  /** Arguments of the current command (or of its current chunk). */
  private argv: Buffer[] = [];
  /** Index of the next argument in the whole command. */
  private argIndex = 0;
  private split: Split | null = null;
  private prefixLen = 0;
  /** Copies of the prefix once the command is being chunked (the input it came from is let go). */
  private prefix: Buffer[] | null = null;
  private chunkBytes = 0;
  /** cmdBytes when the last chunk went out (the wire size of a chunk, for the group budget). */
  private chunkFrom = 0;
  // A bulk cut short: bytes still needed (payload + CRLF), or -1.
  private bulkNeed = -1;
  private bulkLen = 0;
  private bulkPieces: Buffer[] = [];

  constructor(opts: CommandStreamOptions) {
    this.o = opts;
    this.offset = opts.offset;
    this.committed = opts.offset;
    this.db = opts.db;
    this.maxGroupBytes = opts.maxGroupBytes ?? 64 * 1024 * 1024;
    this.maxGroupArgs = opts.maxGroupArgs ?? 65536;
    this.maxBulk = opts.maxBulkBytes ?? MAX_BULK_BYTES;
    this.maxCommand = opts.maxCommandBytes ?? MAX_COMMAND_BYTES;
    this.maxArgs = Math.floor(this.maxCommand / MIN_ARG_BYTES);
    this.maxHeld = opts.maxHeldArgs ?? MAX_HELD_ARGS;
  }

  /**
   * True while part of the open MULTI (or of a command being chunked) has been emitted: `committed`
   * is then behind writes already handed on, so no Position may be taken until it completes.
   */
  splitOpen = false;

  /** True while a MULTI has been opened and its EXEC not yet seen. */
  get inMulti(): boolean {
    return this.group !== null;
  }

  /** Parse every complete command in `chunk` (plus what was buffered before). */
  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos < this.buf.length) {
      // Leftover is a header line cut short (≤ 32 bytes): joining is cheap.
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    } else this.buf = chunk;
    this.pos = 0;
    const buf = this.buf;
    for (;;) {
      if (this.bulkNeed >= 0) {
        if (!this.fillBulk()) return;
        continue;
      }
      if (this.argsLeft < 0) {
        // Bare `\n` keepalives between commands (old masters, chained replicas with their master
        // down) are outside the stream: skipped and not counted.
        while (this.pos < buf.length && buf[this.pos] === 10) this.pos++;
        if (this.pos >= buf.length) return;
        if (buf[this.pos] !== 0x2a) this.notACommand();
        const n = this.header();
        if (n === null) return;
        this.begin(n);
        continue;
      }
      const at = this.pos;
      if (at >= buf.length) return;
      if (buf[at] !== 0x24) {
        this.fail(
          0,
          `${printable(buf, at, 1)} where argument ${this.argIndex + 1} of ${this.declared} (a bulk string, '$') belongs`,
        );
      }
      const len = this.header();
      if (len === null) return;
      if (len > this.maxBulk) {
        this.fail(
          at - this.pos,
          `a bulk string of ${len} bytes (argument ${this.argIndex + 1}), over the limit of ${this.maxBulk} bytes (proto-max-bulk-len)`,
        );
      }
      if (this.cmdBytes + len + 2 > this.maxCommand) {
        this.fail(
          at - this.pos,
          `a command of more than ${this.maxCommand} bytes (client-query-buffer-limit): argument ${this.argIndex + 1} of ${this.declared} declares ${len} bytes after ${this.cmdBytes}`,
        );
      }
      const p = this.pos;
      if (p + len + 2 <= buf.length) {
        // Whole bulk in this chunk: a view, no copy.
        if (buf[p + len] !== 13 || buf[p + len + 1] !== 10)
          this.fail(len, `a bulk string not followed by CRLF (argument ${this.argIndex + 1})`);
        this.pos = p + len + 2;
        this.cmdBytes += len + 2;
        this.arg(buf.subarray(p, p + len));
        continue;
      }
      // Cut short: its pieces are joined once the last byte is in (never allocated from `len`).
      this.bulkNeed = len + 2;
      this.bulkLen = len;
      this.bulkPieces = [];
    }
  }

  /** `*n` or `$n` at `pos`: the number, or null when its line is not complete yet. */
  private header(): number | null {
    const buf = this.buf;
    const start = this.pos;
    const end = Math.min(buf.length, start + MAX_HEADER_LINE);
    const nl = buf.indexOf(10, start);
    if (nl === -1 || nl >= end) {
      if (buf.length - start >= MAX_HEADER_LINE) {
        this.fail(
          0,
          `${printable(buf, start, 24)}… : a header line of ${MAX_HEADER_LINE} bytes or more without a line end`,
        );
      }
      return null;
    }
    if (buf[nl - 1] !== 13)
      this.fail(nl - start, `a header line ending in a bare LF: ${printable(buf, start, nl - start)}`);
    let n = 0;
    if (nl - 1 === start + 1) this.fail(1, `an empty length in ${printable(buf, start, 1)}`);
    for (let i = start + 1; i < nl - 1; i++) {
      const c = buf[i]! - 48;
      if (c < 0 || c > 9) this.fail(i - start, `an invalid length ${printable(buf, start, nl - 1 - start)}`);
      n = n * 10 + c;
      if (n > Number.MAX_SAFE_INTEGER / 10)
        this.fail(i - start, `a length out of range: ${printable(buf, start, nl - 1 - start)}`);
    }
    this.pos = nl + 1;
    this.cmdBytes += nl + 1 - start;
    return n;
  }

  /** A command header `*n` was read. */
  private begin(n: number): void {
    if (n === 0) this.fail(0, 'an empty command (*0)');
    if (n > this.maxArgs) {
      this.fail(
        0,
        `a command of ${n} arguments (*${n}): more than any command within client-query-buffer-limit (${this.maxCommand} bytes) can hold (${this.maxArgs} arguments of at least ${MIN_ARG_BYTES} bytes)`,
      );
    }
    this.argsLeft = n;
    this.declared = n;
    this.argIndex = 0;
    this.argv = [];
    this.split = null;
    this.prefix = null;
    this.chunkBytes = 0;
    this.chunkFrom = 0;
  }

  /** Continues a bulk cut short; true once its last byte (and CRLF) arrived. */
  private fillBulk(): boolean {
    const avail = this.buf.length - this.pos;
    if (avail === 0) return false;
    const take = Math.min(avail, this.bulkNeed);
    this.bulkPieces.push(this.buf.subarray(this.pos, this.pos + take));
    this.pos += take;
    this.cmdBytes += take;
    this.bulkNeed -= take;
    if (this.bulkNeed > 0) return false;
    this.bulkNeed = -1;
    const len = this.bulkLen;
    const whole = Buffer.concat(this.bulkPieces, len + 2);
    this.bulkPieces = [];
    if (whole[len] !== 13 || whole[len + 1] !== 10)
      this.fail(-2, `a bulk string not followed by CRLF (argument ${this.argIndex + 1})`);
    this.arg(whole.subarray(0, len));
    return true;
  }

  /** One argument of the current command. */
  private arg(a: Buffer): void {
    const i = this.argIndex++;
    this.argsLeft--;
    this.argv.push(a);
    if (i === 0) {
      this.split = this.declared > CHUNK_ARGS ? (SPLIT.get(lower(a)) ?? null) : null;
      this.prefixLen = this.split?.prefix ?? 0;
      if (this.split === null && this.declared > this.maxHeld) {
        this.fail(
          -this.cmdBytes,
          `${printable(a, 0, 32)} with ${this.declared} arguments: more than the ${this.maxHeld} replicant holds for a command it cannot apply in pieces`,
        );
      }
    } else if (this.split !== null) {
      if (this.split.zadd && i === this.prefixLen && ZADD_OPTS.has(lower(a))) this.prefixLen++;
      else if (i >= this.prefixLen) {
        this.chunkBytes += a.length;
        const units = this.argv.length - this.prefixLen;
        if (
          this.argsLeft > 0 &&
          units % this.split.unit === 0 &&
          (units >= CHUNK_ARGS || this.chunkBytes >= CHUNK_BYTES)
        )
          this.chunk();
      }
    }
    if (this.argsLeft > 0) return;
    // Complete.
    const argv = this.argv;
    const size = this.cmdBytes;
    const wire = size - this.chunkFrom;
    const chunked = this.prefix !== null;
    this.argsLeft = -1;
    this.argv = [];
    this.prefix = null;
    this.split = null;
    this.cmdBytes = 0;
    this.offset += size;
    this.parsed++;
    if (size > this.maxCommandSeen) this.maxCommandSeen = size;
    if (chunked) {
      this.chunks++;
      this.commandsSplit++;
      if (this.group === null) this.splitOpen = false;
      this.write(argv, wire, this.offset);
      if (this.group === null) this.committed = this.offset;
      return;
    }
    this.handle(argv, wire);
  }

  /** A chunk of a split command goes out now; the next one starts with copies of the prefix. */
  private chunk(): void {
    const argv = this.argv;
    if (this.prefix === null) {
      this.prefix = [];
      for (let k = 0; k < this.prefixLen; k++) this.prefix.push(Buffer.from(argv[k]!));
    }
    const wire = this.cmdBytes - this.chunkFrom;
    this.chunkFrom = this.cmdBytes;
    this.argv = this.prefix.slice();
    this.chunkBytes = 0;
    this.chunks++;
    if (this.group === null) this.splitOpen = true;
    // The offset before the command: a checkpoint taken from it never skips the rest.
    this.write(argv, wire, this.offset);
  }

  private handle(argv: Buffer[], wire: number): void {
    const name = argv[0]!;
    if (isCommand(name, 'select')) {
      const db = Number(argv[1]?.toString('latin1'));
      if (!Number.isInteger(db) || db < 0) this.fail(-wire, 'SELECT without a valid db');
      if (this.group !== null && this.group.length > 0 && db !== this.groupDb) this.splitGroup(false);
      this.db = db;
      if (this.group !== null && this.group.length === 0) this.groupDb = db;
    } else if (isCommand(name, 'ping')) {
      // Liveness only (repl-ping-replica-period); counted in the offset, never applied.
    } else if (isCommand(name, 'replconf')) {
      if (argv.length >= 2 && isCommand(argv[1]!, 'getack')) this.o.onGetAck(this.offset);
    } else if (isCommand(name, 'multi')) {
      this.group = [];
      this.splitOpen = false;
      this.groupCont = false;
      this.groupDb = this.db;
      this.groupBytes = 0;
      this.groupArgs = 0;
      this.groupStart = this.offset - wire;
      return;
    } else if (isCommand(name, 'exec') && this.group !== null) {
      const g = this.group;
      this.group = null;
      this.splitOpen = false;
      this.emitGroup(g, this.groupDb, this.offset, false);
      this.groupCont = false;
    } else if (isCommand(name, 'publish') && argv.length >= 2 && argv[1]!.equals(SENTINEL_HELLO)) {
      // Sentinel's hello messages are replicated in non-cluster mode; they mean nothing on the target.
    } else {
      this.write(argv, wire, this.offset);
    }
    if (this.group === null) this.committed = this.offset;
  }

  /** A write (a whole command or a chunk of one): into the open group, or out now. */
  private write(argv: Buffer[], wire: number, offset: number): void {
    const kept = this.o.heartbeat ? this.o.heartbeat.command(argv) : argv;
    if (kept === null) return;
    if (this.group === null) {
      this.o.emit({ db: this.db, argv: kept, offset });
      return;
    }
    this.group.push(kept);
    this.groupBytes += wire;
    this.groupArgs += kept.length;
    if (this.groupBytes > this.maxGroupBytes || this.groupArgs > this.maxGroupArgs) this.splitGroup(true);
  }

  /**
   * Forward what the open group holds as a part. `more` (size): the transaction continues in the next
   * part; the last command is kept back so the part that carries the EXEC is never empty. Otherwise
   * (a SELECT inside switched db): this part ends its transaction and the rest becomes a new one.
   */
  private splitGroup(more: boolean): void {
    const g = this.group!;
    if (more && g.length < 2) return;
    const keep = more ? g.pop()! : null;
    this.group = keep === null ? [] : [keep];
    this.groupBytes = 0;
    this.groupArgs = keep === null ? 0 : keep.length;
    if (g.length > 0) {
      if (!this.splitOpen) this.groupsSplit++;
      this.splitOpen = true;
    }
    this.emitGroup(g, this.groupDb, this.groupStart, more);
    this.groupCont = more;
  }

  private emitGroup(g: Buffer[][], db: number, offset: number, more: boolean): void {
    if (g.length === 0) return; // everything in it was ours (heartbeat) or it was empty
    if (g.length === 1 && !more && !this.groupCont) this.o.emit({ db, argv: g[0]!, offset });
    else {
      const rec: CommandRecord = { db, argv: g[0]!, offset, multi: g };
      if (more) rec.groupMore = true;
      if (this.groupCont) rec.groupCont = true;
      this.o.emit(rec);
    }
    this.groupDb = this.db;
  }

  /** The byte at the current position is not `*`: say what the source sent instead. */
  private notACommand(): never {
    const buf = this.buf;
    const nl = buf.indexOf(10, this.pos);
    const end = nl === -1 ? Math.min(buf.length, this.pos + 60) : Math.min(nl, this.pos + 60);
    const c = buf[this.pos]!;
    const what =
      c === 0x2d
        ? 'an error reply'
        : c === 0x2b
          ? 'a status reply'
          : c === 0x24
            ? 'a bare bulk string'
            : 'bytes that are not a command';
    this.fail(
      0,
      `${what} where a command (a RESP array, '*') belongs: ${printable(buf, this.pos, end - this.pos)}`,
    );
  }

  /**
   * ERR_SOURCE_PROTOCOL at the current position (+ `delta` bytes). The offset is the source's
   * replication offset of that byte, the same space as PSYNC and INFO's master_repl_offset.
   */
  private fail(delta: number, what: string): never {
    const inCmd = this.argsLeft >= 0 || this.bulkNeed >= 0 ? this.cmdBytes : 0;
    throw streamProtocolError(this.o.addr, what, this.offset + inCmd + delta);
  }
}

function lower(b: Buffer): string {
  return b.length > 16 ? '' : b.toString('latin1').toLowerCase();
}

/** Up to `n` bytes from `at`, as JSON-quoted text with control/non-ASCII bytes escaped. */
function printable(buf: Buffer, at: number, n: number): string {
  let s = '';
  const end = Math.min(buf.length, at + Math.max(0, n));
  for (let i = at; i < end; i++) {
    const c = buf[i]!;
    s +=
      c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c
        ? String.fromCharCode(c)
        : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `"${s}"`;
}
