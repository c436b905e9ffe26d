/**
 * Deep validation of the compact blobs Redis saves as RDB strings (ziplist, listpack, intset, zipmap,
 * stream node listpacks), before any of them goes to a target by RESTORE.
 *
 * Why: Redis checks only a blob's header on RESTORE unless `sanitize-dump-payload yes` (7.0's default
 * is `no`), then trusts every entry; a damaged entry later fails an assertion (`lpValidateNext`,
 * `ziplistEntrySafe`, a duplicate field in `hashTypeConvert`) and the server dies. So we check every
 * rule Redis' deep sanitization checks (listpack.c lpValidateIntegrity/lpValidateNext, ziplist.c
 * ziplistValidateIntegrity, intset.c intsetValidateIntegrity, zipmap.c zipmapValidateIntegrity,
 * t_stream.c streamValidateListpackIntegrity, rdb.c's duplicate and pair checks) — our own code, one
 * pass per blob, no per-entry allocation. A failure throws ERR_RDB_CORRUPT naming the broken rule; the
 * decoder adds the key, db and offset.
 *
 * Memory: the blob is already whole in memory (the decoder holds it for this step); duplicate checks
 * use one growable Int32Array hash table of (hash, offset) pairs, 8–16 bytes per checked element.
 */
import { corrupt } from './errors.js';

const EMPTY = Buffer.alloc(0);

/** How the elements of a container group: lists none, hashes/zsets in pairs, set members all unique. */
export const SHAPE = {
  /** Lists: any elements, no uniqueness. */
  LIST: 0,
  /** Sets: every element unique. */
  SET: 1,
  /** Hashes and zsets: an even count, the first of each pair unique. */
  PAIRS: 2,
  /** Hashes with field TTLs (types 23/25): field, value, integer TTL; fields unique. */
  TRIPLETS: 3,
} as const;

/** Where a blob sits, for messages: the file offset of its first byte (or of the LZF string). */
interface Where {
  what: string;
  base: number;
  /** Offset in the buffer of the blob's first byte (positions are buffer offsets). */
  start: number;
  /** The blob was LZF-compressed: offsets inside it are not file offsets. */
  lzf: boolean;
}

function fail(w: Where, at: number, rule: string): never {
  const rel = at - w.start;
  if (w.lzf) throw corrupt(w.base, `${w.what}: ${rule} (at byte ${rel} of the decompressed blob)`);
  throw corrupt(w.base + rel, `${w.what}: ${rule}`);
}

function where(what: string, base: number, start: number, lzf: boolean): Where {
  return { what, base, start, lzf };
}

// ---- header checks (before a blob is read whole) ---------------------------------------------

/** Compact encodings with a size header. */
export const HDR = { ZIPLIST: 1, LISTPACK: 2, INTSET: 3, NONE: 0 } as const;

/** Bytes of header needed to check a blob's declared size against its RDB string length. */
export function headerBytes(kind: number): number {
  return kind === HDR.INTSET ? 8 : kind === HDR.NONE ? 0 : 4;
}

/**
 * Check the size a compact blob's header declares against the RDB string length `n`, from its first
 * bytes at `b[at]` (headerBytes(kind) of them, or all n if fewer) — so a blob whose header disagrees
 * fails before it is read (and held) whole. `base` is the file offset of b[at].
 */
export function checkHeader(
  kind: number,
  b: Buffer,
  at: number,
  n: number,
  what: string,
  base: number,
): void {
  const w = where(what, base, at, false);
  if (kind === HDR.ZIPLIST) {
    if (n < 11) fail(w, at, `blob of ${n} bytes is shorter than an empty ziplist (11)`);
    const declared = b.readUInt32LE(at);
    if (declared !== n) fail(w, at, `header declares ${declared} bytes, the RDB string has ${n}`);
  } else if (kind === HDR.LISTPACK) {
    if (n < 7) fail(w, at, `blob of ${n} bytes is shorter than an empty listpack (7)`);
    const declared = b.readUInt32LE(at);
    if (declared !== n) fail(w, at, `header declares ${declared} bytes, the RDB string has ${n}`);
  } else if (kind === HDR.INTSET) {
    if (n < 8) fail(w, at, `blob of ${n} bytes is shorter than an intset header (8)`);
    const enc = b.readUInt32LE(at);
    const count = b.readUInt32LE(at + 4);
    if (enc !== 2 && enc !== 4 && enc !== 8) fail(w, at, `element width ${enc} (must be 2, 4 or 8)`);
    if (8 + count * enc !== n)
      fail(w, at + 4, `header declares ${count} × ${enc}-byte elements, the RDB string has ${n - 8} bytes`);
  }
}

