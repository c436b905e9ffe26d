/**
 * Stream-phase commands made fit for the target (issue #4 §4): relative expirations from old sources
 * turned absolute when received, and commands the target lacks translated (or refused by name).
 * A pass-through Sink wrapper so it sits between any source and any sink.
 *
 * Skeleton: passes everything through unchanged (the translations land with the version matrix).
 */
import type { CommandRecord, KeyMeta, Position, Sink, ValueChunk } from '../records.js';
import type { TargetCaps } from '../sinks/types.js';

export interface TranslateOptions {
  /** What the target accepts (from the probe). */
  target: TargetCaps;
  /** Clock for relative → absolute expirations (tests inject it). */
  now?: () => number;
}

export class TranslatingSink implements Sink {
  constructor(
    readonly inner: Sink,
    readonly opts: TranslateOptions,
  ) {}
  keyStart(meta: KeyMeta): void {
    this.inner.keyStart(meta);
  }
  keyRaw(chunk: Buffer): void {
    this.inner.keyRaw(chunk);
  }
  keyElements(chunk: ValueChunk): void {
    this.inner.keyElements(chunk);
  }
  keyEnd(): void {
    this.inner.keyEnd();
  }
  keyUpgraded(): void {
    (this.inner as Sink & { keyUpgraded?(): void }).keyUpgraded?.();
  }
  functionLibrary(code: Buffer): void {
    this.inner.functionLibrary(code);
  }
  command(rec: CommandRecord): void {
    this.inner.command(rec);
  }
  position(pos: Position): void {
    this.inner.position(pos);
  }
  onAck(cb: (pos: Position) => void): void {
    this.inner.onAck(cb);
  }
  get needsDrain(): boolean {
    return this.inner.needsDrain;
  }
  drain(): Promise<void> {
    return this.inner.drain();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
