/**
 * RESP value types shared by the encoder and the decoder (RESP2 + RESP3).
 *
 * Why our own RESP module: the replication link counts offsets byte-exactly, so the decoder must
 * report how many wire bytes each value took (`lastLength`) — no package we keep reports that.
 */
import type { ServerReplyError } from '../errors.js';

/** Returned by `RespDecoder.next()`/`readLine()` when the buffered bytes hold no complete value. */
export const NEED_MORE: unique symbol = Symbol('resp.need-more');

/** Marks a RESP3 push (`>`) array so it can be told apart from a reply. */
export const PUSH: unique symbol = Symbol('resp.push');

/**
 * A decoded value. Simple string → string; error → ServerReplyError (returned, not thrown);
 * integer → number (bigint beyond ±2^53); bulk/verbatim → Buffer; null bulk/array/`_` → null;
 * array/set → RespValue[]; map → Map; push → RespPush; `#` → boolean; `,` → number; `(` → bigint.
 */
export type RespValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Buffer
  | ServerReplyError
  | RespValue[]
  | RespPush
  | Map<RespValue, RespValue>;

/** A RESP3 out-of-band push: an ordinary array carrying the {@link PUSH} mark. */
export interface RespPush extends Array<RespValue> {
  readonly [PUSH]: true;
}

export function isPush(v: unknown): v is RespPush {
  return Array.isArray(v) && (v as Partial<RespPush>)[PUSH] === true;
}

export interface RespDecoderOptions {
  /** Largest accepted bulk string (`$`, `=`, `!`) in bytes. Default 512 MiB (Redis proto-max-bulk-len). */
  maxBulkBytes?: number;
  /** Largest accepted aggregate element count. Default 2^31. */
  maxElements?: number;
  /** Longest accepted line (simple string, error, number, header) in bytes. Default 1 MiB. */
  maxLineBytes?: number;
}
