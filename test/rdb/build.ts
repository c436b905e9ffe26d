/**
 * Tiny byte builders for hand-made RDB test inputs (each encoding written straight from
 * docs/protocol.md §2, independently of the decoder's code).
 */
import { crc64 } from '../../src/rdb/index.js';

export const B = (...parts: (Buffer | number[] | string)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

/** RDB length: 6-bit, 14-bit, 32-bit or 64-bit (forced width optional). */
export function len(n: number | bigint, width?: 6 | 14 | 32 | 64): Buffer {
  const v = BigInt(n);
  const w = width ?? (v < 64n ? 6 : v < 16384n ? 14 : v <= 0xffffffffn ? 32 : 64);
  if (w === 6) return Buffer.from([Number(v)]);
  if (w === 14) return Buffer.from([0x40 | Number(v >> 8n), Number(v & 0xffn)]);
  if (w === 32) {
    const b = Buffer.alloc(5);
    b[0] = 0x80;
    b.writeUInt32BE(Number(v), 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0x81;
  b.writeBigUInt64BE(v, 1);
  return b;
}

export const str = (s: string | Buffer, width?: 6 | 14 | 32 | 64): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return B(len(b.length, width), b);
};

/** A whole RDB file: magic, body, EOF, CRC (v ≥ 5). */
export function rdb(magic: string, body: Buffer[], crc: 'ok' | 'zero' | 'bad' = 'ok'): Buffer {
  const v = Number(magic.replace(/^\D+/, ''));
  const head = B(magic, ...body, [0xff]);
  if (v < 5) return head;
  const c = Buffer.alloc(8);
  if (crc !== 'zero') c.writeBigUInt64LE(crc64(head) ^ (crc === 'bad' ? 1n : 0n));
  return B(head, c);
}

/** Ziplist from raw entry encodings (prevlen computed here). */
export function ziplist(entries: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let prev = 0;
  let off = 10;
  let tail = 10;
  for (const e of entries) {
    const pl = prev < 254 ? Buffer.from([prev]) : B([0xfe], u32le(prev));
    const ent = B(pl, e);
    tail = off;
    parts.push(ent);
    off += ent.length;
    prev = ent.length;
  }
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(10);
  h.writeUInt32LE(10 + body.length + 1, 0);
  h.writeUInt32LE(tail, 4);
  h.writeUInt16LE(entries.length, 8);
  return B(h, body, [0xff]);
}

/** Listpack from raw entry encodings (backlen computed here). */
export function listpack(entries: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const l = e.length;
    const back: number[] = [];
    // backlen: 7 bits per byte, most significant group first, continuation bit on all but the last byte.
    let x = l;
    const groups: number[] = [];
    do {
      groups.unshift(x & 127);
      x = Math.floor(x / 128);
    } while (x > 0);
    groups.forEach((g, i) => {
      back.push(i === 0 ? g : g | 128);
    });
    parts.push(e, Buffer.from(back));
  }
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(6);
  h.writeUInt32LE(6 + body.length + 1, 0);
  h.writeUInt16LE(entries.length, 4);
  return B(h, body, [0xff]);
}

export function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function i64le(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}
