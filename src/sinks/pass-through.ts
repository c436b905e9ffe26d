/**
 * PassThroughSink: a Sink that hands every call to `inner` unchanged. The wrappers between a source and
 * the writing sink (counting, stream-phase translation, checkpoint phases) extend it and override only
 * the calls they act on, so each states what it changes and nothing else.
 */
import type { CommandRecord, KeyMeta, Position, Sink, ValueChunk } from '../records.js';

export class PassThroughSink implements Sink {
  constructor(readonly inner: Sink) {}
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
  /** The decoder's "this key is now decoded into elements" signal, for sinks that have it. */
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
