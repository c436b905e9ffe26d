/**
 * Resumable byte reader underneath the RDB decoder. Ours because no kept npm package decodes RDB
 * (`rdb-parser` does not exist on the registry).
 *
 * Push model: the decoder parses in small *steps* (one opcode, one element, one blob). A step reads
 * first and only then has side effects; when it runs out of bytes, the primitive read throws the
 * private NEED sentinel, the decoder rewinds to the step start and waits for more input. The reader
 * remembers how many bytes the step needs, so a big element is collected from later chunks and joined
 * once (never re-concatenated per chunk), and a chunk boundary costs one re-parse of one small header.
 */
import { Crc64 } from './crc64.js';
import { corrupt, RdbError } from './errors.js';
import { intToBuffer } from './compact.js';
import { LZF_MAX_RATIO, lzfDecompress } from './lzf.js';
import { checkHeader, headerBytes } from './validate.js';

/** Default largest compact blob (listpack, ziplist, intset, zipmap, quicklist/stream node) held whole. */
export const DEFAULT_MAX_COMPACT_BYTES = 64 * 1024 * 1024;

/** Thrown (never escapes) when a step needs more input. A plain frozen object: no stack trace cost. */
export const NEED: { readonly need: true } = Object.freeze({ need: true as const });

const EMPTY = Buffer.alloc(0);
/** Largest LZF scratch kept for reuse; bigger blobs get their own buffer, left to the GC. */
const SCRATCH_MAX = 1024 * 1024;
const TWO32 = 4294967296;

export class RdbReader {
  protected buf: Buffer = EMPTY;
  protected pos = 0;
  /** Absolute offset of buf[0] in the file/payload. */
  protected base = 0;
  /** Where the current step started (pos is rewound here on NEED). */
  protected stepStart = 0;
  /** Absolute offset the failed step needs to reach before retrying. */
  protected needAbs = 0;
  protected pending: Buffer[] = [];
  protected pendingBytes = 0;
  /** buf is our own memory (a join or a copy), not a view of a caller's chunk: a tail can stay a view. */
  private owned = false;
  /** buf is our own memory (see `owned`). */
  protected get bufOwned(): boolean {
    return this.owned;
  }
  /** The last write() stopped between two steps (yieldWhen): the rest of buf is parseable as it is. */
  protected paused = false;

  protected readonly crc = new Crc64();
  protected crcOn = true;
  protected crcMark = 0;

  protected maxBlobBytes: number;
  /** Total size of the input when known (DUMP payloads, files): lets bogus lengths fail at once. */
  protected expectedSize: number;
  /** Largest compact blob read whole (see compactStr). */
  protected maxCompactBytes = DEFAULT_MAX_COMPACT_BYTES;
  /** The last compactStr() blob: blobBuf[blobStart, blobEnd), at file offset blobBase. */
  protected blobBuf: Buffer = EMPTY;
  protected blobStart = 0;
  protected blobEnd = 0;
  protected blobBase = 0;
  /** The last compactStr() came from an LZF string (offsets inside it are not file offsets). */
  protected blobLzf = false;
  /** Reused LZF output for blobs only validated (raw-only mode), up to SCRATCH_MAX. */
  private lzfScratch: Buffer = EMPTY;

  /** Hi/lo 32-bit halves of the last 64-bit length read (exact, for module ids and stream IDs). */
  protected lenHi = 0;
  protected lenLo = 0;

  constructor(maxBlobBytes: number, expectedSize: number) {
    this.maxBlobBytes = maxBlobBytes;
    this.expectedSize = expectedSize;
  }

  /** Absolute offset of the next unconsumed byte. */
  protected get abs(): number {
    return this.base + this.pos;
  }

  /**
   * Take a new input chunk. Returns false when the chunk was only stashed (the pending step still
   * lacks bytes), so there is nothing to parse yet.
   */
  protected feed(chunk: Buffer): boolean {
    const tail = this.buf.length - this.pos;
    if (tail === 0 && this.pendingBytes === 0) {
      this.base += this.buf.length;
      this.buf = chunk;
      this.owned = false;
      this.pos = 0;
      this.crcMark = 0;
      return true;
    }
    if (this.paused) {
      // Parsing stopped between steps, not for lack of bytes: parse on over buf, join only when short.
      this.pending.push(Buffer.from(chunk)); // copied: the caller may reuse its chunk after write()
      this.pendingBytes += chunk.length;
      return true;
    }
    const have = tail + this.pendingBytes + chunk.length;
    const need = this.needAbs - this.abs;
    if (have < need) {
      // Still short of what the step needs: keep the chunk aside, join everything once when complete.
      this.pending.push(Buffer.from(chunk)); // copied: the caller may reuse its chunk after write()
      this.pendingBytes += chunk.length;
      return false;
    }
    this.flushCrc();
    const parts = [this.buf.subarray(this.pos), ...this.pending, chunk];
    this.base += this.pos;
    this.buf = Buffer.concat(parts, have);
    this.owned = true;
    this.crcMark = this.crcMark > this.pos ? this.crcMark - this.pos : 0;
    this.pos = 0;
    this.pending = [];
    this.pendingBytes = 0;
    return true;
  }

