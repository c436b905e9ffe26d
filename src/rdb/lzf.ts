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
 * Decompress `src` into a new Buffer of exactly `outLen` bytes. `offset` is where `src` starts in the
 * file, for error messages.
 */
export function lzfDecompress(src: Uint8Array, outLen: number, offset = 0): Buffer {
  const inLen = src.length;
  if (outLen > inLen * LZF_MAX_RATIO + 64) {
    throw corrupt(offset, `LZF blob of ${inLen} bytes cannot expand to the declared ${outLen} bytes`);
  }
  const out = Buffer.allocUnsafe(outLen);
  let ip = 0;
  let op = 0;
  while (ip < inLen) {
    const ctrl = src[ip++]!;
    if (ctrl < 32) {
      // Literal run of ctrl+1 bytes.
      const len = ctrl + 1;
      if (ip + len > inLen) throw corrupt(offset + ip, 'LZF literal run past the end of the compressed data');
      if (op + len > outLen) throw corrupt(offset + ip, 'LZF output longer than the declared length');
      for (let k = 0; k < len; k++) out[op++] = src[ip++]!;
    } else {
      let len = ctrl >>> 5;
      if (len === 7) {
        if (ip >= inLen) throw corrupt(offset + ip, 'LZF back-reference length byte missing');
        len += src[ip++]!;
      }
      if (ip >= inLen) throw corrupt(offset + ip, 'LZF back-reference offset byte missing');
      const ref = op - (((ctrl & 0x1f) << 8) | src[ip++]!) - 1;
      len += 2;
      if (ref < 0) throw corrupt(offset + ip, 'LZF back-reference before the start of the output');
      if (op + len > outLen) throw corrupt(offset + ip, 'LZF output longer than the declared length');
      // Byte by byte: source and destination may overlap (run-length style references).
      for (let k = 0; k < len; k++) out[op++] = out[ref + k]!;
    }
  }
  if (op !== outLen) {
    throw corrupt(offset + ip, `LZF output is ${op} bytes, the header declared ${outLen}`);
  }
  return out;
}
