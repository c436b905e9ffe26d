/**
 * RESP encode + resumable decode with byte counts (pure: Buffers in, values out).
 * Ours because the replication link needs per-value wire byte counts (see types.ts).
 */
export {
  type CommandArg,
  CommandWriter,
  digits,
  encodeArg,
  encodeCommand,
  encodedArgLength,
  encodedLength,
  encodeInto,
  writeHeader,
} from './encode.js';
export { RespDecoder } from './decoder.js';
export { isPush, NEED_MORE, PUSH, type RespDecoderOptions, type RespPush, type RespValue } from './types.js';
