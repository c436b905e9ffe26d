/**
 * Element count of a value from its raw RDB body, read from the encoding's own headers only (length
 * prefixes, ziplist zllen, listpack numele, intset length, zipmap zmlen; quicklist nodes walked header
 * by header). Lets a consumer that holds the raw body — the sink deciding on RESTORE — find the empty
 * collections Redis' own loader skips (rdbLoadObject: "empty keys") without decoding the value.
 * Pure and tolerant: anything it cannot tell (LZF-compressed blob, saturated count, short or odd
 * input, a type without elements) is -1, never an error; the decoder proper judges corruption.
 */

/** RDB string at `o`: [start, length] of a plain string, or null (int- or LZF-encoded, or short). */
function plainStr(b: Buffer, o: number): [number, number] | null {
  if (o >= b.length) return null;
  const c = b[o]!;
  const t = c >>> 6;
  if (t === 0) return [o + 1, c & 0x3f];
  if (t === 1) return o + 1 < b.length ? [o + 2, ((c & 0x3f) << 8) | b[o + 1]!] : null;
  if (c === 0x80) return o + 5 <= b.length ? [o + 5, b.readUInt32BE(o + 1)] : null;
  if (c === 0x81) {
    if (o + 9 > b.length || b.readUInt32BE(o + 1) !== 0) return null;
    return [o + 9, b.readUInt32BE(o + 5)];
  }
  return null;
}

/** RDB length at `o`: [next offset, value], or null (encoded string marker or short input). */
function rdbLen(b: Buffer, o: number): [number, number] | null {
  const s = plainStr(b, o);
  return s === null ? null : [s[0], s[1]];
}

const ZIPLIST = 0;
const LISTPACK = 1;
const INTSET = 2;
const ZIPMAP = 3;

/** Entries in a compact blob from its header; -1 when the header doesn't say (or isn't there). */
function blobCount(enc: number, b: Buffer, o: number, n: number): number {
  if (o + n > b.length) return -1;
  switch (enc) {
    case ZIPLIST: {
      if (n < 10) return -1;
      const c = b.readUInt16LE(o + 8);
      return c === 0xffff ? -1 : c;
    }
    case LISTPACK: {
      if (n < 6) return -1;
      const c = b.readUInt16LE(o + 4);
      return c === 0xffff ? -1 : c;
    }
    case INTSET:
      return n < 8 ? -1 : b.readUInt32LE(o + 4);
    default:
      return n < 1 || b[o]! >= 254 ? -1 : b[o]!;
  }
}

/** A whole-value blob (RDB string) at `o` of the given encoding, `per` entries to an element. */
function strBlobCount(enc: number, b: Buffer, o: number, per = 1): number {
  const s = plainStr(b, o);
  const n = s === null ? -1 : blobCount(enc, b, s[0], s[1]);
  return n < 0 || n % per !== 0 ? -1 : n / per;
}

/** Quicklist (type 14 ziplist nodes, type 18 with a container per node): elements over all nodes. */
function quicklistCount(b: Buffer, v2: boolean): number {
  const head = rdbLen(b, 0);
  if (head === null) return -1;
  let [o, nodes] = head;
  let total = 0;
  for (let i = 0; i < nodes; i++) {
    let container = 2;
    if (v2) {
      const c = rdbLen(b, o);
      if (c === null) return -1;
      [o, container] = c;
    }
    const s = plainStr(b, o);
    if (s === null) return -1; // an LZF node: compressed only when big, so not empty — but unknown here
    if (container === 1) total++;
    else {
      const c = blobCount(v2 ? LISTPACK : ZIPLIST, b, s[0], s[1]);
      if (c < 0) return -1;
      total += c;
    }
    o = s[0] + s[1];
  }
  return total;
}

/**
 * Elements of a list/set/zset/hash value (fields for a hash) from its raw body, -1 when unknown.
 * Strings, streams and module values: always -1 (an empty string or stream is a real value). Type 22
 * starts with the field count in both of its meanings (Valkey's HASH_2, Redis' pre-GA HASH_METADATA).
 */
export function rawElementCount(rdbType: number, body: Buffer): number {
  switch (rdbType) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 22: {
      const l = rdbLen(body, 0);
      return l === null ? -1 : l[1];
    }
    case 24: {
      const l = rdbLen(body, 8); // after the 8-byte minimum expire
      return l === null ? -1 : l[1];
    }
    case 9:
      return strBlobCount(ZIPMAP, body, 0);
    case 10:
      return strBlobCount(ZIPLIST, body, 0);
    case 12:
    case 13:
      return strBlobCount(ZIPLIST, body, 0, 2); // member,score / field,value
    case 11:
      return strBlobCount(INTSET, body, 0);
    case 20:
      return strBlobCount(LISTPACK, body, 0);
    case 16:
    case 17:
      return strBlobCount(LISTPACK, body, 0, 2);
    case 23:
      return strBlobCount(LISTPACK, body, 0, 3); // field,value,ttl
    case 25:
      return strBlobCount(LISTPACK, body, 8, 3);
    case 14:
      return quicklistCount(body, false);
    case 18:
      return quicklistCount(body, true);
    default:
      return -1;
  }
}
