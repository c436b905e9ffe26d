/**
 * RDB numbers (docs/protocol.md §2.3–2.4) and the visitor/options of the decoder.
 * Ours because no kept npm package decodes RDB (`rdb-parser` does not exist on the registry).
 */
import type { KeyMeta, KeyVisitor, ValueType } from '../records.js';

export const OP = {
  EOF: 255,
  SELECTDB: 254,
  EXPIRETIME: 253,
  EXPIRETIME_MS: 252,
  RESIZEDB: 251,
  AUX: 250,
  FREQ: 249,
  IDLE: 248,
  MODULE_AUX: 247,
  FUNCTION_PRE_GA: 246,
  FUNCTION2: 245,
  SLOT_INFO: 244,
  /** Redis ≥ 13: KEY_META; Valkey ≥ 80: SLOT_IMPORT. */
  KEY_META_OR_SLOT_IMPORT: 243,
  /** Redis Enterprise: RAM_LRU and SLOT_NUM, one length each. */
  RE_RAM_LRU: 107,
  RE_SLOT_NUM: 121,
} as const;

/** Highest RDB version we decode per family (`allowNewerVersions` lifts the check). */
export const MAX_REDIS_VERSION = 13;
export const MIN_VALKEY_VERSION = 80;
export const MAX_VALKEY_VERSION = 80;

/** Logical type of an RDB object type byte, or null when the id is unknown to this family/version. */
export function rdbTypeToValueType(rdbType: number, family: 'redis' | 'valkey' = 'redis'): ValueType | null {
  switch (rdbType) {
    case 0:
      return 'string';
    case 1:
    case 10:
    case 14:
    case 18:
      return 'list';
    case 2:
    case 11:
    case 20:
      return 'set';
    case 3:
    case 5:
    case 12:
    case 17:
      return 'zset';
    case 4:
    case 9:
    case 13:
    case 16:
    case 22:
      return 'hash';
    case 23:
    case 24:
    case 25:
      return family === 'redis' ? 'hash' : null;
    case 15:
    case 19:
    case 21:
      return 'stream';
    case 26:
      return family === 'redis' ? 'stream' : null;
    case 6:
    case 7:
      return 'module';
    default:
      return null;
  }
}

export interface SkipInfo {
  kind: 'type' | 'opcode';
  id: number;
  key?: Buffer;
  rdbVersion: number;
  reason: string;
}

/**
 * What the decoder reports. Everything beyond {@link KeyVisitor} is optional. Calls are synchronous
 * and in file order. Buffers are views valid only during the call (copy to keep).
 */
export interface RdbVisitor extends KeyVisitor {
  header?(magic: 'REDIS' | 'VALKEY', version: number): void;
  aux?(key: Buffer, value: Buffer): void;
  selectDb?(db: number): void;
  resizeDb?(size: number, expires: number): void;
  /** Redis 7.4+ cluster SLOT_INFO opcode. */
  slotInfo?(slot: number, size: number, expiresSize: number): void;
  /** Valkey 9 SLOT_IMPORT opcode: the migration job and its slot ranges (flat start,end pairs). */
  slotImport?(jobName: Buffer, ranges: number[]): void;
  /** MODULE_AUX: the module type name and the bytes after the module id (when, opcodes, EOF). */
  moduleAux?(moduleName: string, raw: Buffer): void;
  skipped?(info: SkipInfo): void;
  /**
   * Auto mode only: the current key was being read raw-only and its raw body passed `rawOnlyMaxBytes`,
   * so it is now decoded. Called once, before its first `keyElements`; the chunks that follow cover the
   * whole value from its first element. `keyRaw` keeps flowing (all the body, exactly once).
   */
  keyUpgraded?(): void;
  end?(info: { crc: 'ok' | 'zero' | 'absent' }): void;
}

