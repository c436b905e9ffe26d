/**
 * Value decoding for every RDB object type: turns the object body into bounded ValueChunks while
 * passing the exact body bytes through as `keyRaw`. Ours because no kept npm package decodes RDB.
 *
 * Each state below is one resumable step (see reader.ts): read first, then act. Elements are
 * collected into the current chunk and flushed when it reaches maxChunkElements/maxChunkBytes, at
 * key end, and at the end of every `write()` (they may be views into the caller's chunk).
 */
import type { KeyMeta, StreamId, ValueChunk } from '../records.js';
import { type ElementCursor, IntsetCursor, ListpackCursor, ZiplistCursor, ZipmapCursor } from './compact.js';
import { corrupt, unsupported } from './errors.js';
import { parseScore, RdbReader } from './reader.js';
import type { RdbDecoderOptions, RdbVisitor } from './types.js';

/** Decoder states. Values from VALUE on are inside a key. */
export const S = {
  HEADER: 0,
  OP: 1,
  DONE: 2,
  KEYMETA: 3,
  MODULE: 4,
  VALUE: 10,
  STR_BODY: 11,
  LIST: 12,
  ZSET: 13,
  ZSET2: 14,
  HASH: 15,
  HASH_TTL: 16,
  HASH2: 17,
  QL: 18,
  QL2: 19,
  ST_NODES: 20,
  ST_META: 21,
  ST_GROUP: 22,
  ST_PEL: 23,
  ST_NCONS: 24,
  ST_CONS: 25,
  ST_CPEL: 26,
  IDMP_HDR: 27,
  IDMP_PROD: 28,
  IDMP_IID: 29,
  IDMP_TAIL: 30,
} as const;

const K_LIST = 0;
const K_SET = 1;
const K_ZSET = 2;
const K_HASH = 3;
const K_STREAM = 4;

const MOD_VALUE = 0;
const MOD_AUX = 1;
const MOD_KEYMETA = 2;

const TWO32 = 4294967296;
const EMPTY = Buffer.alloc(0);
/** Types whose whole value is one compact blob (skipped unread in raw-only mode). */
const BLOB_TYPES = new Set([9, 10, 11, 12, 13, 16, 17, 20, 23]);

type Id = number | bigint;

function idText(ms: Id, seq: Id): StreamId {
  return `${ms}-${seq}`;
}

