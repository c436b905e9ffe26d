/**
 * CRC-64 "Jones" as Redis computes it (src/crc64.c): reflected, poly 0xad93d23594c935a9, init 0, xorout 0.
 * Ours because no kept npm package provides it. Slicing-by-8 over two 32-bit halves: BigInt per byte
 * would cost ~50× more and the CRC runs over every byte of a multi-GB snapshot.
 */

/** Reflected polynomial, split in 32-bit halves. */
const POLY_HI = 0x95ac9329;
const POLY_LO = 0xac4bc9b5;

/** 8 tables × 256 entries; entry k*256+n is table k at byte n (lo and hi halves kept apart while building). */
const T_LO = new Uint32Array(8 * 256);
const T_HI = new Uint32Array(8 * 256);

for (let n = 0; n < 256; n++) {
  let lo = n;
  let hi = 0;
  for (let b = 0; b < 8; b++) {
    const bit = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (bit) {
      lo = (lo ^ POLY_LO) >>> 0;
      hi = (hi ^ POLY_HI) >>> 0;
    }
  }
  T_LO[n] = lo;
  T_HI[n] = hi;
}
for (let k = 1; k < 8; k++) {
  for (let n = 0; n < 256; n++) {
    const plo = T_LO[(k - 1) * 256 + n]!;
    const phi = T_HI[(k - 1) * 256 + n]!;
    const idx = plo & 0xff;
    // (prev >> 8) ^ T0[prev & 0xff]
    T_LO[k * 256 + n] = (((plo >>> 8) | ((phi & 0xff) << 24)) ^ T_LO[idx]!) >>> 0;
    T_HI[k * 256 + n] = ((phi >>> 8) ^ T_HI[idx]!) >>> 0;
  }
}

/** The same tables interleaved (lo, hi) as int32: one cache line serves both halves of a lookup. */
const T = new Int32Array(8 * 256 * 2);
for (let i = 0; i < 8 * 256; i++) {
  T[2 * i] = T_LO[i]! | 0;
  T[2 * i + 1] = T_HI[i]! | 0;
}

/** Word reads below assume a little-endian host (every platform Node ships on today). */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Incremental CRC-64 state as two 32-bit halves, so the decoder can feed it chunk by chunk with no
 * allocation. `update` returns nothing; read `hi`/`lo` (unsigned) or `value()`.
 */
export class Crc64 {
  lo = 0;
  hi = 0;

  update(buf: Uint8Array, start = 0, end = buf.length): void {
    let lo = this.lo | 0;
    let hi = this.hi | 0;
    let i = start;
    // Byte at a time up to 4-byte alignment, so the bulk can be read as int32 words.
    const off = buf.byteOffset;
    if (end - i >= 32 && LE) {
      while (((off + i) & 3) !== 0) {
        const idx = ((lo ^ buf[i]!) & 0xff) * 2;
        lo = ((lo >>> 8) | (hi << 24)) ^ T[idx]!;
        hi = (hi >>> 8) ^ T[idx + 1]!;
        i++;
      }
      const nblk = (end - i) >>> 3;
      const words = new Int32Array(buf.buffer, off + i, nblk * 2);
      // Slicing-by-8: 8 independent table lookups per 8 input bytes.
      for (let w = 0; w < nblk * 2; w += 2) {
        const a = lo ^ words[w]!;
        const b = hi ^ words[w + 1]!;
        const i7 = (7 * 256 + (a & 0xff)) * 2;
        const i6 = (6 * 256 + ((a >>> 8) & 0xff)) * 2;
        const i5 = (5 * 256 + ((a >>> 16) & 0xff)) * 2;
        const i4 = (4 * 256 + (a >>> 24)) * 2;
        const i3 = (3 * 256 + (b & 0xff)) * 2;
        const i2 = (2 * 256 + ((b >>> 8) & 0xff)) * 2;
        const i1 = (256 + ((b >>> 16) & 0xff)) * 2;
        const i0 = (b >>> 24) * 2;
        lo = T[i7]! ^ T[i6]! ^ T[i5]! ^ T[i4]! ^ T[i3]! ^ T[i2]! ^ T[i1]! ^ T[i0]!;
        hi =
          T[i7 + 1]! ^
          T[i6 + 1]! ^
          T[i5 + 1]! ^
          T[i4 + 1]! ^
          T[i3 + 1]! ^
          T[i2 + 1]! ^
          T[i1 + 1]! ^
          T[i0 + 1]!;
      }
      i += nblk * 8;
    }
    while (i < end) {
      const idx = ((lo ^ buf[i]!) & 0xff) * 2;
      lo = ((lo >>> 8) | (hi << 24)) ^ T[idx]!;
      hi = (hi >>> 8) ^ T[idx + 1]!;
      i++;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  value(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** The 8 bytes Redis stores (little endian). */
  bytes(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32LE(this.lo, 0);
    out.writeUInt32LE(this.hi, 4);
    return out;
  }
}

/** CRC-64 of `buf`, optionally continuing from `seed` (a previous result). */
export function crc64(buf: Uint8Array, seed = 0n): bigint {
  const c = new Crc64();
  c.lo = Number(seed & 0xffffffffn);
  c.hi = Number((seed >> 32n) & 0xffffffffn);
  c.update(buf);
  return c.value();
}

export function formatCrc(v: bigint): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}
