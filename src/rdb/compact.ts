/**
 * Cursors over the compact blobs Redis saves as RDB strings: ziplist, listpack, zipmap, intset.
 * Ours because no kept npm package decodes them. Each cursor is one reusable object per decoder:
 * `next()` advances and sets `isInt`/`int`/`str` (no allocation for string elements — `str` is a
 * view into the blob), so the hot loop creates no per-element objects or closures.
 * Every length is checked against the blob's end so a corrupt blob ends in a typed error.
 */
import { corrupt } from './errors.js';

/** Decimal text of small integers, made once: most compact-encoded ints are small counters/ids. */
const SMALL_INTS: (Buffer | undefined)[] = new Array(10000);

/**
 * Other integers are written as digits into a shared slab and handed out as views: one small view
 * instead of a string plus a pooled Buffer per integer. A full slab is simply replaced (views keep
 * the old one alive as long as a consumer holds them).
 */
const SLAB_SIZE = 64 * 1024;
let slab = Buffer.allocUnsafe(SLAB_SIZE);
let slabPos = 0;

/** The decimal text of an integer element as a Buffer (what `GET`/`LRANGE` would return). */
export function intToBuffer(n: number): Buffer {
  if (n >= 0 && n < 10000) {
    let b = SMALL_INTS[n];
    if (b === undefined) b = SMALL_INTS[n] = Buffer.from(String(n), 'latin1');
    return b;
  }
  if (slabPos + 24 > SLAB_SIZE) {
    slab = Buffer.allocUnsafe(SLAB_SIZE);
    slabPos = 0;
  }
  if (!Number.isSafeInteger(n)) {
    const len = slab.write(String(n), slabPos, 'latin1');
    slabPos += len;
    return slab.subarray(slabPos - len, slabPos);
  }
  const start = slabPos;
  let v = n;
  if (v < 0) {
    slab[slabPos++] = 45; // '-'
    v = -v;
  }
  let digits = 1;
  for (let t = 10; t <= v; t *= 10) digits++; // multiplications: no slow double division
  let p = slabPos + digits;
  slabPos = p;
  // int32 arithmetic when it fits (V8 divides doubles much more slowly).
  if (v <= 0x7fffffff) {
    let x = v | 0;
    do {
      const q = (x / 10) | 0;
      slab[--p] = 48 + x - q * 10;
      x = q;
    } while (x > 0);
  } else {
    do {
      slab[--p] = 48 + (v % 10);
      v = Math.floor(v / 10);
    } while (v > 0);
  }
  return slab.subarray(start, slabPos);
}

/** Shared element fields of every cursor. */
export abstract class ElementCursor {
  /** True when the element is an integer that fits a double exactly (`int` holds it). */
  isInt = false;
  int = 0;
  /** The element bytes (string elements, and 64-bit ints beyond 2^53 as decimal text). */
  str: Buffer = Buffer.alloc(0);
  protected buf: Buffer = Buffer.alloc(0);
  protected pos = 0;
  protected end = 0;
  /** File offset of the blob start, for error messages (the compressed string's offset for LZF blobs). */
  protected base = 0;
  protected abstract readonly what: string;

  abstract next(): boolean;

  /** Element as a Buffer, converting integers to their decimal text. */
  asBuffer(): Buffer {
    return this.isInt ? intToBuffer(this.int) : this.str;
  }

  protected fail(at: number, why: string): never {
    throw corrupt(this.base + at, `${this.what}: ${why}`);
  }

  protected need(n: number): void {
    if (this.pos + n > this.end)
      this.fail(this.pos, `entry runs past the end of the blob (needs ${n} bytes)`);
  }

  protected setBigInt(v: bigint): void {
    if (v >= -9007199254740991n && v <= 9007199254740991n) {
      this.isInt = true;
      this.int = Number(v);
    } else {
      this.isInt = false;
      this.str = Buffer.from(v.toString(), 'latin1');
    }
  }
}

/** Ziplist (`src/ziplist.c`): types 10, 12, 13 and quicklist v1 nodes. */
export class ZiplistCursor extends ElementCursor {
  protected readonly what = 'ziplist';

  reset(blob: Buffer, base: number): void {
    this.buf = blob;
    this.base = base;
    if (blob.length < 11) this.fail(0, `blob of ${blob.length} bytes is shorter than an empty ziplist`);
    const zlbytes = blob.readUInt32LE(0);
    if (zlbytes !== blob.length) this.fail(0, `header says ${zlbytes} bytes, the blob has ${blob.length}`);
    if (blob[blob.length - 1] !== 0xff) this.fail(blob.length - 1, 'missing 0xFF terminator');
    this.pos = 10;
    this.end = blob.length - 1;
  }

