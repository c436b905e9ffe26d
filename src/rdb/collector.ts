/**
 * Key lifecycle and element chunks for the RDB decoder: announces a key, passes its exact body bytes
 * through as `keyRaw`, and collects decoded elements into bounded ValueChunks. Ours because no kept
 * npm package decodes RDB (`rdb-parser` does not exist on the registry).
 *
 * Elements are flushed when the chunk reaches maxChunkElements/maxChunkBytes, at key end, and at
 * the end of every `write()` (they may be views into the caller's chunk).
 */
import type { KeyMeta, StreamId, ValueChunk } from '../records.js';
import { type ElementCursor, IntsetCursor, ListpackCursor, ZiplistCursor, ZipmapCursor } from './compact.js';
import { corrupt } from './errors.js';
import { ReplicantError } from '../errors.js';
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

export const K_LIST = 0;
export const K_SET = 1;
export const K_ZSET = 2;
export const K_HASH = 3;
export const K_STREAM = 4;

export const EMPTY = Buffer.alloc(0);

export abstract class KeyCollector extends RdbReader {
  protected readonly visitor: RdbVisitor;
  protected readonly opts: Required<Pick<RdbDecoderOptions, 'onUnsupported'>> & RdbDecoderOptions;
  protected readonly maxEl: number;
  protected readonly maxBytes: number;
  /** Current key is raw-only: find the value's extent, deliver keyRaw, decode nothing. */
  protected skip: boolean;
  /** decodeValues: false — every key raw-only, never upgraded. */
  private readonly allRaw: boolean;
  /** Auto mode (decodeValues 'auto' or wantElements given): raw-only or decoded per key. */
  private readonly auto: boolean;
  private readonly wantElements: ((meta: KeyMeta) => boolean) | null;
  private readonly rawMax: number;
  private readonly rawReplay: (() => Buffer | null) | null;
  /** Auto mode, raw-only key: watching its size, keeping a copy of its raw body for an upgrade. */
  protected watch = false;
  /** Absolute offset of the current key's value body (where an upgrade restarts decoding). */
  protected bodyAbs = 0;
  /** Copies of the watched key's raw body delivered in earlier write() calls (≤ rawOnlyMaxBytes). */
  private kept: Buffer[] = [];
  private keptBytes = 0;
  /** Keys upgraded from raw-only to decoded (auto mode). */
  keysUpgraded = 0;

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

  protected rdbType = 0;
  protected rawOn = false;
  protected rawMark = 0;
  protected remaining = 0;

  // Current chunk.
  protected kind = K_LIST;
  protected items: Buffer[] = [];
  protected items2: Buffer[] = [];
  protected nums: number[] = [];
  protected ttls: (number | null)[] = [];
  protected hasTtl = false;
  protected sIds: StreamId[] = [];
  protected sFields: Buffer[][] = [];
  protected chunkCount = 0;
  protected chunkBytes = 0;
  protected minExpire = 0;
  protected ttlGa = false;

  protected readonly zl = new ZiplistCursor();
  protected readonly lp = new ListpackCursor();
  protected readonly zm = new ZipmapCursor();
  protected readonly is = new IntsetCursor();

  constructor(visitor: RdbVisitor, opts: RdbDecoderOptions) {
    super(opts.maxBlobBytes ?? 1024 * 1024 * 1024, opts.expectedSize ?? Number.POSITIVE_INFINITY);
    if (opts.maxCompactBytes !== undefined) this.maxCompactBytes = opts.maxCompactBytes;
    this.visitor = visitor;
    this.opts = { ...opts, onUnsupported: opts.onUnsupported ?? 'error' };
    this.maxEl = Math.max(1, opts.maxChunkElements ?? 1024);
    this.maxBytes = Math.max(1, opts.maxChunkBytes ?? 1024 * 1024);
    this.allRaw = opts.decodeValues === false;
    this.auto = !this.allRaw && (opts.decodeValues === 'auto' || opts.wantElements !== undefined);
    this.wantElements = opts.wantElements ?? null;
    this.rawMax = Math.max(0, opts.rawOnlyMaxBytes ?? 16 * 1024 * 1024);
    this.rawReplay = this.auto ? (opts.rawReplay ?? null) : null;
    this.skip = this.allRaw;
  }

