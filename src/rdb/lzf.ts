/**
 * LZF decompression (the format of liblzf that Redis uses for compressed strings and quicklist nodes).
 * Ours because no kept npm package provides it. Every read and write is bounds-checked so a corrupt
 * blob ends in a typed error, never a RangeError or an out-of-bounds view.
 */
import { corrupt } from './errors.js';

/**
 * Largest output LZF can produce per input byte: a 3-byte back-reference emits at most 264 bytes.
 * Used to reject absurd declared lengths before allocating.
 */
export const LZF_MAX_RATIO = 88;

/**
 * Decompress `src[start, end)` into a new Buffer of exactly `outLen` bytes. `offset` is where the
 * compressed bytes start in the file, for error messages. (Range arguments instead of a subarray:
 * one view less per compressed string on the hot path.)
 */
export function lzfDecompress(
  src: Uint8Array,
  outLen: number,
  offset = 0,
  start = 0,
  end = src.length,
  into?: Buffer,
): Buffer {
  const inLen = end - start;
  if (outLen > inLen * LZF_MAX_RATIO + 64) {
    throw corrupt(offset, `LZF blob of ${inLen} bytes cannot expand to the declared ${outLen} bytes`);
  }
  // `into`: a caller's scratch buffer (validation only: nothing keeps the result), no allocation.
  const out = into !== undefined && into.length >= outLen ? into : Buffer.allocUnsafe(outLen);
  let ip = start;
  let op = 0;
  while (ip < end) {
    const ctrl = src[ip++]!;
    if (ctrl < 32) {
      // Literal run of ctrl+1 bytes.
      const len = ctrl + 1;
      if (ip + len > end)
        throw corrupt(offset + ip - start, 'LZF literal run past the end of the compressed data');
      if (op + len > outLen) throw corrupt(offset + ip - start, 'LZF output longer than the declared length');
      // Long runs by a native copy; short ones by hand (cheaper than the view and the call).
      if (len > 12) out.set(src.subarray(ip, ip + len), op);
      else for (let k = 0; k < len; k++) out[op + k] = src[ip + k]!;
      op += len;
      ip += len;
    } else {
      let len = ctrl >>> 5;
      if (len === 7) {
        if (ip >= end) throw corrupt(offset + ip - start, 'LZF back-reference length byte missing');
        len += src[ip++]!;
      }
      if (ip >= end) throw corrupt(offset + ip - start, 'LZF back-reference offset byte missing');
      const dist = (((ctrl & 0x1f) << 8) | src[ip++]!) + 1;
      const ref = op - dist;
      len += 2;
      if (ref < 0) throw corrupt(offset + ip - start, 'LZF back-reference before the start of the output');
      if (op + len > outLen) throw corrupt(offset + ip - start, 'LZF output longer than the declared length');
      if (dist === 1) {
        // Run of one repeated byte (zero padding, the most common back-reference): a native fill.
        out.fill(out[ref]!, op, op + len);
      } else if (dist >= len && len > 16) {
        out.copyWithin(op, ref, ref + len); // no overlap: native copy
      } else {
        // Overlapping reference: byte by byte, each byte may be one written in this loop.
        for (let k = 0; k < len; k++) out[op + k] = out[ref + k]!;
      }
      op += len;
    }
  }
  if (op !== outLen) {
    throw corrupt(offset + ip - start, `LZF output is ${op} bytes, the header declared ${outLen}`);
  }
  return out;
}