function u64be(b: Buffer, at: number): Id {
  const hi = b.readUInt32BE(at);
  const lo = b.readUInt32BE(at + 4);
  if (hi < 0x200000) return hi * TWO32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function addId(base: Id, delta: number): Id {
  if (typeof base === 'number') {
    const r = base + delta;
    if (Number.isSafeInteger(r)) return r;
  }
  return BigInt(base) + BigInt(delta);
}

export abstract class ValueDecoder extends RdbReader {
  protected readonly visitor: RdbVisitor;
  protected readonly opts: Required<Pick<RdbDecoderOptions, 'onUnsupported'>> & RdbDecoderOptions;
  private readonly maxEl: number;
  private readonly maxBytes: number;
  /** Raw-only mode (opts.decodeValues false): find each value's extent, deliver keyRaw, decode nothing. */
  private readonly skip: boolean;

  protected state: number = S.HEADER;
  protected version = 0;
  protected family: 'redis' | 'valkey' = 'redis';
  protected db = 0;
  protected expireAtMs: number | null = null;
  protected idle: number | null = null;
  protected freq: number | null = null;
  /** DUMP payload mode: the key comes from the caller, not the input. */
  protected payloadKey: Buffer | null = null;
  protected payloadExpire: number | null = null;

  /** Unsupported items skipped under onUnsupported: 'skip'. */
  skippedCount = 0;
  keysDecoded = 0;

  private rdbType = 0;
  private rawOn = false;
  private rawMark = 0;
  private remaining = 0;

  // Current chunk.
  private kind = K_LIST;
  private items: Buffer[] = [];
  private items2: Buffer[] = [];
  private nums: number[] = [];
  private ttls: (number | null)[] = [];
  private hasTtl = false;
  private sIds: StreamId[] = [];
  private sFields: Buffer[][] = [];
  private chunkCount = 0;
  private chunkBytes = 0;
  private minExpire = 0;
  private ttlGa = false;

  // Streams.
  private streamVer = 1;
  private groupsLeft = 0;
  private group: { name: Buffer; lastId: StreamId; entriesRead: number | null; pelSize: number } | null =
    null;
  private pelIds: StreamId[] = [];
  private pelTimes: number[] = [];
  private pelCounts: number[] = [];
  private consLeft = 0;
  private cons: { name: Buffer; seenTimeMs: number; activeTimeMs: number | null } | null = null;
  private cpel: StreamId[] = [];

  // Module opcode walker.
  private modTarget = MOD_VALUE;
  private modName = '';
  private auxParts: Buffer[] = [];
  private auxBytes = 0;
  private keyMetaLeft = 0;

  private readonly zl = new ZiplistCursor();
  private readonly lp = new ListpackCursor();
  private readonly zm = new ZipmapCursor();
  private readonly is = new IntsetCursor();

  constructor(visitor: RdbVisitor, opts: RdbDecoderOptions) {
    super(opts.maxBlobBytes ?? 1024 * 1024 * 1024, opts.expectedSize ?? Number.POSITIVE_INFINITY);
    this.visitor = visitor;
    this.opts = { ...opts, onUnsupported: opts.onUnsupported ?? 'error' };
    this.maxEl = Math.max(1, opts.maxChunkElements ?? 1024);
    this.maxBytes = Math.max(1, opts.maxChunkBytes ?? 1024 * 1024);
    this.skip = opts.decodeValues === false;
  }

  /** An element string, or nothing in raw-only mode. */
  private el(what: string): Buffer {
    if (!this.skip) return this.str(what);
    this.skipStr(what);
    return EMPTY;
  }

  private emit(c: ValueChunk): void {
    if (!this.skip) this.visitor.keyElements(c);
  }

  protected abstract step(): boolean;

  protected expecting(): string {
    if (this.state >= S.VALUE) return `the rest of the value of a type-${this.rdbType} key`;
    if (this.state === S.MODULE) return 'the rest of a module value';
    if (this.state === S.KEYMETA) return 'the rest of a KEY_META block';
    return 'more data';
  }

  // ---- key lifecycle -------------------------------------------------------------------------

  protected beginKey(meta: KeyMeta, bodyStart: number): void {
    this.rdbType = meta.rdbType;
    this.visitor.keyStart(meta);
    this.keysDecoded++;
    this.rawOn = true;
    this.rawMark = bodyStart;
    this.hasTtl = false;
    if (meta.rdbType === 7) {
      this.modTarget = MOD_VALUE;
      this.state = S.MODULE;
    } else this.state = S.VALUE;
  }

  private finishKey(): void {
    this.flushElements();
    this.flushRaw();
    this.rawOn = false;
    this.visitor.keyEnd();
    this.state = this.payloadKey === null ? S.OP : S.DONE;
  }

  private flushRaw(): void {
    if (this.rawOn && this.pos > this.rawMark) this.visitor.keyRaw(this.buf.subarray(this.rawMark, this.pos));
    this.rawMark = this.pos;
  }

  /** End of a write(): hand over everything that is a view into the current input. */
  protected flushPending(): void {
    if (this.rawOn) {
      this.flushElements();
      this.flushRaw();
    }
    this.rawMark = 0; // detachTail() rebases the buffer so the unparsed tail starts at 0
  }

  protected override feed(chunk: Buffer): boolean {
    const ok = super.feed(chunk);
    if (ok) this.rawMark = this.pos;
    return ok;
  }

  // ---- element chunks ------------------------------------------------------------------------

  private begin(kind: number): void {
    this.kind = kind;
  }

  private bump(bytes: number): void {
    this.chunkBytes += bytes;
    if (++this.chunkCount >= this.maxEl || this.chunkBytes >= this.maxBytes) this.flushElements();
  }

  private addItem(b: Buffer): void {
    if (this.skip) return;
    this.items.push(b);
    this.bump(b.length);
  }

  private addPair(f: Buffer, v: Buffer, ttl: number | null): void {
    if (this.skip) return;
    this.items.push(f);
    this.items2.push(v);
    if (this.hasTtl) this.ttls.push(ttl);
    this.bump(f.length + v.length);
  }

  private addScored(m: Buffer, score: number): void {
    if (this.skip) return;
    this.items.push(m);
    this.nums.push(score);
    this.bump(m.length + 8);
  }

  private flushElements(): void {
    if (this.chunkCount === 0) return;
    let c: ValueChunk;
    switch (this.kind) {
      case K_LIST:
        c = { kind: 'list', items: this.items };
        break;
      case K_SET:
        c = { kind: 'set', members: this.items };
        break;
      case K_ZSET:
        c = { kind: 'zset', members: this.items, scores: this.nums };
        this.nums = [];
        break;
      case K_HASH:
        c = this.hasTtl
          ? { kind: 'hash', fields: this.items, values: this.items2, fieldExpireAtMs: this.ttls }
          : { kind: 'hash', fields: this.items, values: this.items2 };
        this.items2 = [];
        this.ttls = [];
        break;
      default:
        c = { kind: 'stream-entries', ids: this.sIds, fields: this.sFields };
        this.sIds = [];
        this.sFields = [];
    }
    this.items = [];
    this.chunkCount = 0;
    this.chunkBytes = 0;
    this.visitor.keyElements(c);
  }

  // ---- compact blobs -------------------------------------------------------------------------

  private feedSingles(cur: ElementCursor): void {
    while (cur.next()) this.addItem(cur.asBuffer());
  }

  private feedPairs(cur: ElementCursor, at: number): void {
    while (cur.next()) {
      const f = cur.asBuffer();
      if (!cur.next()) throw corrupt(at, 'hash blob has a field without a value');
      this.addPair(f, cur.asBuffer(), null);
    }
  }

  private feedScored(cur: ElementCursor, at: number): void {
    while (cur.next()) {
      const m = cur.asBuffer();
      if (!cur.next()) throw corrupt(at, 'zset blob has a member without a score');
      const s = cur.isInt ? cur.int : parseScore(cur.str);
      if (Number.isNaN(s)) throw corrupt(at, 'zset blob has a score that is not a number');
      this.addScored(m, s);
    }
  }

  /** Listpack field,value,ttl triplets (types 23 and 25): ttl is absolute ms, 0 = none. */
  private feedTriplets(cur: ElementCursor, at: number): void {
    while (cur.next()) {
      const f = cur.asBuffer();
      if (!cur.next()) throw corrupt(at, 'hash listpack has a field without a value');
      const v = cur.asBuffer();
      if (!cur.next() || !cur.isInt) throw corrupt(at, 'hash listpack has a field without an integer TTL');
      this.addPair(f, v, cur.int === 0 ? null : cur.int);
    }
  }

  // ---- value steps ---------------------------------------------------------------------------

  protected stepValue(): boolean {
    switch (this.state) {
      case S.VALUE:
        return this.stepValueStart();
      case S.STR_BODY: {
        const avail = this.buf.length - this.pos;
        if (avail === 0) this.short(this.pos, 1);
        const n = Math.min(avail, this.remaining, this.maxBytes);
        const piece = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        this.emit({ kind: 'string', data: piece });
        if ((this.remaining -= n) === 0) this.finishKey();
        return true;
      }
      case S.LIST: {
        const s = this.el('element');
        this.addItem(s);
        return this.countDown();
      }
      case S.ZSET: {
        const m = this.el('zset member');
        const score = this.legacyDouble();
        this.addScored(m, score);
        return this.countDown();
      }
      case S.ZSET2: {
        const m = this.el('zset member');
        const score = this.f64le();
        this.addScored(m, score);
        return this.countDown();
      }
      case S.HASH: {
        const f = this.el('hash field');
        const v = this.el('hash value');
        this.addPair(f, v, null);
        return this.countDown();
      }
      case S.HASH_TTL: {
        const ttl = this.len('hash field TTL');
        const f = this.el('hash field');
        const v = this.el('hash value');
        this.addPair(f, v, ttl === 0 ? null : this.ttlGa ? ttl + this.minExpire - 1 : ttl);
        return this.countDown();
      }
      case S.HASH2: {
        const f = this.el('hash field');
        const v = this.el('hash value');
        const e = this.i64le();
        this.addPair(f, v, e === -1 ? null : e);
        return this.countDown();
      }
      case S.QL: {
        if (this.skip) {
          this.skipStr('quicklist node');
          return this.countDown();
        }
        const at = this.abs;
        const blob = this.str('quicklist node');
        this.zl.reset(blob, at);
        this.feedSingles(this.zl);
        return this.countDown();
      }
      case S.QL2: {
        const container = this.count('quicklist node container');
        if (this.skip) {
          this.skipStr('quicklist node');
          return this.countDown();
        }
        const at = this.abs;
        const blob = this.str('quicklist node');
        if (container === 1) this.addItem(blob);
        else if (container === 2) {
          this.lp.reset(blob, at);
          this.feedSingles(this.lp);
        } else throw corrupt(at, `quicklist node container ${container} (expected 1 PLAIN or 2 PACKED)`);
        return this.countDown();
      }
      case S.MODULE:
        return this.stepModule();
      case S.KEYMETA:
        return this.stepKeyMeta();
      default:
        return this.stepStream();
    }
  }

  private countDown(): boolean {
    if (--this.remaining <= 0) this.finishKey();
    return true;
  }

  /** Enter an element loop of `n` steps (or finish an empty value). */
  private loop(state: number, n: number): boolean {
    this.remaining = n;
    if (n === 0) this.finishKey();
    else this.state = state;
    return true;
  }

  private blob(what: string): { at: number; blob: Buffer } {
    const at = this.abs;
    return { at, blob: this.str(what) };
  }

  private stepValueStart(): boolean {
    const t = this.rdbType;
    if (this.skip && (BLOB_TYPES.has(t) || t === 25)) {
      if (t === 25) this.i64le();
      this.skipStr('value');
      this.finishKey();
      return true;
    }
    switch (t) {
      case 0: {
        const at = this.pos;
        const first = this.u8();
        this.pos = at;
        let s: Buffer;
        if (first >= 0xc0 && this.skip) {
          this.skipStr('string value');
          this.finishKey();
          return true;
        }
        if (first < 0xc0) {
          const n = this.len('string length');
          if (n > this.maxBytes || this.skip) {
            if (this.abs + n > this.expectedSize)
              throw corrupt(this.abs, `string of ${n} bytes runs past the end`);
            // Big plain string: stream it out in pieces instead of holding it whole.
            this.remaining = n;
            this.state = S.STR_BODY;
            return true;
          }
          s = this.bytes(n, 'string value');
        } else s = this.str('string value');
        if (s.length > 0) this.emit({ kind: 'string', data: s });
        this.finishKey();
        return true;
      }
      case 1:
        this.begin(K_LIST);
        return this.loop(S.LIST, this.count('list length'));
      case 2:
        this.begin(K_SET);
        return this.loop(S.LIST, this.count('set size'));
      case 3:
        this.begin(K_ZSET);
        return this.loop(S.ZSET, this.count('zset size'));
      case 5:
        this.begin(K_ZSET);
        return this.loop(S.ZSET2, this.count('zset size'));
      case 4:
        this.begin(K_HASH);
        return this.loop(S.HASH, this.count('hash size'));
      case 9: {
        const { at, blob } = this.blob('zipmap');
        this.begin(K_HASH);
        this.zm.reset(blob, at);
        this.feedPairs(this.zm, at);
        break;
      }
      case 10: {
        const { at, blob } = this.blob('ziplist');
        this.begin(K_LIST);
        this.zl.reset(blob, at);
        this.feedSingles(this.zl);
        break;
      }
      case 11: {
        const { at, blob } = this.blob('intset');
        this.begin(K_SET);
        this.is.reset(blob, at);
        this.feedSingles(this.is);
        break;
      }
      case 12:
      case 17: {
        const { at, blob } = this.blob(t === 12 ? 'zset ziplist' : 'zset listpack');
        this.begin(K_ZSET);
        const cur = t === 12 ? this.zl : this.lp;
        cur.reset(blob, at);
        this.feedScored(cur, at);
        break;
      }
      case 13:
      case 16: {
        const { at, blob } = this.blob(t === 13 ? 'hash ziplist' : 'hash listpack');
        this.begin(K_HASH);
        const cur = t === 13 ? this.zl : this.lp;
        cur.reset(blob, at);
        this.feedPairs(cur, at);
        break;
      }
      case 20: {
        const { at, blob } = this.blob('set listpack');
        this.begin(K_SET);
        this.lp.reset(blob, at);
        this.feedSingles(this.lp);
        break;
      }
      case 14:
        this.begin(K_LIST);
        return this.loop(S.QL, this.count('quicklist node count'));
      case 18:
        this.begin(K_LIST);
        return this.loop(S.QL2, this.count('quicklist node count'));
      case 22:
        if (this.family === 'valkey') {
          const n = this.count('hash size');
          this.begin(K_HASH);
          this.hasTtl = true;
          return this.loop(S.HASH2, n);
        } else {
          const n = this.count('hash size');
          this.begin(K_HASH);
          this.hasTtl = true;
          this.ttlGa = false;
          return this.loop(S.HASH_TTL, n);
        }
      case 24: {
        const min = this.i64le();
        const n = this.count('hash size');
        this.begin(K_HASH);
        this.hasTtl = true;
        this.ttlGa = true;
        this.minExpire = min;
        return this.loop(S.HASH_TTL, n);
      }
      case 23:
      case 25: {
        if (t === 25) this.i64le(); // minExpire: derivable from the TTLs, only an optimisation for Redis.
        const { at, blob } = this.blob('hash listpack with TTLs');
        this.begin(K_HASH);
        this.hasTtl = true;
        this.lp.reset(blob, at);
        this.feedTriplets(this.lp, at);
        break;
      }
      case 15:
      case 19:
      case 21:
      case 26:
        this.streamVer = t === 15 ? 1 : t === 19 ? 2 : t === 21 ? 3 : 4;
        this.begin(K_STREAM);
        this.remaining = this.count('stream node count');
        this.state = this.remaining === 0 ? S.ST_META : S.ST_NODES;
        return true;
      default:
        throw unsupported(`unsupported type ${t} in RDB version ${this.version}`, this.abs);
    }
    this.finishKey();
    return true;
  }

  // ---- streams -------------------------------------------------------------------------------

  private stepStream(): boolean {
    switch (this.state) {
      case S.ST_NODES: {
        if (this.skip) {
          this.skipStr('stream node master ID');
          this.skipStr('stream node listpack');
          if (--this.remaining <= 0) this.state = S.ST_META;
          return true;
        }
        const mAt = this.abs;
        const master = this.str('stream node master ID');
        const { at, blob } = this.blob('stream node listpack');
        if (master.length !== 16)
          throw corrupt(mAt, `stream node master ID of ${master.length} bytes (expected 16)`);
        this.decodeStreamNode(u64be(master, 0), u64be(master, 8), blob, at);
        if (--this.remaining <= 0) this.state = S.ST_META;
        return true;
      }
      case S.ST_META: {
        const length = this.count('stream length');
        const lastId = idText(this.u64len('stream last ID'), this.u64len('stream last ID'));
        let firstId: StreamId | null = null;
        let maxDeletedId: StreamId | null = null;
        let entriesAdded: number | null = null;
        if (this.streamVer >= 2) {
          firstId = idText(this.u64len('stream first ID'), this.u64len('stream first ID'));
          maxDeletedId = idText(this.u64len('stream max deleted ID'), this.u64len('stream max deleted ID'));
          entriesAdded = this.count('stream entries added');
        }
        const groupCount = this.count('stream group count');
        this.flushElements();
        this.emit({
          kind: 'stream-meta',
          length,
          lastId,
          firstId,
          maxDeletedId,
          entriesAdded,
          groupCount,
        });
        this.groupsLeft = groupCount;
        if (groupCount > 0) this.state = S.ST_GROUP;
        else this.afterGroups();
        return true;
      }
      case S.ST_GROUP: {
        const name = this.str('consumer group name');
        const lastId = idText(this.u64len('group last ID'), this.u64len('group last ID'));
        let entriesRead: number | null = null;
        if (this.streamVer >= 2) {
          const n = this.len('group entries read');
          // -1 (unknown) is saved as a 64-bit all-ones length.
          entriesRead = this.lenHi === 0xffffffff && this.lenLo === 0xffffffff ? null : n;
        }
        const pelSize = this.count('group PEL size');
        this.group = { name, lastId, entriesRead, pelSize };
        this.pelIds = [];
        this.pelTimes = [];
        this.pelCounts = [];
        this.remaining = pelSize;
        this.state = pelSize > 0 ? S.ST_PEL : S.ST_NCONS;
        return true;
      }
      case S.ST_PEL: {
        const id = this.bytes(16, 'PEL entry ID');
        const t = this.i64le();
        const c = this.count('PEL delivery count');
        this.pelIds.push(idText(u64be(id, 0), u64be(id, 8)));
        this.pelTimes.push(t);
        this.pelCounts.push(c);
        if (--this.remaining <= 0) this.state = S.ST_NCONS;
        return true;
      }
      case S.ST_NCONS: {
        const n = this.count('consumer count');
        const g = this.group!;
        this.emit({
          kind: 'stream-group',
          name: g.name,
          lastId: g.lastId,
          entriesRead: g.entriesRead,
          pelSize: g.pelSize,
          consumerCount: n,
        });
        // The group record needs the consumer count, stored after the PEL: the PEL waited until now.
        for (let i = 0; i < this.pelIds.length; i += this.maxEl) {
          this.emit({
            kind: 'stream-pel',
            ids: this.pelIds.slice(i, i + this.maxEl),
            deliveryTimeMs: this.pelTimes.slice(i, i + this.maxEl),
            deliveryCount: this.pelCounts.slice(i, i + this.maxEl),
          });
        }
        this.pelIds = [];
        this.pelTimes = [];
        this.pelCounts = [];
        this.consLeft = n;
        if (n > 0) this.state = S.ST_CONS;
        else this.nextGroup();
        return true;
      }
      case S.ST_CONS: {
        const name = this.str('consumer name');
        const seen = this.i64le();
        const active = this.streamVer >= 3 ? this.i64le() : null;
        const n = this.count('consumer PEL size');
        this.cons = { name, seenTimeMs: seen, activeTimeMs: active };
        this.cpel = [];
        this.remaining = n;
        if (n > 0) this.state = S.ST_CPEL;
        else this.endConsumer();
        return true;
      }
      case S.ST_CPEL: {
        const id = this.bytes(16, 'consumer PEL ID');
        this.cpel.push(idText(u64be(id, 0), u64be(id, 8)));
        if (--this.remaining <= 0) this.endConsumer();
        return true;
      }
      default:
        return this.stepIdmp();
    }
  }

  private endConsumer(): void {
    const c = this.cons!;
    this.emit({
      kind: 'stream-consumer',
      name: c.name,
      seenTimeMs: c.seenTimeMs,
      activeTimeMs: c.activeTimeMs,
      pending: this.cpel,
    });
    this.cpel = [];
    if (--this.consLeft > 0) this.state = S.ST_CONS;
    else this.nextGroup();
  }

  private nextGroup(): void {
    if (--this.groupsLeft > 0) this.state = S.ST_GROUP;
    else this.afterGroups();
  }

  private afterGroups(): void {
    if (this.streamVer >= 4) this.state = S.IDMP_HDR;
    else this.finishKey();
  }

  /**
   * Stream v4 (type 26, Redis 8.6) idempotent-producer block. Walked to find its extent; records.ts
   * has no chunk kind for it yet, so its content is not delivered (the raw body still carries it).
   */
  private stepIdmp(): boolean {
    switch (this.state) {
      case S.IDMP_HDR: {
        this.count('IDMP duration');
        this.count('IDMP max size');
        const n = this.count('IDMP producer count');
        this.groupsLeft = n; // reused as "producers left"
        this.state = n > 0 ? S.IDMP_PROD : S.IDMP_TAIL;
        return true;
      }
      case S.IDMP_PROD: {
        this.str('IDMP producer id');
        const n = this.count('IDMP entry count');
        this.remaining = n;
        if (n > 0) this.state = S.IDMP_IID;
        else this.nextProducer();
        return true;
      }
      case S.IDMP_IID: {
        this.str('IDMP entry id');
        this.u64len('IDMP stream ID');
        this.u64len('IDMP stream ID');
        if (--this.remaining <= 0) this.nextProducer();
        return true;
      }
      case S.IDMP_TAIL:
        this.count('IDMP ids added');
        this.count('IDMP duplicates');
        this.finishKey();
        return true;
      default:
        throw corrupt(this.abs, `internal decoder state ${this.state}`);
    }
  }

  private nextProducer(): void {
    this.state = --this.groupsLeft > 0 ? S.IDMP_PROD : S.IDMP_TAIL;
  }

  /** One stream node: master entry (count, deleted, fields…, 0) then entries (docs/protocol.md §2.9). */
  private decodeStreamNode(ms: Id, seq: Id, blob: Buffer, at: number): void {
    const lp = this.lp;
    lp.reset(blob, at);
    lp.nextInt('master entry count');
    lp.nextInt('master entry deleted count');
    const nf = lp.nextInt('master field count');
    const master: Buffer[] = [];
    for (let i = 0; i < nf; i++) {
      lp.nextElement('master field');
      master.push(lp.asBuffer());
    }
    if (lp.nextInt('master entry terminator') !== 0)
      throw corrupt(at, 'stream master entry not terminated by 0');
    while (lp.next()) {
      if (!lp.isInt) throw corrupt(at, 'stream entry flags are not an integer');
      const flags = lp.int;
      const msd = lp.nextInt('entry ID ms delta');
      const seqd = lp.nextInt('entry ID seq delta');
      const fields: Buffer[] = [];
      let bytes = 0;
      if (flags & 2) {
        for (let i = 0; i < nf; i++) {
          lp.nextElement('entry value');
          const v = lp.asBuffer();
          fields.push(master[i]!, v);
          bytes += master[i]!.length + v.length;
        }
      } else {
        const n = lp.nextInt('entry field count');
        for (let i = 0; i < n; i++) {
          lp.nextElement('entry field');
          const f = lp.asBuffer();
          lp.nextElement('entry value');
          const v = lp.asBuffer();
          fields.push(f, v);
          bytes += f.length + v.length;
        }
      }
      lp.nextInt('entry lp-count');
      if (flags & 1) continue; // deleted entry
      this.sIds.push(idText(addId(ms, msd), addId(seq, seqd)));
      this.sFields.push(fields);
      this.bump(bytes + 16);
    }
  }

  // ---- module values, MODULE_AUX, KEY_META ---------------------------------------------------

  protected startModuleAux(name: string, head: Buffer): void {
    this.modTarget = MOD_AUX;
    this.modName = name;
    this.auxParts = [Buffer.from(head)];
    this.auxBytes = head.length;
    this.state = S.MODULE;
  }

  protected startKeyMeta(n: number): void {
    this.keyMetaLeft = n;
    this.state = n > 0 ? S.KEYMETA : S.OP;
  }

  private stepKeyMeta(): boolean {
    const at = this.abs;
    const spec = this.bytes(4, 'KEY_META class').readUInt32LE(0);
    if ((spec & 1) === 0) {
      let name = '';
      for (let i = 3; i >= 0; i--) name += MODULE_CHARS[(spec >>> (8 + i * 6)) & 63];
      const reason = `KEY_META class "${name}" v${(spec >>> 3) & 31} is not known and may not be ignored`;
      if (this.opts.onUnsupported !== 'skip') {
        throw unsupported(`unsupported opcode 243 (${reason}) in RDB version ${this.version}`, at);
      }
      this.skippedCount++;
      this.visitor.skipped?.({ kind: 'opcode', id: 243, rdbVersion: this.version, reason });
    }
    this.modTarget = MOD_KEYMETA;
    this.state = S.MODULE;
    return true;
  }

  /** One module opcode (docs/protocol.md §2.10); opcode 0 ends the value. */
  private stepModule(): boolean {
    const at = this.abs;
    const op = this.len('module opcode');
    switch (op) {
      case 0:
        break;
      case 1:
      case 2:
        this.len('module integer');
        break;
      case 3:
        this.bytes(4, 'module float');
        break;
      case 4:
        this.bytes(8, 'module double');
        break;
      case 5:
        this.str('module string');
        break;
      default:
        throw corrupt(at, `unknown module opcode ${op} (expected 0–5)`);
    }
    if (this.modTarget === MOD_AUX) {
      // Copied: the aux blob is delivered whole at its end, after this chunk may be gone.
      const part = Buffer.from(this.buf.subarray(this.stepStart, this.pos));
      this.auxBytes += part.length;
      if (this.auxBytes > this.maxBlobBytes) throw corrupt(at, 'MODULE_AUX larger than maxBlobBytes');
      this.auxParts.push(part);
    }
    if (op !== 0) return true;
    if (this.modTarget === MOD_VALUE) this.finishKey();
    else if (this.modTarget === MOD_AUX) {
      const raw = Buffer.concat(this.auxParts, this.auxBytes);
      this.auxParts = [];
      this.state = S.OP;
      this.visitor.moduleAux?.(this.modName, raw);
    } else this.state = --this.keyMetaLeft > 0 ? S.KEYMETA : S.OP;
    return true;
  }
}

const MODULE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