  /** An element string, or nothing in raw-only mode. */
  protected el(what: string): Buffer {
    if (!this.skip) return this.str(what);
    this.skipStr(what);
    return EMPTY;
  }

  protected emit(c: ValueChunk): void {
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

  /** Where the current key starts (its type byte) and its name, for error messages. */
  protected keyAt = 0;
  protected keyName: Buffer = EMPTY;
  /** write() calls so far; the key name view is only trusted during the write() that read it. */
  protected writes = 0;
  protected keyWrite = -1;

  /** The current key's meta, while its value is being read. */
  private meta: KeyMeta | null = null;

  protected beginKey(meta: KeyMeta, bodyStart: number): void {
    this.meta = meta;
    this.keyName = meta.key;
    this.keyWrite = this.writes;
    this.rdbType = meta.rdbType;
    this.visitor.keyStart(meta);
    this.keysDecoded++;
    this.rawOn = true;
    this.rawMark = bodyStart;
    this.hasTtl = false;
    this.state = S.VALUE;
    if (this.auto) {
      const want = this.wantElements?.(meta) === true;
      this.skip = !want;
      // Module values have no elements: nothing to upgrade to, so nothing to keep (nor with no limit).
      this.watch = !want && meta.rdbType !== 7 && this.rawMax !== Number.POSITIVE_INFINITY;
      this.bodyAbs = this.base + bodyStart;
    }
  }

  /** Auto mode: the watched raw-only key passed rawOnlyMaxBytes (checked after each value step). */
  protected get overRawMax(): boolean {
    return this.base + this.pos - this.bodyAbs > this.rawMax;
  }

  /**
   * Switch the current raw-only key to decoded mode: deliver the raw bytes parsed so far, then rewind
   * to the start of its value — over the kept copy of the earlier raw bytes joined with the live input —
   * and decode it from there. Raw and CRC marks stay where they were, so the re-parsed prefix is
   * neither delivered nor hashed twice.
   */
  protected upgrade(): void {
    this.flushRaw();
    this.flushCrc();
    const from = this.bodyAbs - this.base;
    if (this.keptBytes === 0 && from >= 0) {
      this.pos = from; // the whole body is still in the current buffer: rewind in place
    } else if (this.rawReplay !== null) {
      // The visitor's copy is the body up to pos; the unparsed rest goes first in the pending chunks
      // (joined a little at a time as steps need it) and the copy is re-read in place.
      const body = this.rawReplay();
      if (body === null) {
        this.watch = false; // nobody wants this key's elements: read it raw-only to its end
        return;
      }
      const len = this.base + this.pos - this.bodyAbs;
      if (body.length !== len) {
        throw new ReplicantError(
          'ERR_INTERNAL',
          `auto-mode upgrade: the visitor kept ${body.length} bytes of a ${len}-byte raw body`,
          {
            hint: 'this is a bug in replicant (rawReplay must return every keyRaw byte of the key); report it',
          },
        );
      }
      const rest = this.buf.subarray(this.pos);
      if (rest.length > 0) {
        this.pending.unshift(this.bufOwned ? rest : Buffer.from(rest)); // the caller may reuse its chunk
        this.pendingBytes += rest.length;
      }
      this.buf = body;
      this.ownBuf();
      this.base = this.bodyAbs;
      this.rawMark = this.crcMark = body.length; // delivered and hashed already
      this.pos = 0;
    } else {
      const live = this.buf.subarray(Math.max(0, from));
      const done = this.pos - Math.max(0, from);
      this.kept.push(live);
      this.buf = Buffer.concat(this.kept, this.keptBytes + live.length);
      this.ownBuf();
      this.base = this.bodyAbs;
      this.rawMark = this.crcMark = this.keptBytes + done;
      this.pos = 0;
    }
    this.stepStart = this.pos;
    this.kept = [];
    this.keptBytes = 0;
    this.watch = false;
    this.skip = false;
    this.keysUpgraded++;
    this.state = S.VALUE;
    this.visitor.keyUpgraded?.();
  }

  protected finishKey(): void {
    if (this.watch) {
      // A raw-only value read in one step (a blob, an LZF string) may only now turn out too big.
      if (this.overRawMax) {
        this.upgrade();
        return;
      }
      this.watch = false;
      this.kept = [];
      this.keptBytes = 0;
    }
    this.flushElements();
    this.flushRaw();
    this.rawOn = false;
    this.keyName = EMPTY;
    this.meta = null;
    this.visitor.keyEnd();
    this.state = this.payloadKey === null ? S.OP : S.DONE;
  }

  /** Deliver the raw bytes parsed since rawMark. The mark never moves back (see upgrade()). */
  protected flushRaw(): void {
    if (this.pos <= this.rawMark) return;
    if (this.rawOn) this.visitor.keyRaw(this.buf.subarray(this.rawMark, this.pos));
    this.rawMark = this.pos;
  }

  /** End of a write(): hand over everything that is a view into the current input. */
  protected flushPending(): void {
    if (this.rawOn) {
      this.flushElements();
      if (this.watch && this.rawReplay === null && this.pos > this.rawMark) {
        // Copied: an upgrade must re-read these bytes after the caller has reused its chunk.
        const part = Buffer.from(this.buf.subarray(this.rawMark, this.pos));
        this.kept.push(part);
        this.keptBytes += part.length;
      }
      this.flushRaw();
      // KeyMeta stays valid until keyEnd, but its key may be a view into the caller's chunk, which
      // the caller may reuse after write() returns: a key whose value continues gets its own copy.
      // (Only at chunk boundaries, so the common case costs nothing.)
      if (this.meta !== null && this.payloadKey === null)
        this.meta.key = this.keyName = Buffer.from(this.meta.key);
    }
    // detachTail() rebases the buffer so the unparsed tail starts at 0; after an upgrade rewound pos,
    // rawMark may lie ahead of it (bytes already delivered): keep it, rebased.
    this.rawMark = this.rawOn && this.rawMark > this.pos ? this.rawMark - this.pos : 0;
  }

  // ---- element chunks ------------------------------------------------------------------------

  protected begin(kind: number): void {
    this.kind = kind;
  }

  protected bump(bytes: number): void {
    this.chunkBytes += bytes;
    if (++this.chunkCount >= this.maxEl || this.chunkBytes >= this.maxBytes) this.flushElements();
  }

  protected addItem(b: Buffer): void {
    if (this.skip) return;
    this.items.push(b);
    this.bump(b.length);
  }

  protected addPair(f: Buffer, v: Buffer, ttl: number | null): void {
    if (this.skip) return;
    this.items.push(f);
    this.items2.push(v);
    if (this.hasTtl) this.ttls.push(ttl);
    this.bump(f.length + v.length);
  }

  protected addScored(m: Buffer, score: number): void {
    if (this.skip) return;
    this.items.push(m);
    this.nums.push(score);
    this.bump(m.length + 8);
  }

  protected flushElements(): void {
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

  protected feedSingles(cur: ElementCursor): void {
    while (cur.next()) this.addItem(cur.asBuffer());
  }

  protected feedPairs(cur: ElementCursor, at: number): void {
    while (cur.next()) {
      const f = cur.asBuffer();
      if (!cur.next()) throw corrupt(at, 'hash blob has a field without a value');
      this.addPair(f, cur.asBuffer(), null);
    }
  }

  protected feedScored(cur: ElementCursor, at: number): void {
    while (cur.next()) {
      const m = cur.asBuffer();
      if (!cur.next()) throw corrupt(at, 'zset blob has a member without a score');
      const s = cur.isInt ? cur.int : parseScore(cur.str);
      if (Number.isNaN(s)) throw corrupt(at, 'zset blob has a score that is not a number');
      this.addScored(m, s);
    }
  }

  /** Listpack field,value,ttl triplets (types 23 and 25): ttl is absolute ms, 0 = none. */
  protected feedTriplets(cur: ElementCursor, at: number): void {
    while (cur.next()) {
      const f = cur.asBuffer();
      if (!cur.next()) throw corrupt(at, 'hash listpack has a field without a value');
      const v = cur.asBuffer();
      if (!cur.next() || !cur.isInt) throw corrupt(at, 'hash listpack has a field without an integer TTL');
      this.addPair(f, v, cur.int === 0 ? null : cur.int);
    }
  }

  protected countDown(): boolean {
    if (--this.remaining <= 0) this.finishKey();
    return true;
  }

  /** Enter an element loop of `n` steps (or finish an empty value). */
  protected loop(state: number, n: number): boolean {
    this.remaining = n;
    if (n === 0) this.finishKey();
    else this.state = state;
    return true;
  }
}
