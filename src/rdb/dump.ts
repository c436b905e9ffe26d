/**
 * DUMP/RESTORE payloads (docs/protocol.md §3): `type byte | body | 2-byte version LE | CRC64 LE`.
 * Ours because no kept npm package builds or parses them. Decoding runs the same value decoder as
 * the file decoder, in payload mode (the key comes from the caller).
 */
import type { KeyVisitor } from '../records.js';
import { Crc64, crc64, formatCrc } from './crc64.js';
import { RdbDecoder } from './decoder.js';
import { corrupt, RdbError } from './errors.js';
import {
  MAX_REDIS_VERSION,
  MAX_VALKEY_VERSION,
  MIN_VALKEY_VERSION,
  type RdbDecoderOptions,
  type RdbVisitor,
} from './types.js';

/** Build a RESTORE payload from an object type, its RDB body (as `keyRaw` delivered it) and the RDB version. */
export function buildDumpPayload(rdbType: number, body: Buffer | Buffer[], rdbVersion: number): Buffer {
  const parts = Array.isArray(body) ? body : [body];
  let bodyLen = 0;
  for (const p of parts) bodyLen += p.length;
  const out = Buffer.allocUnsafe(1 + bodyLen + 10);
  out[0] = rdbType;
  let o = 1;
  for (const p of parts) {
    p.copy(out, o);
    o += p.length;
  }
  out.writeUInt16LE(rdbVersion, o);
  o += 2;
  // The CRC as two 32-bit halves: no BigInt, no view of the payload.
  const c = new Crc64();
  c.update(out, 0, o);
  out.writeUInt32LE(c.lo, o);
  out.writeUInt32LE(c.hi, o + 4);
  return out;
}

export interface DumpMeta {
  db: number;
  key: Buffer;
  expireAtMs?: number | null;
}

/**
 * Verify a DUMP payload (version, CRC) and decode it into `visitor` as one key
 * (keyStart, keyRaw…, keyElements…, keyEnd). Throws RdbError on any problem.
 */
export function decodeDumpPayload(
  payload: Buffer,
  visitor: KeyVisitor,
  meta: DumpMeta,
  opts: RdbDecoderOptions & { skipChecksum?: boolean } = {},
): void {
  if (payload.length < 11) {
    throw corrupt(0, `DUMP payload of ${payload.length} bytes is shorter than type + version + checksum`);
  }
  const bodyEnd = payload.length - 10;
  const version = payload.readUInt16LE(bodyEnd);
  const stored = payload.readBigUInt64LE(bodyEnd + 2);
  const actual = crc64(payload.subarray(0, bodyEnd + 2));
  // skipChecksum mirrors Redis' debug skip-checksum-validation (corrupt-dump tests rely on it).
  if (stored !== actual && !opts.skipChecksum) {
    throw new RdbError(
      'ERR_RDB_CHECKSUM',
      `DUMP payload checksum mismatch: the payload says ${formatCrc(stored)}, its content hashes to ${formatCrc(actual)}`,
      bodyEnd + 2,
    );
  }
  const valkey = version >= MIN_VALKEY_VERSION;
  const max = valkey ? MAX_VALKEY_VERSION : MAX_REDIS_VERSION;
  if (version < 1 || (version > max && !opts.allowNewerVersions)) {
    throw new RdbError('ERR_RDB_VERSION', `unsupported DUMP payload RDB version ${version}`, bodyEnd);
  }
  const d = new RdbDecoder(visitor as RdbVisitor, { ...opts, expectedSize: bodyEnd });
  d.startPayload(valkey ? 'valkey' : 'redis', version, meta.db, meta.key, meta.expireAtMs ?? null);
  d.write(payload.subarray(0, bodyEnd));
  if (!d.done) {
    throw new RdbError('ERR_RDB_TRUNCATED', 'DUMP payload body ends in the middle of the value', bodyEnd);
  }
  if (d.trailingBytes > 0) {
    throw corrupt(
      bodyEnd - d.trailingBytes,
      `${d.trailingBytes} unexpected bytes after the value in a DUMP payload`,
    );
  }
}