// ---- duplicate detection ---------------------------------------------------------------------

/**
 * Open-addressing set of element offsets, keyed by FNV-1a of the element's canonical bytes (integers
 * as decimal text: Redis compares `lpGet` output, so the string "12" and the integer 12 collide there
 * too and would make `hashTypeConvert` panic). Reused across blobs; grows at half load.
 */
class DupTable {
  private slots = new Int32Array(2 * 256); // (hash, offset+1) pairs; offset+1 = 0 marks a free slot
  private mask = 255;
  private used = 0;

  reset(expected: number): void {
    let cap = 256;
    while (cap < expected * 2) cap *= 2;
    if (cap * 2 > this.slots.length || this.slots.length > 2 * 65536) this.slots = new Int32Array(cap * 2);
    else this.slots.fill(0, 0, cap * 2);
    this.mask = cap - 1;
    this.used = 0;
  }

  /** Insert; false when an equal element (sameAsMine) is already present. */
  add(h: number, off: number): boolean {
    let i = h & this.mask;
    const s = this.slots;
    for (;;) {
      const o = s[2 * i + 1]!;
      if (o === 0) break;
      if (s[2 * i] === h && sameAsMine(o - 1)) return false;
      i = (i + 1) & this.mask;
    }
    s[2 * i] = h;
    s[2 * i + 1] = off + 1;
    if (++this.used * 2 > this.mask + 1) this.grow();
    return true;
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap - 1;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j + 1] === 0) continue;
      let i = old[j]! & this.mask;
      while (this.slots[2 * i + 1] !== 0) i = (i + 1) & this.mask;
      this.slots[2 * i] = old[j]!;
      this.slots[2 * i + 1] = old[j + 1]!;
    }
  }
}

function fnv(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h | 0;
}

