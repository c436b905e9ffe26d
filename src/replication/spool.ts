/**
 * The spool between the replica link and the pipeline (docs/design.md §4): the link pushes what it
 * reads from the source at network speed, the consumer takes it at the target's pace. Whatever the
 * consumer hasn't taken waits here — in memory up to `memoryLimitBytes`, beyond that in files — so a
 * slow target never makes us read slowly and the source never drops us for a full output buffer.
 *
 * Order: frames come out exactly in the order they went in. Once anything is on disk, every new
 * frame also goes to disk until the reader has caught up with the files; then the files are deleted
 * and new frames stay in memory again. (Memory frames are always older than disk frames.)
 *
 * Disk format (one spool = one directory created with mkdtemp under `dir`):
 *   segment files `000000.spool`, `000001.spool`, … each a sequence of frames
 *     frame = kind:u8  length:u32 LE  data:<length bytes>
 *   kind 1 = RDB bytes, 2 = end of RDB (length 0), 3 = replication stream bytes.
 *   A segment is closed once it holds ≥ `segmentBytes`; the reader deletes a segment when it has read
 *   it to the end, so disk use shrinks while the consumer catches up.
 *
 * Disk I/O is synchronous on purpose: writes land in the page cache (tens of µs per socket chunk),
 * and doing them inline keeps frame order trivially correct without a write queue.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ReplicantError } from '../errors.js';

export const FRAME_RDB = 1;
export const FRAME_RDB_END = 2;
export const FRAME_STREAM = 3;
export type FrameKind = typeof FRAME_RDB | typeof FRAME_RDB_END | typeof FRAME_STREAM;

export interface Frame {
  kind: FrameKind;
  data: Buffer;
}

export interface SpoolOptions {
  /** Parent directory for spool files (the state directory); default the OS temp dir. */
  dir?: string;
  /** Bytes kept in memory before spilling to disk. Default 64 MiB. */
  memoryLimitBytes?: number;
  /** Disk budget; exceeding it fails the spool with ERR_SPOOL_FULL. Default 4 GiB. */
  diskLimitBytes?: number;
  /** Segment file size. Default 64 MiB. */
  segmentBytes?: number;
}

const HEADER = 5;
const READ_BLOCK = 1 << 20;
const EMPTY = Buffer.alloc(0);

export class Spool {
  readonly memoryLimitBytes: number;
  readonly diskLimitBytes: number;
  private readonly segmentBytes: number;
  private readonly parentDir: string;

  private mem: Frame[] = [];
  private memHead = 0;
  private memBytes = 0;

  private spoolDir: string | null = null;
  /** Segment numbers still on disk, oldest first; the last one is being written. */
  private segments: number[] = [];
  private nextSegment = 0;
  private writeFd = -1;
  private writeSize = 0;
  private readFd = -1;
  private readPos = 0;
  /** Bytes read from the current read segment but not yet returned as frames. */
  private rbuf: Buffer = EMPTY;
  /** Unread bytes on disk, headers included (what /status reports and the budget limits). */
  private diskUnread = 0;
  private diskFramesUnread = 0;

  private ended = false;
  private failure: Error | null = null;
  private waiter: (() => void) | null = null;
  /** Total bytes of frame data ever pushed (for tests and metrics). */
  pushedBytes = 0;

  constructor(opts: SpoolOptions = {}) {
    this.memoryLimitBytes = opts.memoryLimitBytes ?? 64 * 1024 * 1024;
    this.diskLimitBytes = opts.diskLimitBytes ?? 4 * 1024 * 1024 * 1024;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.parentDir = opts.dir ?? os.tmpdir();
  }

  /** Bytes waiting in memory. */
  get memoryBytes(): number {
    return this.memBytes;
  }
  /** Bytes waiting on disk (frame headers included). */
  get diskBytes(): number {
    return this.diskUnread;
  }
  /** Everything waiting: memory + disk. */
  get bytes(): number {
    return this.memBytes + this.diskUnread;
  }
  /** True once ended or failed and everything pushed has been taken. */
  get finished(): boolean {
    return (this.ended || this.failure !== null) && this.isEmpty();
  }
  get error(): Error | null {
    return this.failure;
  }

  /**
   * Append a frame. Throws ERR_SPOOL_FULL when the disk budget would be exceeded (the spool is then
   * failed too, so the consumer sees the same error after taking what is queued).
   */
  push(kind: FrameKind, data: Buffer): void {
    if (this.ended || this.failure) return;
    this.pushedBytes += data.length;
    if (this.diskFramesUnread > 0 || this.memBytes + data.length > this.memoryLimitBytes) {
      this.pushDisk(kind, data);
    } else {
      this.mem.push({ kind, data });
      this.memBytes += data.length;
    }
    this.wake();
  }

  /** Take the oldest frame, or null when nothing is waiting right now. */
  shift(): Frame | null {
    if (this.memHead < this.mem.length) {
      const f = this.mem[this.memHead]!;
      this.mem[this.memHead++] = undefined as unknown as Frame;
      this.memBytes -= f.data.length;
      // Compact now and then so the array doesn't grow without bound (shift() on arrays is O(n)).
      if (this.memHead >= 1024 && this.memHead * 2 >= this.mem.length) {
        this.mem = this.mem.slice(this.memHead);
        this.memHead = 0;
      }
      return f;
    }
    if (this.diskFramesUnread > 0) return this.readDisk();
    return null;
  }

