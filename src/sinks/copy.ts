/**
 * Argument copies. Buffers handed to a sink may be views into the producer's reused input (records.ts
 * ValueChunk contract); anything that outlives the call — a batch being filled, a key's buffered
 * commands, commands held behind an EXISTS — gets its bytes copied, one slab per command.
 */
import type { CommandArg } from '../resp/index.js';
import type { CommandRecord } from '../records.js';

/** Copy the Buffer arguments from index `from` on into one new slab, in place. */
export function copyTail(argv: CommandArg[], from: number): void {
  let n = 0;
  for (let i = from; i < argv.length; i++) {
    const a = argv[i];
    if (Buffer.isBuffer(a)) n += a.length;
  }
  if (n === 0) return;
  const slab = Buffer.allocUnsafe(n);
  let o = 0;
  for (let i = from; i < argv.length; i++) {
    const a = argv[i];
    if (!Buffer.isBuffer(a)) continue;
    a.copy(slab, o);
    argv[i] = slab.subarray(o, o + a.length);
    o += a.length;
  }
}

/** Copy every Buffer argument except `key` (already ours) into one new slab, in place. */
export function copyArgs(argv: CommandArg[], key: Buffer | null): CommandArg[] {
  let n = 0;
  for (const a of argv) if (Buffer.isBuffer(a) && a !== key) n += a.length;
  if (n === 0) return argv;
  const slab = Buffer.allocUnsafe(n);
  let o = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!Buffer.isBuffer(a) || a === key) continue;
    a.copy(slab, o);
    argv[i] = slab.subarray(o, o + a.length);
    o += a.length;
  }
  return argv;
}

/** A stream-phase record with its own copies (for one that has to wait). */
export function copyRecord(rec: CommandRecord): CommandRecord {
  const argv = copyArgs([...rec.argv], null) as Buffer[];
  if (rec.multi === undefined) return { ...rec, argv };
  return { ...rec, argv, multi: rec.multi.map((a) => copyArgs([...a], null) as Buffer[]) };
}
