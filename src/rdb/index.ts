/**
 * Public API of the RDB layer: streaming decoder, DUMP payloads, CRC64, LZF, compact-encoding cursors.
 * Ours because no kept npm package decodes RDB (`rdb-parser` does not exist on the registry).
 */
export { rawElementCount } from './count.js';
export { RdbDecoder } from './decoder.js';
export { buildDumpPayload, type DumpMeta, decodeDumpPayload } from './dump.js';
export { RdbError, type RdbErrorCode } from './errors.js';
export { Crc64, crc64, formatCrc } from './crc64.js';
export { lzfDecompress } from './lzf.js';
export { IntsetCursor, ListpackCursor, ZiplistCursor, ZipmapCursor, intToBuffer } from './compact.js';
export { parseScore } from './reader.js';
export {
  decodeModuleId,
  MAX_REDIS_VERSION,
  MAX_VALKEY_VERSION,
  MIN_VALKEY_VERSION,
  type RdbDecoderOptions,
  type RdbVisitor,
  rdbTypeToValueType,
  type SkipInfo,
} from './types.js';