  /**
   * Mid-write(), after a step ran short: join the chunks stashed while paused if they now cover what the
   * step needs. The caller has handed over every view first (flushPending + detachTail), so pos is 0.
   */
  protected joinPending(): boolean {
    if (this.pendingBytes === 0) return false;
    const tail = this.buf.length - this.pos;
    if (tail + this.pendingBytes < this.needAbs - this.abs) return false;
    this.flushCrc();
    const parts = [this.buf.subarray(this.pos), ...this.pending];
    this.base += this.pos;
    this.buf = Buffer.concat(parts, tail + this.pendingBytes);
    this.owned = true;
    this.crcMark = this.crcMark > this.pos ? this.crcMark - this.pos : 0;
    this.pos = 0;
    this.pending = [];
    this.pendingBytes = 0;
    return true;
  }

  /** buf was replaced by a private join (auto-mode upgrade). */
  protected ownBuf(): void {
    this.owned = true;
  }

  /**
   * End of a write(): the unparsed tail is still a view into the caller's chunk, which the caller
   * may reuse; keep a private copy (usually a few bytes: one partial element header).
   */
  protected detachTail(): void {
    this.flushCrc();
    const tail = this.buf.length - this.pos;
    this.base += this.pos;
    // Our own join (a paused write, an upgraded key's re-read): a big tail stays a view, not a copy.
    if (tail === 0) this.buf = EMPTY;
    else if (this.owned && tail * 2 >= this.buf.length) this.buf = this.buf.subarray(this.pos);
    else {
      this.buf = Buffer.from(this.buf.subarray(this.pos));
      this.owned = true;
    }
    // After an auto-mode upgrade rewinds pos, crcMark may lie ahead of it: keep it, rebased.
    this.crcMark = this.crcMark > this.pos ? this.crcMark - this.pos : 0;
    this.pos = 0;
  }

  /** Bytes received but not yet parsed. */
  protected get buffered(): number {
    return this.buf.length - this.pos + this.pendingBytes;
  }

  /** Hash the bytes parsed since crcMark. The mark never moves back: a rewound re-parse is not re-hashed. */
  protected flushCrc(): void {
    if (this.pos <= this.crcMark) return;
    if (this.crcOn) this.crc.update(this.buf, this.crcMark, this.pos);
    this.crcMark = this.pos;
  }

  /** Signal that the step needs `n` more bytes from `at` (a position in buf). */
  protected short(at: number, n: number): never {
    this.needAbs = this.base + at + n;
    throw NEED;
  }

  /** Fail early on a declared size that cannot be right, instead of waiting for (or allocating) it. */
  protected checkSize(n: number, what: string): void {
    if (n > this.maxBlobBytes) {
      throw new RdbError(
        'ERR_RDB_CORRUPT',
        `corrupt RDB: ${what} declares ${n} bytes, over the ${this.maxBlobBytes}-byte limit (maxBlobBytes; raise it if the value is genuine)`,
        this.abs,
      );
    }
    if (this.abs + n > this.expectedSize) {
      throw corrupt(this.abs, `${what} declares ${n} bytes but only ${this.expectedSize - this.abs} remain`);
    }
  }

  protected u8(): number {
    if (this.pos >= this.buf.length) this.short(this.pos, 1);
    return this.buf[this.pos++]!;
  }

