/**
 * RDB file source: streams a file (≈1 MiB reads) through the streaming RdbDecoder into a visitor
 * (a FilterStage in front of a Sink, or rdb-inspect's counter). Memory stays bounded whatever the
 * file size: one read chunk plus the decoder's own bounded buffers.
 *
 * Flow control (records.ts Sink contract): after each chunk is decoded, if the consumer reports
 * `needsDrain` we await `drain()` before reading more; the file is not read while we wait.
 *
 * One read buffer, reused for every chunk: the decoder's contract is that nothing points into a chunk
 * once write() returns (it and the sinks copy what they keep). A fresh 1 MiB Buffer per read — what
 * fs.createReadStream does — is external memory V8 collects only in ~64 MiB steps: on test/bigkeys
 * (237 MB file) that was ~60 MiB of read chunks waiting for a GC, in RSS at the peak.
 */
import { promises as fsp } from 'node:fs';
import { ReplicantError } from '../errors.js';
import {
  Crc64,
  formatCrc,
  RdbDecoder,
  type RdbDecoderOptions,
  RdbError,
  type RdbVisitor,
} from '../rdb/index.js';

const EMPTY = Buffer.alloc(0);

export interface FlowControl {
  readonly needsDrain: boolean;
  drain(): Promise<void>;
}

export interface RdbFileOptions {
  decoder?: RdbDecoderOptions;
  /** Read size; default 1 MiB (large enough to amortise syscalls, small enough to bound memory). */
  chunkBytes?: number;
  flow?: FlowControl;
  /** Aborting stops reading at the next chunk boundary and rejects with ERR_INTERRUPTED. */
  signal?: AbortSignal;
  /** Called after each chunk with the running total of bytes decoded. */
  onBytes?: (bytesRead: number) => void;
  /**
   * Check the file's CRC64 in a first pass, before the visitor sees anything (so a damaged file
   * writes nothing); see verifyRdbFileCrc. Default false here; `restore` turns it on.
   */
  verifyCrc?: boolean;
}

export interface RdbFileResult {
  bytes: number;
  checksum: 'ok' | 'zero' | 'absent' | null;
  trailingBytes: number;
}

/** Check the path names a readable regular file; returns its size. Throws ERR_RDB_FILE with a hint. */
export async function statRdbFile(path: string): Promise<number> {
  let st: import('node:fs').Stats;
  try {
    st = await fsp.stat(path);
    await fsp.access(path, fsp.constants.R_OK);
  } catch (err) {
    throw fileError(path, err);
  }
  if (!st.isFile())
    throw new ReplicantError(
      'ERR_RDB_FILE',
      `${path} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`,
      {
        hint: 'pass the path of the .rdb file itself (e.g. <dir>/dump.rdb)',
      },
    );
  return st.size;
}

function fileError(path: string, err: unknown): ReplicantError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory'
          : ((err as Error).message ?? String(err));
  return new ReplicantError('ERR_RDB_FILE', `cannot read RDB file ${path}: ${why}`, {
    hint:
      code === 'ENOENT'
        ? 'check the path; redis writes dump.rdb into its `dir` (CONFIG GET dir)'
        : code === 'EACCES' || code === 'EPERM'
          ? 'run as a user that can read the file, or copy it somewhere readable'
          : 'check the path and that the file is readable',
    cause: err,
  });
}

export function interruptedError(what: string): ReplicantError {
  return new ReplicantError('ERR_INTERRUPTED', `interrupted: ${what}`, {
    hint: 'the target holds a partial copy; rerun the command (--on-conflict overwrite) to load it completely',
  });
}

/**
 * Decode the whole file into `visitor`. Resolves when the EOF opcode and checksum were read (and
 * `flow` drained between chunks); rejects with an RdbError (typed, with the byte offset), an
 * ERR_RDB_FILE error, or ERR_INTERRUPTED when `signal` fired.
 */
export async function readRdbFile(
  path: string,
  visitor: RdbVisitor,
  o: RdbFileOptions = {},
): Promise<RdbFileResult> {
  const size = await statRdbFile(path);
  if (o.verifyCrc) await verifyRdbFileCrc(path, size, o);
  const decoder = new RdbDecoder(visitor, { expectedSize: size, ...o.decoder });
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (err) {
    throw fileError(path, err);
  }
  const buf = Buffer.allocUnsafeSlow(Math.max(1, o.chunkBytes ?? 1 << 20));
  let bytes = 0;
  try {
    for (;;) {
      if (o.signal?.aborted) throw interruptedError(`stopped after ${bytes} of ${size} bytes`);
      const { bytesRead } = await fh.read(buf, 0, buf.length, bytes);
      if (bytesRead === 0) break; // end of file (a file that grew while read is read to its new end)
      decoder.write(buf.subarray(0, bytesRead));
      bytes += bytesRead;
      o.onBytes?.(bytes);
      // A decoder that yielded (backpressure inside a big key) finishes its input before it gets more.
      for (;;) {
        if (o.flow?.needsDrain) await o.flow.drain();
        if (!decoder.yielded) break;
        decoder.write(EMPTY);
      }
    }
  } catch (err) {
    if (err instanceof ReplicantError) throw err;
    throw fileError(path, err);
  } finally {
    await fh.close().catch(() => {});
  }
  if (o.signal?.aborted) throw interruptedError(`stopped after ${bytes} of ${size} bytes`);
  decoder.end();
  return { bytes, checksum: decoder.checksum, trailingBytes: decoder.trailingBytes };
}

