/**
 * CRC-64 "Jones" as Redis computes it (src/crc64.c): reflected, poly 0xad93d23594c935a9, init 0, xorout 0.
 * Ours because no kept npm package provides it. Slicing-by-8 over two 32-bit halves: BigInt per byte
 * would cost ~50× more and the CRC runs over every byte of a multi-GB snapshot.
 */

/** Reflected polynomial, split in 32-bit halves. */
const POLY_HI = 0x95ac9329;
const POLY_LO = 0xac4bc9b5;

/** 8 tables × 256 entries; entry k*256+n is table k at byte n (lo and hi halves kept apart). */
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

/**
 * Incremental CRC-64 state as two uint32 halves, so the decoder can feed it chunk by chunk with no
 * allocation. `update` returns nothing; read `hi`/`lo` or `value()`.
 */
export class Crc64 {
  lo = 0;
  hi = 0;

  update(buf: Uint8Array, start = 0, end = buf.length): void {
    let lo = this.lo;
    let hi = this.hi;
    let i = start;
    // Slicing-by-8: one table lookup per byte but no serial dependency inside a block of 8.
    const stop8 = end - ((end - i) & 7);
    while (i < stop8) {
      const a = (lo ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
      const b = (hi ^ (buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24))) >>> 0;
      const i7 = 7 * 256 + (a & 0xff);
      const i6 = 6 * 256 + ((a >>> 8) & 0xff);
      const i5 = 5 * 256 + ((a >>> 16) & 0xff);
      const i4 = 4 * 256 + (a >>> 24);
      const i3 = 3 * 256 + (b & 0xff);
      const i2 = 2 * 256 + ((b >>> 8) & 0xff);
      const i1 = 256 + ((b >>> 16) & 0xff);
      const i0 = b >>> 24;
      lo =
        (T_LO[i7]! ^ T_LO[i6]! ^ T_LO[i5]! ^ T_LO[i4]! ^ T_LO[i3]! ^ T_LO[i2]! ^ T_LO[i1]! ^ T_LO[i0]!) >>> 0;
      hi =
        (T_HI[i7]! ^ T_HI[i6]! ^ T_HI[i5]! ^ T_HI[i4]! ^ T_HI[i3]! ^ T_HI[i2]! ^ T_HI[i1]! ^ T_HI[i0]!) >>> 0;
      i += 8;
    }
    while (i < end) {
      const idx = (lo ^ buf[i]!) & 0xff;
      lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ T_LO[idx]!) >>> 0;
      hi = ((hi >>> 8) ^ T_HI[idx]!) >>> 0;
      i++;
    }
    this.lo = lo;
    this.hi = hi;
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
