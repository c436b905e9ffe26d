/**
 * The spool on its own: order across the memory → disk → memory transitions and segment rotation,
 * bounded memory, disk bytes reported, files removed once drained, the disk budget.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FRAME_RDB,
  FRAME_RDB_END,
  FRAME_STREAM,
  type FrameKind,
  Spool,
} from '../../src/replication/spool.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'spool-test-'));
  dirs.push(d);
  return d;
}
function filesUnder(d: string): number {
  return fs.readdirSync(d, { recursive: true }).filter((f) => String(f).endsWith('.spool')).length;
}

describe('Spool', () => {
  it('keeps order through memory, disk segments and back, with bounded memory', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 5 })), {
          maxLength: 200,
        }),
        (ops) => {
          const dir = tmp();
          const s = new Spool({ dir, memoryLimitBytes: 4096, segmentBytes: 8192 });
          let seq = 0;
          let expected = 0;
          for (const [isPush, size, takes] of ops) {
            if (isPush) {
              const b = Buffer.alloc(size + 4);
              b.writeUInt32LE(seq++, 0);
              const kind: FrameKind = seq % 3 === 0 ? FRAME_STREAM : FRAME_RDB;
              s.push(kind, b);
              expect(s.memoryBytes).toBeLessThanOrEqual(4096 + 0);
            }
            for (let i = 0; i < takes; i++) {
              const f = s.shift();
              if (!f) break;
              expect(f.data.readUInt32LE(0)).toBe(expected++);
            }
          }
          for (let f = s.shift(); f; f = s.shift()) expect(f.data.readUInt32LE(0)).toBe(expected++);
          expect(expected).toBe(seq);
          expect(s.bytes).toBe(0);
          expect(filesUnder(dir)).toBe(0); // drained: segment files deleted
          s.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reports disk bytes, rotates segments, frees them as the reader advances', () => {
    const dir = tmp();
    const s = new Spool({ dir, memoryLimitBytes: 1000, segmentBytes: 10_000 });
    for (let i = 0; i < 100; i++) s.push(FRAME_STREAM, Buffer.alloc(1000, i));
    expect(s.memoryBytes).toBe(1000);
    expect(s.diskBytes).toBe(99 * 1005);
    expect(filesUnder(dir)).toBe(10);
    for (let i = 0; i < 50; i++) expect(s.shift()!.data[0]).toBe(i);
    expect(filesUnder(dir)).toBeLessThan(7);
    s.push(FRAME_RDB_END, Buffer.alloc(0));
    for (let i = 50; i < 100; i++) expect(s.shift()!.data[0]).toBe(i);
    expect(s.shift()).toMatchObject({ kind: FRAME_RDB_END });
    expect(s.shift()).toBeNull();
    s.close();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('disk budget exceeded → ERR_SPOOL_FULL, and the consumer sees it after the queued frames', async () => {
    const s = new Spool({ dir: tmp(), memoryLimitBytes: 100, diskLimitBytes: 1000 });
    s.push(FRAME_RDB, Buffer.alloc(100));
    s.push(FRAME_RDB, Buffer.alloc(500));
    expect(() => s.push(FRAME_RDB, Buffer.alloc(500))).toThrow(
      expect.objectContaining({ code: 'ERR_SPOOL_FULL' }),
    );
    expect(s.shift()!.data.length).toBe(100);
    expect(s.shift()!.data.length).toBe(500);
    expect(s.shift()).toBeNull();
    expect(s.finished).toBe(true);
    expect(s.error).toMatchObject({ code: 'ERR_SPOOL_FULL', hint: expect.stringMatching(/spool-limit/) });
    s.close();
  });

  it('readable() waits for a push or the end', async () => {
    const s = new Spool({ dir: tmp() });
    let woke = false;
    const p = s.readable().then(() => {
      woke = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(woke).toBe(false);
    s.push(FRAME_STREAM, Buffer.from('x'));
    await p;
    expect(woke).toBe(true);
    s.shift();
    const q = s.readable();
    s.end();
    await q;
    expect(s.finished).toBe(true);
  });
});