  next(): boolean {
    const b = this.buf;
    if (this.pos >= this.end) {
      if (this.pos === this.end) return false;
      this.fail(this.pos, 'entry overlaps the terminator');
    }
    // prevlen: 1 byte, or 0xFE + u32 LE.
    const p0 = b[this.pos]!;
    if (p0 === 0xff) this.fail(this.pos, 'terminator before the end of the blob');
    this.pos += p0 === 0xfe ? 5 : 1;
    this.need(1);
    const e = b[this.pos++]!;
    const top = e >>> 6;
    if (top !== 3) {
      let len: number;
      if (top === 0) len = e & 0x3f;
      else if (top === 1) {
        this.need(1);
        len = ((e & 0x3f) << 8) | b[this.pos++]!;
      } else {
        if (e !== 0x80) this.fail(this.pos - 1, `bad string encoding 0x${e.toString(16)}`);
        this.need(4);
        len = b.readUInt32BE(this.pos);
        this.pos += 4;
      }
      this.need(len);
      this.isInt = false;
      this.str = b.subarray(this.pos, this.pos + len);
      this.pos += len;
      return true;
    }
    this.isInt = true;
    switch (e) {
      case 0xc0:
        this.need(2);
        this.int = b.readInt16LE(this.pos);
        this.pos += 2;
        break;
      case 0xd0:
        this.need(4);
        this.int = b.readInt32LE(this.pos);
        this.pos += 4;
        break;
      case 0xe0:
        this.need(8);
        this.setBigInt(b.readBigInt64LE(this.pos));
        this.pos += 8;
        break;
      case 0xf0:
        this.need(3);
        this.int = b.readIntLE(this.pos, 3);
        this.pos += 3;
        break;
      case 0xfe:
        this.need(1);
        this.int = b.readInt8(this.pos);
        this.pos += 1;
        break;
      default:
        if (e >= 0xf1 && e <= 0xfd) this.int = (e & 0x0f) - 1;
        else this.fail(this.pos - 1, `bad integer encoding 0x${e.toString(16)}`);
    }
    return true;
  }
}

/** Listpack (`src/listpack.c`): types 16, 17, 20, 23, 25, quicklist v2 nodes and stream nodes. */
export class ListpackCursor extends ElementCursor {
  protected readonly what = 'listpack';

  reset(blob: Buffer, base: number): void {
    this.buf = blob;
    this.base = base;
    if (blob.length < 7) this.fail(0, `blob of ${blob.length} bytes is shorter than an empty listpack`);
    const total = blob.readUInt32LE(0);
    if (total !== blob.length) this.fail(0, `header says ${total} bytes, the blob has ${blob.length}`);
    if (blob[blob.length - 1] !== 0xff) this.fail(blob.length - 1, 'missing 0xFF terminator');
    this.pos = 6;
    this.end = blob.length - 1;
  }

  /** Declared element count (65535 = unknown). */
  declaredCount(): number {
    return this.buf.readUInt16LE(4);
  }

