/**
 * A Sink for tests: records what it is fed (copying Buffers, which may be views), acks positions on
 * the next macrotask (like a target answering), and can play a slow target through needsDrain/drain.
 */
import type { CommandRecord, KeyMeta, Position, Sink, ValueChunk } from '../../src/records.js';

export interface RecordedKey {
  meta: KeyMeta;
  raw: number;
  chunks: ValueChunk[];
}

export class RecordingSink implements Sink {
  keys: RecordedKey[] = [];
  commands: CommandRecord[] = [];
  positions: Position[] = [];
  functions: Buffer[] = [];
  /** When set, commands are passed here instead of being stored (big streams). */
  onCommand: ((rec: CommandRecord) => void) | null = null;
  /** Slow target: every feed makes needsDrain true, and drain() takes this long. */
  drainMs = 0;
  /** Acks are delayed until flush() when false. */
  autoAck = true;
  drains = 0;

  private ackCb: ((p: Position) => void) | null = null;
  private pending: Position[] = [];
  private current: RecordedKey | null = null;
  private fed = false;

  get needsDrain(): boolean {
    return this.drainMs > 0 && this.fed;
  }
  async drain(): Promise<void> {
    this.drains++;
    await new Promise((r) => setTimeout(r, this.drainMs));
    this.fed = false;
  }
  keyStart(meta: KeyMeta): void {
    this.fed = true;
    this.current = { meta: { ...meta, key: Buffer.from(meta.key) }, raw: 0, chunks: [] };
    this.keys.push(this.current);
  }
  keyRaw(chunk: Buffer): void {
    this.current!.raw += chunk.length;
  }
  keyElements(chunk: ValueChunk): void {
    this.current!.chunks.push(copyChunk(chunk));
  }
  keyEnd(): void {
    this.current = null;
  }
  functionLibrary(code: Buffer): void {
    this.functions.push(Buffer.from(code));
  }
  command(rec: CommandRecord): void {
    this.fed = true;
    if (this.onCommand) this.onCommand(rec);
    else this.commands.push(rec);
  }
  position(pos: Position): void {
    this.positions.push(pos);
    this.pending.push(pos);
    if (this.autoAck) setImmediate(() => this.ackAll());
  }
  onAck(cb: (p: Position) => void): void {
    this.ackCb = cb;
  }
  async flush(): Promise<void> {
    this.ackAll();
  }
  async close(): Promise<void> {}

  /** Value of a recorded string key, or of a key by name. */
  stringValue(key: string, db = 0): string | undefined {
    const k = this.keys.find((x) => x.meta.db === db && x.meta.key.toString() === key);
    if (!k) return undefined;
    return k.chunks.map((c) => (c.kind === 'string' ? c.data.toString() : '')).join('');
  }

  private ackAll(): void {
    const p = this.pending;
    this.pending = [];
    for (const pos of p) this.ackCb?.(pos);
  }
}

/** A command record as lowercase-name strings, for comparisons. */
export function show(rec: CommandRecord): string {
  const one = (argv: Buffer[]) => [argv[0]!.toString().toLowerCase(), ...argv.slice(1).map(String)].join(' ');
  return rec.multi ? `${rec.db}: multi[${rec.multi.map(one).join('; ')}]` : `${rec.db}: ${one(rec.argv)}`;
}

/** Deep copy of a chunk (its Buffers may be views into the decoder's input). */
function copyChunk(c: ValueChunk): ValueChunk {
  const cp = (v: unknown): unknown =>
    Buffer.isBuffer(v) ? Buffer.from(v) : Array.isArray(v) ? v.map(cp) : v;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) out[k] = cp(v);
  return out as unknown as ValueChunk;
}