  /** A view of the next n bytes (joined from later chunks first if needed). */
  protected bytes(n: number, what: string): Buffer {
    if (this.pos + n > this.buf.length) {
      this.checkSize(n, what);
      this.short(this.pos, n);
    }
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  protected i64le(): number {
    if (this.pos + 8 > this.buf.length) this.short(this.pos, 8);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readInt32LE(this.pos + 4);
    this.pos += 8;
    return hi * TWO32 + lo;
  }

  protected i32le(): number {
    if (this.pos + 4 > this.buf.length) this.short(this.pos, 4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  protected f64le(): number {
    if (this.pos + 8 > this.buf.length) this.short(this.pos, 8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** RDB length (6/14/32/64-bit). Exact 64-bit halves are left in lenHi/lenLo. */
  protected len(what: string): number {
    const at = this.pos;
    const b = this.u8();
    const t = b >>> 6;
    if (t === 0) {
      this.lenHi = 0;
      return (this.lenLo = b & 0x3f);
    }
    if (t === 1) {
      this.lenHi = 0;
      return (this.lenLo = ((b & 0x3f) << 8) | this.u8());
    }
    if (b === 0x80) {
      if (this.pos + 4 > this.buf.length) this.short(this.pos, 4);
      const v = this.buf.readUInt32BE(this.pos);
      this.pos += 4;
      this.lenHi = 0;
      return (this.lenLo = v);
    }
    if (b === 0x81) {
      if (this.pos + 8 > this.buf.length) this.short(this.pos, 8);
      this.lenHi = this.buf.readUInt32BE(this.pos);
      this.lenLo = this.buf.readUInt32BE(this.pos + 4);
      this.pos += 8;
      return this.lenHi * TWO32 + this.lenLo;
    }
    throw corrupt(this.base + at, `expected a length for ${what}, found byte 0x${b.toString(16)}`);
  }

  /** A length that must fit a JS number exactly (counts, sizes). */
  protected count(what: string): number {
    const n = this.len(what);
    if (n > Number.MAX_SAFE_INTEGER) throw corrupt(this.abs, `${what} ${n} is not a plausible count`);
    return n;
  }

  /** A 64-bit length kept exact (stream ID parts): a number when safe, else a bigint. */
  protected u64len(what: string): number | bigint {
    const n = this.len(what);
    if (n <= Number.MAX_SAFE_INTEGER) return n;
    return (BigInt(this.lenHi) << 32n) | BigInt(this.lenLo);
  }

  /** An RDB string: plain, int-encoded (as decimal text) or LZF (decompressed). */
  protected str(what: string): Buffer {
    const at = this.pos;
    const b = this.u8();
    if (b >= 0xc0) {
      switch (b) {
        case 0xc0: {
          if (this.pos >= this.buf.length) this.short(this.pos, 1);
          return intToBuffer(this.buf.readInt8(this.pos++));
        }
        case 0xc1: {
          if (this.pos + 2 > this.buf.length) this.short(this.pos, 2);
          const v = this.buf.readInt16LE(this.pos);
          this.pos += 2;
          return intToBuffer(v);
        }
        case 0xc2: {
          return intToBuffer(this.i32le());
        }
        case 0xc3:
          return this.lzfString(what);
        default:
          throw corrupt(this.base + at, `unknown string encoding 0x${b.toString(16)} for ${what}`);
      }
    }
    this.pos = at;
    const n = this.len(what);
    return this.bytes(n, what);
  }

  /**
   * A compact blob (ziplist, listpack, intset, zipmap), checked before it is read whole: its size
   * against maxCompactBytes (ERR_RDB_TOO_BIG) and, for a plain string, the size its own header
   * declares against the RDB string length — from the first bytes only, so a damaged or absurd blob
   * fails at once instead of after a GiB was buffered. `kind` is a validate.ts HDR value.
   * The blob is left in blobBuf[blobStart, blobEnd) (no view made: validation reads it in place);
   * blobBase is its file offset (the LZF string's when blobLzf). `scratch`: an LZF blob may be
   * decompressed into a reused buffer (the caller keeps no view of it).
   */
  protected compactStr(what: string, kind: number, scratch: boolean): void {
    const at = this.pos;
    const b = this.u8();
    if (b === 0xc3) {
      const clen = this.len(`${what} (LZF compressed length)`);
      const ulen = this.len(`${what} (LZF length)`);
      if (ulen > this.maxCompactBytes) throw this.tooBig(what, ulen, this.base + at);
      // Redis stores a string compressed only when that saves bytes.
      if (clen === 0 || clen > ulen + (ulen >>> 5) + 64 || ulen > clen * LZF_MAX_RATIO + 64)
        throw corrupt(this.base + at, `LZF ${what}: ${clen} compressed bytes for ${ulen} bytes of data`);
      if (this.pos + clen > this.buf.length) {
        this.checkSize(clen, what);
        this.short(this.pos, clen);
      }
      const from = this.pos;
      this.pos += clen;
      let into: Buffer | undefined;
      if (scratch && ulen <= SCRATCH_MAX) {
        if (this.lzfScratch.length < ulen) this.lzfScratch = Buffer.allocUnsafeSlow(Math.max(ulen, 4096));
        into = this.lzfScratch;
      }
      this.blobBuf = lzfDecompress(this.buf, ulen, this.base + from, from, from + clen, into);
      this.blobStart = 0;
      this.blobEnd = ulen;
      this.blobBase = this.base + at;
      this.blobLzf = true;
      return;
    }
    this.pos = at;
    this.blobLzf = false;
    if (b >= 0xc0) {
      // An integer: a few bytes of decimal text, which the validator refuses.
      const v = this.str(what);
      this.blobBuf = v;
      this.blobStart = 0;
      this.blobEnd = v.length;
      this.blobBase = this.base + at;
      return;
    }
    const n = this.len(what);
    if (this.pos + n > this.buf.length) {
      if (this.abs + n > this.expectedSize)
        throw corrupt(
          this.abs,
          `${what} declares ${n} bytes but only ${this.expectedSize - this.abs} remain`,
        );
      // The header first (a blob that contradicts itself is corrupt, whatever its size), then the size.
      const h = Math.min(n, headerBytes(kind));
      if (this.pos + h > this.buf.length) this.short(this.pos, h);
      checkHeader(kind, this.buf, this.pos, n, what, this.abs);
      if (n > this.maxCompactBytes) throw this.tooBig(what, n, this.base + at);
      this.checkSize(n, what);
      this.short(this.pos, n);
    }
    checkHeader(kind, this.buf, this.pos, n, what, this.abs);
    if (n > this.maxCompactBytes) throw this.tooBig(what, n, this.base + at);
    this.blobBuf = this.buf;
    this.blobStart = this.pos;
    this.blobEnd = this.pos + n;
    this.blobBase = this.abs;
    this.pos += n;
  }

  /** A view of the last compactStr() blob (for the cursors, which hand out views into it). */
  protected blobView(): Buffer {
    return this.blobStart === 0 && this.blobEnd === this.blobBuf.length
      ? this.blobBuf
      : this.blobBuf.subarray(this.blobStart, this.blobEnd);
  }

  private tooBig(what: string, n: number, at: number): RdbError {
    return new RdbError(
      'ERR_RDB_TOO_BIG',
      `${what} of ${n} bytes is over the ${this.maxCompactBytes}-byte limit for one compact value (maxCompactBytes)`,
      at,
    );
  }

  /** Step over an RDB string without producing it (raw-only mode: no view, no LZF decompression). */
  protected skipStr(what: string): void {
    const at = this.pos;
    const b = this.u8();
    let n: number;
    if (b >= 0xc0) {
      if (b === 0xc0) n = 1;
      else if (b === 0xc1) n = 2;
      else if (b === 0xc2) n = 4;
      else if (b === 0xc3) {
        n = this.len(`${what} (LZF compressed length)`);
        this.len(`${what} (LZF length)`);
      } else throw corrupt(this.base + at, `unknown string encoding 0x${b.toString(16)} for ${what}`);
    } else {
      this.pos = at;
      n = this.len(what);
    }
    if (this.pos + n > this.buf.length) {
      this.checkSize(n, what);
      this.short(this.pos, n);
    }
    this.pos += n;
  }

  protected lzfString(what: string): Buffer {
    const clen = this.len(`${what} (LZF compressed length)`);
    const ulen = this.len(`${what} (LZF length)`);
    const start = this.abs;
    if (ulen > this.maxBlobBytes || ulen > clen * LZF_MAX_RATIO + 64 || clen === 0) {
      throw corrupt(start, `LZF ${what}: ${clen} compressed bytes cannot hold ${ulen} bytes`);
    }
    if (this.pos + clen > this.buf.length) {
      this.checkSize(clen, what);
      this.short(this.pos, clen);
    }
    const at = this.pos;
    this.pos += clen;
    return lzfDecompress(this.buf, ulen, start, at, at + clen);
  }

  /** Legacy text double (type 3 scores): length byte, 253 NaN, 254 +inf, 255 -inf, else `%.17g` text. */
  protected legacyDouble(): number {
    const n = this.u8();
    if (n === 253) return Number.NaN;
    if (n === 254) return Number.POSITIVE_INFINITY;
    if (n === 255) return Number.NEGATIVE_INFINITY;
    const at = this.abs;
    const b = this.bytes(n, 'double');
    const v = parseScore(b);
    if (Number.isNaN(v) && !isNanText(b))
      throw corrupt(at, `expected a double, found "${b.toString('latin1', 0, Math.min(n, 40))}"`);
    return v;
  }
}

function isNanText(b: Buffer): boolean {
  return /^[+-]?nan$/i.test(b.toString('latin1', 0, b.length));
}

/** Parse a score written as text (`%.17g`, or inf/-inf as Redis prints them). NaN when not a number. */
export function parseScore(b: Buffer): number {
  const s = b.toString('latin1', 0, b.length);
  const v = Number(s);
  // Number() accepts surrounding blanks and "": Redis never writes those, so they stay NaN.
  if (!Number.isNaN(v) && s.length > 0 && s.charCodeAt(0) > 32 && s.charCodeAt(s.length - 1) > 32) return v;
  const l = s.toLowerCase();
  if (l === 'inf' || l === '+inf' || l === 'infinity' || l === '+infinity') return Number.POSITIVE_INFINITY;
  if (l === '-inf' || l === '-infinity') return Number.NEGATIVE_INFINITY;
  return Number.NaN;
}
