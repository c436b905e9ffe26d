/**
 * Crafted RDB files for the hostile tests: a good key, then one key whose compact value is damaged in
 * one way, with the file's CRC64 recomputed (valid) unless asked otherwise — what a careless or hostile
 * tool can produce and what Redis 7.0 (`sanitize-dump-payload no`) trusts on RESTORE.
 */
import { crc64 } from '../../src/rdb/index.js';
import { B, listpack, str, ziplist } from '../rdb/build.js';

const s6 = (t: string): Buffer => B([0x80 | t.length], t);

/** `REDIS00vv`, SELECT 0, key "good" = "ok", then `type "bad" body`, EOF and a valid (or flipped) CRC. */
export function craftedFile(version: number, type: number, body: Buffer, crc: 'ok' | 'bad' = 'ok'): Buffer {
  const head = B(
    `REDIS${String(version).padStart(4, '0')}`,
    [0xfe, 0],
    [0],
    str('good'),
    str('ok'),
    [type],
    str('bad'),
    body,
    [0xff],
  );
  const c = Buffer.alloc(8);
  c.writeBigUInt64LE(crc64(head) ^ (crc === 'bad' ? 0x5an : 0n));
  return B(head, c);
}

/** A listpack with a header entry count forced to `numele`. */
function lpCount(entries: Buffer[], numele: number): Buffer {
  const b = listpack(entries);
  b.writeUInt16LE(numele, 4);
  return b;
}

export interface Case {
  name: string;
  file: Buffer;
  /** The rule the error must name. */
  rule: RegExp;
}

/** One case per compact encoding; each would be RESTOREd as is before deep validation. */
export function cases(): Case[] {
  // Hash listpack whose entry-count header was damaged (300 > hash-max-listpack-entries) and whose 4th
  // entry has an invalid encoding byte: Redis 7.0 converts it on RESTORE and dies in lpValidateNext.
  const hashLp = lpCount([s6('a'), s6('1'), s6('b'), B([0xf5])], 300);
  // Quicklist v2 node (listpack) whose 2nd entry is damaged: RESTORE passes, LRANGE kills the server.
  const qlNode = listpack([s6('a'), B([0xf5]), s6('c')]);
  // Quicklist v1 node (ziplist) whose 2nd entry's prevlen lies.
  const zl = ziplist([B([1], 'a'), B([1], 'b'), B([1], 'c')]);
  zl[10 + 3] = 0x40;
  // Intset with its elements out of order (and a duplicate).
  const is = B([2, 0, 0, 0], [3, 0, 0, 0], [5, 0], [1, 0], [1, 0]);
  // Zipmap whose count byte says 3 pairs for 2.
  const zm = B([3], [1], 'a', [1, 0], '1', [1], 'b', [1, 0], '2', [0xff]);
  // Zset listpack with a duplicate member.
  const zsetLp = listpack([s6('m'), B([1]), s6('m'), B([2])]);
  // Stream node whose entry lp-count is wrong (t_stream.c checks it only with deep sanitization).
  const I = (n: number): Buffer => B([n]);
  const node = listpack([I(1), I(0), I(1), s6('f'), I(0), I(2), I(0), I(0), s6('v'), I(9)]);
  const id = Buffer.alloc(16);
  id.writeUInt32BE(1, 4);
  const stream = B([1], str(id), str(node), [1], [1], [0], [0]); // 1 node; length 1, last id 1-0, 0 groups
  // A valid node, then a group whose PEL holds 1-0 but no consumer owns it (checked by Redis only with
  // deep sanitization; XPENDING/XCLAIM would then follow a missing consumer).
  const okNode = listpack([I(1), I(0), I(1), s6('f'), I(0), I(2), I(0), I(0), s6('v'), I(4)]);
  const pelId = Buffer.alloc(16);
  pelId.writeUInt32BE(1, 4);
  const orphan = B(
    [1],
    str(id),
    str(okNode),
    [1],
    [1],
    [0], // length 1, last id 1-0
    [1],
    str('g'),
    [1],
    [0], // 1 group "g", last delivered 1-0
    [1],
    pelId,
    Buffer.alloc(8),
    [1], // PEL: 1-0, delivery time 0, count 1
    [0], // 0 consumers
  );
  return [
    {
      name: 'hash listpack, damaged entry-count header + bad entry',
      file: craftedFile(10, 16, str(hashLp)),
      rule: /hash listpack: (header declares 300 entries|invalid entry encoding byte 0xf5)/,
    },
    {
      name: 'quicklist listpack node, damaged entry',
      file: craftedFile(10, 18, B([1], [2], str(qlNode))),
      rule: /quicklist listpack node: invalid entry encoding byte 0xf5/,
    },
    {
      name: 'quicklist ziplist node, prevlen mismatch',
      file: craftedFile(9, 14, B([1], str(zl))),
      rule: /quicklist ziplist node: prevlen says 64, the previous entry has 3 bytes/,
    },
    {
      name: 'intset, unsorted with a duplicate',
      file: craftedFile(9, 11, str(is)),
      rule: /intset: element 1 is not greater than the one before/,
    },
    {
      name: 'zipmap, wrong pair count',
      file: craftedFile(9, 9, str(zm)),
      rule: /zipmap: header declares 3 pairs, the blob holds 2/,
    },
    {
      name: 'zset listpack, duplicate member',
      file: craftedFile(10, 17, str(zsetLp)),
      rule: /zset listpack: duplicate field "m"/,
    },
    {
      name: 'stream group PEL entry without a consumer',
      file: craftedFile(9, 15, orphan),
      rule: /consumer group PEL entry 1-0 has no consumer/,
    },
    {
      name: 'stream node listpack, wrong lp-count',
      file: craftedFile(9, 15, stream),
      rule: /stream node listpack: entry lp-count 9 does not match its 4 elements/,
    },
  ];
}
