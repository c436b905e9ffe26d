/**
 * Typed errors of the RDB decoder. Every failure while decoding an RDB file or a DUMP payload is an
 * {@link RdbError} with one of the stable codes below, so callers switch on `code`, never on text.
 * (Ours because no kept npm package decodes RDB; `rdb-parser` does not exist on the registry.)
 */
import { ReplicantError } from '../errors.js';

export type RdbErrorCode =
  | 'ERR_RDB_CORRUPT'
  | 'ERR_RDB_TRUNCATED'
  | 'ERR_RDB_CHECKSUM'
  | 'ERR_RDB_UNSUPPORTED'
  | 'ERR_RDB_TOO_BIG'
  | 'ERR_RDB_VERSION';

const HINTS: Record<RdbErrorCode, string> = {
  ERR_RDB_CORRUPT: 'the file is damaged or not an RDB file; check it with `replicant rdb-inspect`',
  ERR_RDB_TRUNCATED:
    'the RDB ended early: the transfer was cut or the file is incomplete; fetch it again (or rerun the sync)',
  ERR_RDB_CHECKSUM:
    'the RDB checksum does not match: the file was damaged in transit or on disk; fetch it again',
  ERR_RDB_UNSUPPORTED: 'rerun with --skip-unsupported to skip and count such keys',
  ERR_RDB_TOO_BIG:
    'Redis writes compact blobs (listpack/ziplist/intset) of a few KiB with its default *-max-listpack-* settings; one this big cannot be checked or rewritten within our memory bound: lower those settings on the source and re-encode the key (e.g. DEBUG RELOAD), or delete/convert it there, then rerun',
  ERR_RDB_VERSION:
    'this RDB comes from a newer or unknown server version (or is not an RDB at all); upgrade replicant, or check that the file is an RDB',
};

export class RdbError extends ReplicantError {
  declare readonly code: RdbErrorCode;
  /** Absolute byte offset (from the start of the file or payload) where the problem was found, if known. */
  readonly offset: number | undefined;

  constructor(code: RdbErrorCode, message: string, offset?: number, cause?: unknown) {
    super(code, offset === undefined ? message : `${message} (at byte ${offset})`, {
      hint: HINTS[code],
      ...(cause === undefined ? {} : { cause }),
    });
    this.name = 'RdbError';
    this.offset = offset;
  }
}

export function corrupt(offset: number, what: string): RdbError {
  return new RdbError('ERR_RDB_CORRUPT', `corrupt RDB: ${what}`, offset);
}

export function unsupported(what: string, offset?: number): RdbError {
  return new RdbError('ERR_RDB_UNSUPPORTED', what, offset);
}