function bytesEqual(a: Uint8Array, as: number, al: number, b: Uint8Array, bs: number, bl: number): boolean {
  if (al !== bl) return false;
  for (let i = 0; i < al; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

const dups = new DupTable();

// ---- one decoded entry (module scratch: no object per entry) ---------------------------------

/** Last entry read by lpEntry/zlEntry: integer, or string range. */
let eIsInt = false;
let eInt = 0;
let eBig: bigint | null = null;
let eStr = 0;
let eLen = 0;

/** Canonical bytes of the last entry: its string bytes, or an integer's decimal text (in `digits`). */
let cBuf: Uint8Array = Buffer.alloc(0);
let cStart = 0;
let cEnd = 0;
const digA = Buffer.alloc(24);
const digB = Buffer.alloc(24);
function canonical(b: Buffer, digits: Buffer): void {
  if (!eIsInt) {
    cBuf = b;
    cStart = eStr;
    cEnd = eStr + eLen;
    return;
  }
  cBuf = digits;
  cStart = 0;
  if (eBig !== null) {
    cEnd = digits.write(eBig.toString(), 0, 'latin1');
    return;
  }
  // Decimal digits written in place: no string, no Buffer per integer.
  let v = eInt;
  let p = 0;
  if (v < 0) {
    digits[p++] = 45;
    v = -v;
  }
  let n = 1;
  for (let t = 10; t <= v; t *= 10) n++;
  cEnd = p + n;
  for (let q = cEnd - 1; q >= p; q--) {
    const d = v % 10;
    digits[q] = 48 + d;
    v = (v - d) / 10;
  }
}

/** A little-endian int64 into eInt, from its 32-bit halves; a BigInt (eBig) only beyond ±2^53. */
function int64At(b: Buffer, at: number): void {
  const hi = b.readInt32LE(at + 4);
  if (hi >= -0x200000 && hi < 0x200000) eInt = hi * 4294967296 + b.readUInt32LE(at);
  else eBig = b.readBigInt64LE(at);
}

/** Backlen size Redis writes for an entry of `l` bytes (listpack.c lpEncodeBacklen). */
function backlenSize(l: number): number {
  return l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
}

/**
 * Validate the listpack entry at `p` (not the 0xFF end) and set the scratch fields. `last` is the
 * offset of the terminator. Returns the next entry's offset.
 */
function lpEntry(b: Buffer, p: number, last: number, w: Where): number {
  const e = b[p]!;
  let hdr: number;
  let len: number;
  eBig = null;
  if (e < 0x80) {
    eIsInt = true;
    eInt = e;
    hdr = 1;
    len = 0;
  } else if (e < 0xc0) {
    eIsInt = false;
    hdr = 1;
    len = e & 0x3f;
  } else if (e < 0xe0) {
    if (p + 2 > last) fail(w, p, 'entry header runs into the terminator');
    eIsInt = true;
    const v = ((e & 0x1f) << 8) | b[p + 1]!;
    eInt = v >= 4096 ? v - 8192 : v;
    hdr = 2;
    len = 0;
  } else if (e < 0xf0) {
    if (p + 2 > last) fail(w, p, 'entry header runs into the terminator');
    eIsInt = false;
    hdr = 2;
    len = ((e & 0x0f) << 8) | b[p + 1]!;
  } else {
    eIsInt = true;
    len = 0;
    switch (e) {
      case 0xf0:
        if (p + 5 > last) fail(w, p, 'entry header runs into the terminator');
        eIsInt = false;
        hdr = 5;
        len = b.readUInt32LE(p + 1);
        break;
      case 0xf1:
        hdr = 3;
        break;
      case 0xf2:
        hdr = 4;
        break;
      case 0xf3:
        hdr = 5;
        break;
      case 0xf4:
        hdr = 9;
        break;
      default:
        fail(w, p, `invalid entry encoding byte 0x${e.toString(16)}`);
    }
    if (eIsInt && p + hdr > last) fail(w, p, 'integer entry runs into the terminator');
    if (e === 0xf1) eInt = b.readInt16LE(p + 1);
    else if (e === 0xf2) eInt = b.readIntLE(p + 1, 3);
    else if (e === 0xf3) eInt = b.readInt32LE(p + 1);
    else if (e === 0xf4) int64At(b, p + 1);
  }
  const entryLen = hdr + len;
  const bl = backlenSize(entryLen);
  const next = p + entryLen + bl;
  if (next > last) fail(w, p, `entry of ${entryLen} bytes (+${bl} backlen) runs past the terminator`);
  // The backlen, read backwards from the entry's end, must state the entry's length.
  let v = 0;
  let shift = 0;
  let q = next - 1;
  for (let i = 0; ; i++) {
    const c = b[q]!;
    v += (c & 127) * 2 ** shift;
    if ((c & 128) === 0) break;
    shift += 7;
    q--;
    if (i >= 4) fail(w, p, 'backlen longer than 5 bytes');
  }
  if (v !== entryLen || next - q !== bl)
    fail(w, p, `backlen says ${v} bytes, the entry has ${entryLen} (prevlen/backlen mismatch)`);
  eStr = p + hdr;
  eLen = len;
  return next;
}

/** Header + terminator rules shared by every listpack (listpack.c lpValidateIntegrity, header part). */
function lpHeader(b: Buffer, s: number, e: number, w: Where): void {
  const n = e - s;
  if (n < 7) fail(w, s, `blob of ${n} bytes is shorter than an empty listpack (7)`);
  const total = b.readUInt32LE(s);
  if (total !== n) fail(w, s, `header declares ${total} bytes, the blob has ${n}`);
  if (b[e - 1] !== 0xff) fail(w, e - 1, 'last byte is not the 0xFF terminator');
}

/**
 * Listpack `b[s, e)` of a list, set, hash or zset (types 16, 17, 20, 23, 25, quicklist v2 packed
 * nodes). `base`: the file offset of b[s] (of the LZF string when `lzf`). Returns the element count.
 */
export function validateListpack(
  b: Buffer,
  s: number,
  e: number,
  base: number,
  what: string,
  shape: number,
  lzf: boolean,
): number {
  const w = where(what, base, s, lzf);
  lpHeader(b, s, e, w);
  const last = e - 1;
  const tuple = shape === SHAPE.PAIRS ? 2 : shape === SHAPE.TRIPLETS ? 3 : 1;
  const checkDups = shape !== SHAPE.LIST;
  const declared = b.readUInt16LE(s + 4);
  if (checkDups) startDups(b, last, w, false, declared === 65535 ? 1024 : Math.ceil(declared / tuple));
  let p = s + 6;
  let count = 0;
  let pos = 0;
  while (p < last) {
    const at = p;
    p = lpEntry(b, p, last, w);
    if (pos === 2 && !eIsInt) fail(w, at, 'hash field TTL is not an integer entry');
    if (checkDups && pos === 0) addUnique(b, at, shape === SHAPE.SET ? 'set member' : 'field');
    count++;
    if (++pos === tuple) pos = 0;
  }
  if (p !== last) fail(w, p, 'entries overlap the terminator');
  if (declared !== 65535 && declared !== count)
    fail(w, s + 4, `header declares ${declared} entries, the blob holds ${count}`);
  if (pos !== 0)
    fail(w, s + 4, `${count} entries is not a multiple of ${tuple} (${tuple === 2 ? 'pairs' : 'triplets'})`);
  release();
  return count;
}

// Duplicate check state: the blob being checked and the element just read ("mine").
let dupB: Buffer = Buffer.alloc(0);
let dupLast = 0;
let dupW: Where = where('', 0, 0, false);
let dupZl = false;
let dupZm = false;
let mineBuf: Uint8Array = digA;
let mineS = 0;
let mineL = 0;

/** Drop the module state's references to the blob: it may be a big join buffer. */
function release(): void {
  dupB = EMPTY;
  mineBuf = digA;
  cBuf = digA;
}

function startDups(b: Buffer, last: number, w: Where, zl: boolean, expected: number): void {
  dupB = b;
  dupLast = last;
  dupW = w;
  dupZl = zl;
  dupZm = false;
  dups.reset(expected);
}

/** The entry at `other` (already validated) equals the one being added. */
function sameAsMine(other: number): boolean {
  if (dupZm) {
    let q = other;
    let l = dupB[q]!;
    if (l === 0xfe) {
      l = dupB.readUInt32LE(q + 1);
      q += 5;
    } else q += 1;
    return bytesEqual(mineBuf, mineS, mineL, dupB, q, l);
  }
  if (dupZl) zlEntry(dupB, other, dupLast, dupW, -1);
  else lpEntry(dupB, other, dupLast, dupW);
  canonical(dupB, digB);
  return bytesEqual(mineBuf, mineS, mineL, cBuf, cStart, cEnd - cStart);
}

/** The last entry read (at `at`) must not equal an earlier one. */
function addUnique(b: Buffer, at: number, name: string): void {
  canonical(b, digA);
  mineBuf = cBuf;
  mineS = cStart;
  mineL = cEnd - cStart;
  const h = fnv(cBuf, cStart, cEnd);
  if (!dups.add(h, at)) fail(dupW, at, `duplicate ${name} "${printable(mineBuf, mineS, mineL)}"`);
}

function printable(b: Uint8Array, s: number, l: number): string {
  return Buffer.from(b.subarray(s, s + Math.min(l, 40)))
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// ---- ziplist ---------------------------------------------------------------------------------

/**
 * Validate the ziplist entry at `p` (prevlen must equal `prevRaw`, or -1 = don't check). Sets the
 * scratch fields; returns the next entry's offset.
 */
function zlEntry(b: Buffer, p: number, last: number, w: Where, prevRaw: number): number {
  const start = p;
  const p0 = b[p]!;
  let prevlen: number;
  if (p0 < 0xfe) {
    prevlen = p0;
    p += 1;
  } else if (p0 === 0xfe) {
    if (p + 5 > last) fail(w, start, 'prevlen runs into the terminator');
    prevlen = b.readUInt32LE(p + 1);
    p += 5;
  } else fail(w, start, 'terminator byte 0xFF before the end of the blob');
  if (prevRaw >= 0 && prevlen !== prevRaw)
    fail(w, start, `prevlen says ${prevlen}, the previous entry has ${prevRaw} bytes (prevlen mismatch)`);
  if (p >= last) fail(w, start, 'entry header runs into the terminator');
  const e = b[p]!;
  const top = e >>> 6;
  let hdr: number;
  let len = 0;
  eBig = null;
  if (top === 0) {
    eIsInt = false;
    hdr = 1;
    len = e & 0x3f;
  } else if (top === 1) {
    eIsInt = false;
    hdr = 2;
    if (p + 2 > last) fail(w, start, 'entry header runs into the terminator');
    len = ((e & 0x3f) << 8) | b[p + 1]!;
  } else if (top === 2) {
    if (e !== 0x80) fail(w, p, `invalid string encoding byte 0x${e.toString(16)}`);
    eIsInt = false;
    hdr = 5;
    if (p + 5 > last) fail(w, start, 'entry header runs into the terminator');
    len = b.readUInt32BE(p + 1);
  } else {
    eIsInt = true;
    hdr = 1;
    switch (e) {
      case 0xc0:
        len = 2;
        break;
      case 0xd0:
        len = 4;
        break;
      case 0xe0:
        len = 8;
        break;
      case 0xf0:
        len = 3;
        break;
      case 0xfe:
        len = 1;
        break;
      default:
        if (e < 0xf1 || e > 0xfd) fail(w, p, `invalid integer encoding byte 0x${e.toString(16)}`);
    }
  }
  const next = p + hdr + len;
  if (next > last) fail(w, start, `entry of ${next - start} bytes runs past the terminator`);
  if (eIsInt) {
    const d = p + 1;
    if (e === 0xc0) eInt = b.readInt16LE(d);
    else if (e === 0xd0) eInt = b.readInt32LE(d);
    else if (e === 0xe0) int64At(b, d);
    else if (e === 0xf0) eInt = b.readIntLE(d, 3);
    else if (e === 0xfe) eInt = b.readInt8(d);
    else eInt = (e & 0x0f) - 1;
  }
  eStr = p + hdr;
  eLen = len;
  return next;
}

/** Ziplist `b[s, e)` of a list, hash or zset (types 10, 12, 13, quicklist v1 nodes). Returns the count. */
export function validateZiplist(
  b: Buffer,
  s: number,
  e: number,
  base: number,
  what: string,
  shape: number,
  lzf: boolean,
): number {
  const w = where(what, base, s, lzf);
  const n = e - s;
  if (n < 11) fail(w, s, `blob of ${n} bytes is shorter than an empty ziplist (11)`);
  const total = b.readUInt32LE(s);
  if (total !== n) fail(w, s, `header declares ${total} bytes, the blob has ${n}`);
  const tail = b.readUInt32LE(s + 4);
  const last = e - 1;
  if (tail > n - 1) fail(w, s + 4, `tail offset ${tail} points past the terminator`);
  if (b[last] !== 0xff) fail(w, last, 'last byte is not the 0xFF terminator');
  const tuple = shape === SHAPE.PAIRS ? 2 : 1;
  const checkDups = shape !== SHAPE.LIST;
  const declared = b.readUInt16LE(s + 8);
  if (checkDups) startDups(b, last, w, true, declared === 65535 ? 1024 : Math.ceil(declared / tuple));
  let p = s + 10;
  let prevStart = -1;
  let prevRaw = 0;
  let count = 0;
  while (p < last) {
    const at = p;
    p = zlEntry(b, p, last, w, prevRaw);
    prevRaw = p - at;
    prevStart = at;
    if (checkDups && count % tuple === 0) addUnique(b, at, shape === SHAPE.SET ? 'member' : 'field');
    count++;
  }
  if (p !== last) fail(w, p, 'entries overlap the terminator');
  // The tail offset must point at the last entry.
  if (prevStart >= 0 && tail !== prevStart - s)
    fail(w, s + 4, `tail offset ${tail} is not the last entry's offset ${prevStart - s}`);
  if (declared !== 65535 && declared !== count)
    fail(w, s + 8, `header declares ${declared} entries, the blob holds ${count}`);
  if (count % tuple !== 0) fail(w, s + 8, `${count} entries is not a multiple of 2 (pairs)`);
  release();
  return count;
}

// ---- intset, zipmap --------------------------------------------------------------------------

/** Intset `b[s, e)` (type 11): width 2/4/8, size = 8 + count × width, not empty, strictly ascending. */
export function validateIntset(
  b: Buffer,
  s: number,
  e: number,
  base: number,
  what: string,
  lzf: boolean,
): number {
  const w = where(what, base, s, lzf);
  const size = e - s;
  if (size < 8) fail(w, s, `blob of ${size} bytes is shorter than an intset header (8)`);
  const enc = b.readUInt32LE(s);
  const n = b.readUInt32LE(s + 4);
  if (enc !== 2 && enc !== 4 && enc !== 8) fail(w, s, `element width ${enc} (must be 2, 4 or 8)`);
  if (8 + n * enc !== size)
    fail(w, s + 4, `header declares ${n} × ${enc}-byte elements, the blob has ${size - 8} bytes`);
  if (n === 0) fail(w, s + 4, 'empty intset');
  const rule = 'is not greater than the one before (elements must be sorted and unique)';
  if (enc === 8) {
    // Signed 64-bit order from the two 32-bit halves: no BigInt per element.
    let ph = b.readInt32LE(s + 12);
    let pl = b.readUInt32LE(s + 8);
    for (let i = 1, p = s + 16; i < n; i++, p += 8) {
      const h = b.readInt32LE(p + 4);
      const l = b.readUInt32LE(p);
      if (h < ph || (h === ph && l <= pl)) fail(w, p, `element ${i} ${rule}`);
      ph = h;
      pl = l;
    }
  } else {
    let prev = enc === 2 ? b.readInt16LE(s + 8) : b.readInt32LE(s + 8);
    for (let i = 1, p = s + 8 + enc; i < n; i++, p += enc) {
      const v = enc === 2 ? b.readInt16LE(p) : b.readInt32LE(p);
      if (v <= prev) fail(w, p, `element ${i} ${rule}`);
      prev = v;
    }
  }
  return n;
}

/** Zipmap `b[s, e)` (type 9): length-prefixed field/value pairs, end marker last, count right, no dups. */
export function validateZipmap(
  b: Buffer,
  s: number,
  e: number,
  base: number,
  what: string,
  lzf: boolean,
): number {
  const w = where(what, base, s, lzf);
  if (e - s < 2) fail(w, s, 'blob shorter than an empty zipmap (2)');
  const last = e - 1;
  let p = s + 1;
  let count = 0;
  zmStart(b, b[s]! < 254 ? b[s]! : 1024);
  while (b[p] !== 0xff) {
    for (let half = 0; half < 2; half++) {
      const at = p;
      let len = b[p]!;
      if (len === 0xff) fail(w, p, 'end marker where a value was expected');
      if (len === 0xfe) {
        if (p + 5 > last) fail(w, p, 'length runs past the end');
        len = b.readUInt32LE(p + 1);
        p += 5;
      } else p += 1;
      let free = 0;
      if (half === 1) {
        if (p > last) fail(w, p, 'free byte runs past the end');
        free = b[p++]!;
      }
      if (p + len + free > last) fail(w, at, `entry of ${len} bytes runs past the end`);
      if (half === 0) {
        mineBuf = b;
        mineS = p;
        mineL = len;
        if (!dups.add(fnv(b, p, p + len), at)) fail(w, at, `duplicate field "${printable(b, p, len)}"`);
      }
      p += len + free;
    }
    count++;
  }
  if (p !== last) fail(w, p, 'bytes after the end marker');
  if (count === 0) fail(w, s, 'empty zipmap');
  if (b[s]! < 254 && b[s] !== count) fail(w, s, `header declares ${b[s]} pairs, the blob holds ${count}`);
  release();
  return count;
}

/** Zipmap duplicate checks: entries are compared by their bytes (zipmaps hold strings only). */
function zmStart(b: Buffer, expected: number): void {
  dupB = b;
  dupZm = true;
  dups.reset(expected);
}

// ---- stream node listpacks -------------------------------------------------------------------

/** Strict int64 text (Redis string2ll): "0", or an optional '-' then 1-9 then digits, no overflow. */
function intText(b: Buffer, s: number, l: number): boolean {
  if (l === 0 || l > 20) return false;
  if (l === 1 && b[s] === 48) return true;
  let i = s;
  if (b[i] === 45) {
    i++;
    if (l === 1) return false;
  }
  if (b[i]! < 49 || b[i]! > 57) return false;
  for (i++; i < s + l; i++) if (b[i]! < 48 || b[i]! > 57) return false;
  const v = BigInt(b.toString('latin1', s, s + l));
  return v >= -9223372036854775808n && v <= 9223372036854775807n;
}

/** Stream validation cursor (module state: no closure per node). */
let sB: Buffer = Buffer.alloc(0);
let sP = 0;
let sLast = 0;
let sW: Where = where('', 0, 0, false);

function sInt(name: string): number {
  if (sP >= sLast) fail(sW, sP, `missing ${name}`);
  const at = sP;
  sP = lpEntry(sB, sP, sLast, sW);
  if (eIsInt) return eBig !== null ? Number(eBig) : eInt;
  if (!intText(sB, eStr, eLen)) fail(sW, at, `${name} is not an integer`);
  return Number(sB.toString('latin1', eStr, eStr + eLen));
}

function sAny(name: string): void {
  if (sP >= sLast) fail(sW, sP, `missing ${name}`);
  sP = lpEntry(sB, sP, sLast, sW);
}

/**
 * Stream node listpack `b[s, e)` (t_stream.c streamValidateListpackIntegrity with deep sanitization):
 * a master entry (count, deleted, field count, field names, 0), then exactly count+deleted entries,
 * each flags, ID deltas, [field count, names], values, and an lp-count matching its size; nothing after.
 */
export function validateStreamListpack(
  b: Buffer,
  s: number,
  e: number,
  base: number,
  what: string,
  lzf: boolean,
): void {
  const w = where(what, base, s, lzf);
  lpHeader(b, s, e, w);
  sB = b;
  sP = s + 6;
  sLast = e - 1;
  sW = w;
  const size = e - s;
  let entries = sInt('master entry count');
  const deleted = sInt('master deleted count');
  const masterFields = sInt('master field count');
  if (entries < 0 || deleted < 0 || masterFields < 0) fail(w, s + 6, 'master entry has a negative count');
  if (masterFields > size) fail(w, s + 6, `master field count ${masterFields} cannot fit the blob`);
  for (let j = 0; j < masterFields; j++) sAny('master field name');
  const zeroAt = sP;
  if (sInt('master entry terminator') !== 0) fail(w, zeroAt, 'master entry not terminated by 0');
  entries += deleted;
  if (entries > size) fail(w, s + 6, `entry count ${entries} cannot fit the blob`);
  while (entries-- > 0) {
    const at = sP;
    const flags = sInt('entry flags');
    sInt('entry ID ms delta');
    sInt('entry ID seq delta');
    let fields = masterFields;
    let extra = 3;
    if ((flags & 2) === 0) {
      fields = sInt('entry field count');
      if (fields < 0 || fields > size) fail(w, at, `entry field count ${fields} is not plausible`);
      for (let j = 0; j < fields; j++) sAny('entry field name');
      extra += fields + 1;
    }
    for (let j = 0; j < fields; j++) sAny('entry value');
    const lpCount = sInt('entry lp-count');
    if (lpCount !== fields + extra)
      fail(w, at, `entry lp-count ${lpCount} does not match its ${fields + extra} elements`);
  }
  if (sP !== sLast) fail(w, sP, 'entries after the last one the master entry counts');
  sB = EMPTY;
}