  /** Resolves when a frame is waiting or the spool has finished (ended/failed). */
  readable(): Promise<void> {
    if (!this.isEmpty() || this.ended || this.failure) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Wake a consumer waiting in `readable()` without ending the spool (e.g. to let it see a stop). */
  interrupt(): void {
    this.wake();
  }

  /** No more frames will come; the consumer takes what is queued and then sees `finished`. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The producer failed; the consumer takes what is queued and then sees `error`. */
  fail(err: Error): void {
    if (this.failure || this.ended) return;
    this.failure = err;
    this.wake();
  }

  /** Drop everything and delete the spool files. */
  close(): void {
    this.ended = true;
    this.mem = [];
    this.memHead = 0;
    this.memBytes = 0;
    this.removeFiles();
    this.wake();
  }

  private isEmpty(): boolean {
    return this.memHead >= this.mem.length && this.diskFramesUnread === 0;
  }

  private wake(): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w();
    }
  }

  private pushDisk(kind: FrameKind, data: Buffer): void {
    const size = HEADER + data.length;
    if (this.diskUnread + size > this.diskLimitBytes) {
      const err = new ReplicantError(
        'ERR_SPOOL_FULL',
        `spool disk budget of ${this.diskLimitBytes} bytes exhausted (target too slow for the source's write rate)`,
        {
          hint: 'raise --spool-limit (and free disk in the state directory), or speed up the target (bigger pipeline window, closer network)',
        },
      );
      this.failure = err;
      this.wake();
      throw err;
    }
    if (this.spoolDir === null) {
      fs.mkdirSync(this.parentDir, { recursive: true });
      this.spoolDir = fs.mkdtempSync(path.join(this.parentDir, 'replicant-spool-'));
    }
    if (this.writeFd < 0 || this.writeSize >= this.segmentBytes) this.openWriteSegment();
    const hdr = Buffer.allocUnsafe(HEADER);
    hdr[0] = kind;
    hdr.writeUInt32LE(data.length, 1);
    fs.writevSync(this.writeFd, data.length > 0 ? [hdr, data] : [hdr]);
    this.writeSize += size;
    this.diskUnread += size;
    this.diskFramesUnread++;
  }

  private openWriteSegment(): void {
    if (this.writeFd >= 0) fs.closeSync(this.writeFd);
    const n = this.nextSegment++;
    this.writeFd = fs.openSync(this.segmentPath(n), 'a');
    this.writeSize = 0;
    this.segments.push(n);
  }

  private segmentPath(n: number): string {
    return path.join(this.spoolDir!, `${String(n).padStart(6, '0')}.spool`);
  }

  private readDisk(): Frame {
    for (;;) {
      if (this.rbuf.length >= HEADER) {
        const len = this.rbuf.readUInt32LE(1);
        if (this.rbuf.length >= HEADER + len) {
          const kind = this.rbuf[0] as FrameKind;
          const data = this.rbuf.subarray(HEADER, HEADER + len);
          this.rbuf = this.rbuf.subarray(HEADER + len);
          this.diskUnread -= HEADER + len;
          this.diskFramesUnread--;
          if (this.diskFramesUnread === 0) this.afterDrained();
          return { kind, data };
        }
      }
      this.fill();
    }
  }

  /** Read the next block of the current read segment (moving to the next segment at its end). */
  private fill(): void {
    if (this.readFd < 0) {
      this.readFd = fs.openSync(this.segmentPath(this.segments[0]!), 'r');
      this.readPos = 0;
    }
    const want = Math.max(READ_BLOCK, HEADER + (this.rbuf.length >= HEADER ? this.rbuf.readUInt32LE(1) : 0));
    // A fresh buffer per block: frames handed out are views into it and consumers may keep them.
    const block = Buffer.allocUnsafe(want);
    let have = 0;
    if (this.rbuf.length > 0) have = this.rbuf.copy(block, 0);
    const n = fs.readSync(this.readFd, block, have, want - have, this.readPos);
    this.readPos += n;
    if (n === 0) {
      if (this.segments.length < 2) {
        throw new Error('spool: disk frames counted but segment exhausted (bug)');
      }
      // Finished this segment (the writer has moved on): delete it and continue with the next one.
      fs.closeSync(this.readFd);
      fs.rmSync(this.segmentPath(this.segments.shift()!), { force: true });
      this.readFd = -1;
    }
    this.rbuf = block.subarray(0, have + n);
  }

  /** Reader caught up with the writer: delete the files so the next spill starts clean. */
  private afterDrained(): void {
    this.rbuf = EMPTY;
    if (this.readFd >= 0) fs.closeSync(this.readFd);
    if (this.writeFd >= 0) fs.closeSync(this.writeFd);
    this.readFd = -1;
    this.writeFd = -1;
    for (const n of this.segments) fs.rmSync(this.segmentPath(n), { force: true });
    this.segments = [];
  }

  private removeFiles(): void {
    if (this.readFd >= 0) fs.closeSync(this.readFd);
    if (this.writeFd >= 0) fs.closeSync(this.writeFd);
    this.readFd = -1;
    this.writeFd = -1;
    this.segments = [];
    this.rbuf = EMPTY;
    this.diskUnread = 0;
    this.diskFramesUnread = 0;
    if (this.spoolDir) fs.rmSync(this.spoolDir, { recursive: true, force: true });
    this.spoolDir = null;
  }
}