  next(): boolean {
    const b = this.buf;
    if (this.pos >= this.end) {
      if (this.pos === this.end) return false;
      this.fail(this.pos, 'entry overlaps the terminator');
    }
    const start = this.pos;
    const e = b[this.pos++]!;
    if (e < 0x80) {
      this.isInt = true;
      this.int = e;
    } else if (e < 0xc0) {
      const len = e & 0x3f;
      this.need(len);
      this.isInt = false;
      this.str = b.subarray(this.pos, this.pos + len);
      this.pos += len;
    } else if (e < 0xe0) {
      this.need(1);
      const v = ((e & 0x1f) << 8) | b[this.pos++]!;
      this.isInt = true;
      this.int = v >= 4096 ? v - 8192 : v;
    } else if (e < 0xf0) {
      this.need(1);
      const len = ((e & 0x0f) << 8) | b[this.pos++]!;
      this.need(len);
      this.isInt = false;
      this.str = b.subarray(this.pos, this.pos + len);
      this.pos += len;
    } else {
      switch (e) {
        case 0xf0: {
          this.need(4);
          const len = b.readUInt32LE(this.pos);
          this.pos += 4;
          this.need(len);
          this.isInt = false;
          this.str = b.subarray(this.pos, this.pos + len);
          this.pos += len;
          break;
        }
        case 0xf1:
          this.need(2);
          this.isInt = true;
          this.int = b.readInt16LE(this.pos);
          this.pos += 2;
          break;
        case 0xf2:
          this.need(3);
          this.isInt = true;
          this.int = b.readIntLE(this.pos, 3);
          this.pos += 3;
          break;
        case 0xf3:
          this.need(4);
          this.isInt = true;
          this.int = b.readInt32LE(this.pos);
          this.pos += 4;
          break;
        case 0xf4:
          this.need(8);
          this.setBigInt(b.readBigInt64LE(this.pos));
          this.pos += 8;
          break;
        default:
          this.fail(start, `bad entry encoding 0x${e.toString(16)}`);
      }
    }
    // backlen: 1–5 bytes encoding the size of encoding+data; skip it. The sizes are Redis's own
    // (listpack.c lpEncodeBacklen: 16383 already takes 3 bytes), not the minimal varint sizes.
    const l = this.pos - start;
    this.pos += l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
    if (this.pos > this.end) this.fail(start, 'entry back-length runs past the end of the blob');
    return true;
  }

  /** Next element, which must exist and be an integer (stream node fields). */
  nextInt(what: string): number {
    if (!this.next()) this.fail(this.pos, `missing ${what}`);
    if (this.isInt) return this.int;
    // Stream writers always store these as integers; accept decimal text defensively.
    const v = Number(this.str.toString('latin1', 0, this.str.length));
    if (!Number.isInteger(v) || this.str.length === 0) this.fail(this.pos, `${what} is not an integer`);
    return v;
  }

  /** Next element, which must exist. */
  nextElement(what: string): void {
    if (!this.next()) this.fail(this.pos, `missing ${what}`);
  }
}

/** Zipmap (`src/zipmap.c`), type 9: alternating key, value elements. */
export class ZipmapCursor extends ElementCursor {
  protected readonly what = 'zipmap';
  private expectValue = false;

  reset(blob: Buffer, base: number): void {
    this.buf = blob;
    this.base = base;
    if (blob.length < 2) this.fail(0, 'blob shorter than an empty zipmap');
    this.pos = 1;
    this.end = blob.length;
    this.expectValue = false;
  }

  next(): boolean {
    const b = this.buf;
    this.need(1);
    let len = b[this.pos++]!;
    if (len === 0xff) {
      if (this.expectValue) this.fail(this.pos - 1, 'end marker where a value was expected');
      if (this.pos !== this.end) this.fail(this.pos, 'bytes after the end marker');
      return false;
    }
    if (len === 0xfe) {
      this.need(4);
      len = b.readUInt32LE(this.pos);
      this.pos += 4;
    }
    let free = 0;
    if (this.expectValue) {
      this.need(1);
      free = b[this.pos++]!;
    }
    this.need(len + free);
    this.isInt = false;
    this.str = b.subarray(this.pos, this.pos + len);
    this.pos += len + free;
    this.expectValue = !this.expectValue;
    return true;
  }
}

/** Intset (`src/intset.c`), type 11: sorted little-endian integers of width 2, 4 or 8. */
export class IntsetCursor extends ElementCursor {
  protected readonly what = 'intset';
  private width = 2;

  reset(blob: Buffer, base: number): void {
    this.buf = blob;
    this.base = base;
    if (blob.length < 8) this.fail(0, 'blob shorter than an intset header');
    const enc = blob.readUInt32LE(0);
    const n = blob.readUInt32LE(4);
    if (enc !== 2 && enc !== 4 && enc !== 8) this.fail(0, `bad element width ${enc} (expected 2, 4 or 8)`);
    if (8 + n * enc !== blob.length) {
      this.fail(4, `header declares ${n} × ${enc}-byte elements but the blob has ${blob.length - 8} bytes`);
    }
    this.width = enc;
    this.pos = 8;
    this.end = blob.length;
  }

  next(): boolean {
    if (this.pos >= this.end) return false;
    const b = this.buf;
    this.isInt = true;
    if (this.width === 2) this.int = b.readInt16LE(this.pos);
    else if (this.width === 4) this.int = b.readInt32LE(this.pos);
    else this.setBigInt(b.readBigInt64LE(this.pos));
    this.pos += this.width;
    return true;
  }
}