/** What the first pass found: the checksum matched, the file has none (zero / RDB < 5), or it was checked by decoding. */
export type CrcCheck = 'ok' | 'zero' | 'absent' | 'decoded';

/** A visitor that keeps nothing: the fallback pass only wants the decoder's own checks. */
const NULL_VISITOR: RdbVisitor = {
  keyStart() {},
  keyRaw() {},
  keyElements() {},
  keyEnd() {},
  functionLibrary() {},
};

/**
 * First pass of `restore`: verify the file's CRC64 before anything is written, so a file damaged on
 * disk or in transit (a wrong checksum, a truncation) writes nothing at all. Redis writes the CRC of
 * everything before it as the last 8 bytes, after the EOF opcode: that is hashed at read speed (one
 * extra read of the file; see the README for the measured cost). A file that does not end that way
 * (bytes appended after the checksum, RDB < 5, or a mismatch that might be one of those) gets a
 * raw-only decoding pass instead, whose own EOF check is exact — any failure is the decoder's typed
 * error (ERR_RDB_CHECKSUM, ERR_RDB_TRUNCATED, ERR_RDB_CORRUPT…), with nothing written.
 */
export async function verifyRdbFileCrc(
  path: string,
  size: number,
  o: Pick<RdbFileOptions, 'chunkBytes' | 'signal' | 'decoder'> = {},
): Promise<CrcCheck> {
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (err) {
    throw fileError(path, err);
  }
  const buf = Buffer.allocUnsafeSlow(Math.max(1 << 16, o.chunkBytes ?? 1 << 20));
  try {
    const head = Buffer.alloc(9);
    const tail = Buffer.alloc(9);
    await fh.read(head, 0, 9, 0);
    if (size >= 18) await fh.read(tail, 0, 9, size - 9);
    const digits = head.toString('latin1', head.toString('latin1', 0, 6) === 'VALKEY' ? 6 : 5, 9);
    const version = /^[0-9]+$/.test(digits) ? Number(digits) : 0;
    const stored = tail.subarray(1);
    const plain = size >= 18 && version >= 5 && tail[0] === 0xff;
    if (plain && stored.readUInt32LE(0) === 0 && stored.readUInt32LE(4) === 0) return 'zero';
    if (plain) {
      const crc = new Crc64();
      const end = size - 8;
      for (let at = 0; at < end; ) {
        if (o.signal?.aborted)
          throw interruptedError(`stopped while checking the CRC (${at} of ${size} bytes)`);
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - at), at);
        if (bytesRead === 0) break;
        crc.update(buf, 0, bytesRead);
        at += bytesRead;
      }
      if (stored.readUInt32LE(0) === crc.lo && stored.readUInt32LE(4) === crc.hi) return 'ok';
    }
    // Not the plain layout, or a mismatch: let the decoder find the real EOF and judge.
    const d = new RdbDecoder(NULL_VISITOR, {
      expectedSize: size,
      decodeValues: false,
      ...(o.decoder?.onUnsupported === undefined ? {} : { onUnsupported: o.decoder.onUnsupported }),
      ...(o.decoder?.allowNewerVersions === undefined
        ? {}
        : { allowNewerVersions: o.decoder.allowNewerVersions }),
    });
    for (let at = 0; at < size; ) {
      if (o.signal?.aborted)
        throw interruptedError(`stopped while checking the CRC (${at} of ${size} bytes)`);
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      d.write(buf.subarray(0, bytesRead));
      at += bytesRead;
      if (d.done) break;
    }
    d.end();
    if (plain && d.trailingBytes === 0) {
      // Unreachable in practice: the decoder hashes the same bytes. Kept so a mismatch can never pass.
      throw new RdbError(
        'ERR_RDB_CHECKSUM',
        `RDB checksum mismatch: the file's last 8 bytes (${formatCrc(stored.readBigUInt64LE(0))}) do not match its content`,
        size - 8,
      );
    }
    return 'decoded';
  } catch (err) {
    if (err instanceof ReplicantError) throw err;
    throw fileError(path, err);
  } finally {
    await fh.close().catch(() => {});
  }
}