export interface RdbDecoderOptions {
  /** Flush a ValueChunk after this many elements (default 1024). */
  maxChunkElements?: number;
  /** Flush a ValueChunk after this many element bytes (default 1 MiB); also the size of string pieces. */
  maxChunkBytes?: number;
  /** Largest blob held whole (compact encodings, LZF strings, elements); default 1 GiB. */
  maxBlobBytes?: number;
  /**
   * Largest compact blob (ziplist, listpack, intset, zipmap, quicklist or stream node) read whole to
   * be validated; a bigger one fails with ERR_RDB_TOO_BIG before it is read. Default 64 MiB (Redis's
   * own are a few KiB with default settings). Bounds the memory one such value can take.
   */
  maxCompactBytes?: number;
  /** 'skip' skips unsupported items whose extent is known (and reports them); default 'error'. */
  onUnsupported?: 'error' | 'skip';
  /** Try to decode files whose version is newer than the ones we know (unknown types still fail). */
  allowNewerVersions?: boolean;
  /**
   * true (default) = decode every value into `keyElements` (and deliver `keyRaw`).
   * false = raw-only: walk each value just enough to find its extent and deliver `keyRaw` (what a
   * RESTORE needs), with no `keyElements` and no decoding of compact blobs or LZF.
   * 'auto' (implied by `wantElements`) = per key: decoded when `wantElements(meta)` is true, else
   * raw-only until the raw body passes `rawOnlyMaxBytes`, then upgraded to decoded (see `keyUpgraded`).
   */
  decodeValues?: boolean | 'auto';
  /**
   * Auto mode: called for each key right after `keyStart` (same meta). true = deliver this key's
   * elements; false = raw-only unless it turns out bigger than `rawOnlyMaxBytes`. Without it, auto
   * mode treats every key as raw-only (the RESTORE fast path).
   */
  wantElements?: (meta: KeyMeta) => boolean;
  /**
   * Auto mode: a raw-only key whose raw body grows past this many bytes is upgraded to decoded mode
   * (its elements from the first one). Also the most raw bytes kept per key to make that possible.
   * Default 16 MiB; Infinity = never upgrade (and keep nothing). Module values (type 7) have no
   * elements and are never upgraded.
   */
  rawOnlyMaxBytes?: number;
  /**
   * Auto mode: the visitor keeps the watched key's raw body itself (a sink collecting it for RESTORE)
   * and hands it back here for an upgrade — everything `keyRaw` delivered since `keyStart`, contiguous —
   * so the decoder keeps no copy of its own and joins nothing: the big key is held once, not three
   * times. Returns null when the visitor no longer wants the key (dropped, failed): then there is no
   * upgrade, the key stays raw-only to its end. A length that is not the body's is ERR_INTERNAL.
   */
  rawReplay?: () => Buffer | null;
  /** Total input size when known (file size): declared lengths beyond it fail at once. */
  expectedSize?: number;
  /**
   * Backpressure inside one write(): checked between parsing steps (see yieldMinBytes for which); true = return now, keeping the
   * rest of the input (our own copy), and go on at the next write() (an empty one will do) or end().
   * Bounds what one write() hands the visitor — e.g. an upgraded big key re-read from its start, up to
   * rawOnlyMaxBytes at once. Usually the sink's `needsDrain`; the caller then awaits its drain.
   */
  yieldWhen?: () => boolean;
  /**
   * yieldWhen is asked only while at least this much input is in hand in a buffer of our own (a join:
   * an upgraded key's re-read, chunks joined for a big element); a caller's chunk is parsed whole.
   * Default 2 MiB; 0 (tests) = between any two steps over our own buffer.
   */
  yieldMinBytes?: number;
}

/** Module type name from a 64-bit module id: 9 × 6-bit chars then a 10-bit encoding version. */
const MODULE_CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export function decodeModuleId(hi: number, lo: number): { name: string; encver: number } {
  const id = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const encver = Number(id & 1023n);
  let rest = id >> 10n;
  let name = '';
  for (let i = 0; i < 9; i++) {
    name = MODULE_CHARSET[Number(rest & 63n)]! + name;
    rest >>= 6n;
  }
  return { name, encver };
}
