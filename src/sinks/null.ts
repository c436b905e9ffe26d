/**
 * NullSink: counts what it is fed and writes nothing (benches, `--dry-run`). Positions are acked at
 * once — nothing is outstanding — so a checkpoint driven by it advances as fast as records arrive.
 */
import type { CommandRecord, KeyMeta, Position, Sink, ValueChunk } from '../records.js';
import { countSkipped, newSinkStats, type SinkStats } from './types.js';

export class NullSink implements Sink {
  readonly stats: SinkStats = newSinkStats();
  readonly needsDrain = false;
  /** Raw and decoded bytes seen (a dry run reports how much would have been written). */
  rawBytes = 0;
  elementChunks = 0;
  private readonly acks: ((pos: Position) => void)[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  keyStart(meta: KeyMeta): void {
    this.stats.keys[meta.type]++;
    if (meta.expireAtMs !== null && meta.expireAtMs <= this.now()) countSkipped(this.stats, 'expired');
  }

  keyRaw(chunk: Buffer): void {
    this.rawBytes += chunk.length;
  }

  keyElements(_chunk: ValueChunk): void {
    this.elementChunks++;
  }

  keyEnd(): void {}

  functionLibrary(_code: Buffer): void {
    this.stats.functions++;
  }

  command(_rec: CommandRecord): void {
    this.stats.commands++;
  }

  position(pos: Position): void {
    for (const cb of this.acks) cb(pos);
  }

  onAck(cb: (pos: Position) => void): void {
    this.acks.push(cb);
  }

  drain(): Promise<void> {
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
