/**
 * CheckpointSink: the Sink wrapper that tells a {@link CheckpointWriter} where the phases and the clean
 * points are. It sits between the source and the sink whose target connection is the writer:
 *
 *   ReplicaSource ─▶ CheckpointSink ─▶ (translate, count…) ─▶ StandaloneSink ─▶ CheckpointWriter ─▶ target
 *
 * - First snapshot call (key or function library): the writer marks the key "full copy in progress".
 * - First Position (end of the snapshot, or right after +CONTINUE): the sink is flushed before anything
 *   else goes out — the snapshot is then acknowledged in full (a refused key stops the run before any
 *   checkpoint says "complete"), and no skip-mode gate can hold writes back past the point where
 *   transactions begin. Records fed meanwhile (at most one feed piece) wait here, copied.
 * - Later Positions: passed to the sink, then to the writer as batch boundaries.
 * - flush()/close(): the writer closes its open batch first (otherwise the sink's flush would wait for
 *   replies that come only with the EXEC).
 */
import type { CommandRecord, KeyMeta, Position, Sink } from '../records.js';
import { copyRecord } from '../sinks/copy.js';
import { PassThroughSink } from '../sinks/pass-through.js';
import type { CheckpointWriter } from './writer.js';

type Held = { rec: CommandRecord; pos: null } | { rec: null; pos: Position };

export class CheckpointSink extends PassThroughSink {
  private snapshotMarked = false;
  private streaming = false;
  private settling: Promise<void> | null = null;
  private held: Held[] = [];
  private failure: Error | null = null;

  constructor(
    inner: Sink,
    readonly writer: CheckpointWriter,
  ) {
    super(inner);
  }

  private snapshotCall(): void {
    if (this.streaming && this.settling === null) {
      // A snapshot after the stream began: the source answered a resume with FULLRESYNC. A new full
      // copy, marked as such; its end is a new first Position.
      this.streaming = false;
      this.snapshotMarked = false;
    }
    if (this.snapshotMarked || this.streaming) return;
    this.snapshotMarked = true;
    this.writer.markSnapshot();
  }

  override keyStart(meta: KeyMeta): void {
    this.snapshotCall();
    this.inner.keyStart(meta);
  }
  override functionLibrary(code: Buffer): void {
    this.snapshotCall();
    this.inner.functionLibrary(code);
  }

  override command(rec: CommandRecord): void {
    if (this.settling !== null) this.held.push({ rec: copyRecord(rec), pos: null });
    else this.inner.command(rec);
  }

  override position(pos: Position): void {
    if (this.settling !== null) {
      this.held.push({ rec: null, pos });
      return;
    }
    if (!this.streaming) {
      this.streaming = true;
      this.inner.position(pos);
      this.settling = this.inner.flush().then(
        () => {
          this.writer.beginStream(pos);
          const q = this.held;
          this.held = [];
          this.settling = null;
          for (const h of q) {
            if (h.rec !== null) this.inner.command(h.rec);
            else this.forward(h.pos);
          }
        },
        (err: Error) => {
          this.failure = err;
          this.held = [];
          this.settling = null;
        },
      );
      return;
    }
    this.forward(pos);
  }

  private forward(pos: Position): void {
    this.inner.position(pos);
    this.writer.position(pos);
  }

  override get needsDrain(): boolean {
    return this.failure !== null || this.settling !== null || this.inner.needsDrain;
  }

  override async drain(): Promise<void> {
    while (this.settling !== null) await this.settling;
    if (this.failure !== null) throw this.failure;
    await this.inner.drain();
  }

  override async flush(): Promise<void> {
    while (this.settling !== null) await this.settling;
    if (this.failure !== null) throw this.failure;
    this.writer.closeNow();
    await this.inner.flush();
  }

  override async close(): Promise<void> {
    while (this.settling !== null) await this.settling;
    this.writer.closeNow();
    await this.inner.close();
    this.writer.stop();
  }
}
