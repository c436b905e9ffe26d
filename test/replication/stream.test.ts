/**
 * CommandStream on hand-built streams: byte-exact offsets (checked against the byte positions of the
 * input), SELECT/PING/REPLCONF/sentinel handling, MULTI grouping (SELECT inside, heartbeat inside,
 * oversize groups), and the same records whatever the chunking.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommandRecord } from '../../src/records.js';
import { HeartbeatFilter } from '../../src/replication/heartbeat.js';
import { CommandStream } from '../../src/replication/stream.js';
import { show } from './recording-sink.js';

const HB = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
const cmd = (...args: string[]) =>
  Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);

function run(chunks: Buffer[], start = 100, db = 0, maxGroupBytes?: number) {
  const recs: CommandRecord[] = [];
  const getacks: number[] = [];
  const s = new CommandStream({
    offset: start,
    db,
    addr: 'test',
    heartbeat: new HeartbeatFilter(),
    emit: (r) => recs.push(r),
    onGetAck: (o) => getacks.push(o),
    ...(maxGroupBytes === undefined ? {} : { maxGroupBytes }),
  });
  for (const c of chunks) s.feed(c);
  return { s, recs, getacks };
}

describe('CommandStream', () => {
  const parts = [
    cmd('SELECT', '2'),
    cmd('SET', 'a', '1'),
    cmd('PING'),
    cmd('REPLCONF', 'GETACK', '*'),
    cmd('MULTI'),
    cmd('SET', HB, '1700000000000', 'PXAT', '1700000005000'),
    cmd('INCR', 'n'),
    cmd('SELECT', '4'),
    cmd('DEL', 'x', HB),
    cmd('EXEC'),
    cmd('PUBLISH', '__sentinel__:hello', 'x'),
    cmd('publish', 'chan', 'msg'),
    cmd('UNLINK', HB),
    cmd('MULTI'),
    cmd('SET', 'p', 'q'),
    cmd('LPUSH', 'l', 'v'),
    cmd('EXEC'),
  ];
  const all = Buffer.concat(parts);
  const end = (i: number) => 100 + Buffer.concat(parts.slice(0, i + 1)).length;

  it('offsets, db, drops and groups', () => {
    const { s, recs, getacks } = run([all]);
    expect(recs.map(show)).toEqual([
      '2: set a 1',
      '2: incr n',
      '4: del x',
      '4: publish chan msg',
      '4: multi[set p q; lpush l v]',
    ]);
    expect(recs.map((r) => r.offset)).toEqual([end(1), end(4) - parts[4]!.length, end(9), end(11), end(16)]);
    expect(getacks).toEqual([end(3)]);
    expect(s.offset).toBe(100 + all.length);
    expect(s.committed).toBe(s.offset);
    expect(s.db).toBe(4);
    expect(s.groupsSplit).toBe(1);
  });

  it('committed never lands inside an open MULTI', () => {
    const { s } = run([Buffer.concat(parts.slice(0, 6))]);
    expect(s.inMulti).toBe(true);
    expect(s.committed).toBe(end(3));
    expect(s.offset).toBe(end(5));
  });

  it('same records and offsets for any chunking', () => {
    const whole = run([all]).recs.map((r) => `${show(r)}@${r.offset}`);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.length - 1 }), { maxLength: 12 }), (cuts) => {
        const pts = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of [...pts, all.length]) {
          chunks.push(Buffer.from(all.subarray(prev, p)));
          prev = p;
        }
        expect(run(chunks).recs.map((r) => `${show(r)}@${r.offset}`)).toEqual(whole);
      }),
    );
    const bytes = [...all].map((b) => Buffer.from([b]));
    expect(run(bytes).recs.map((r) => `${show(r)}@${r.offset}`)).toEqual(whole);
  });

  it('a group bigger than maxGroupBytes is forwarded in parts', () => {
    const big = [
      cmd('MULTI'),
      cmd('SET', 'a', 'x'.repeat(50)),
      cmd('SET', 'b', 'y'.repeat(50)),
      cmd('SET', 'c', 'z'.repeat(50)),
      cmd('EXEC'),
    ];
    const { recs, s } = run([Buffer.concat(big)], 0, 0, 100);
    // The last command is kept back, so the part that ends the transaction is never empty.
    expect(recs.map((r) => (r.multi ?? [r.argv]).map((a) => a[1]!.toString()))).toEqual([['a'], ['b', 'c']]);
    expect(recs[0]!.offset).toBe(0); // before MULTI: a checkpoint never skips the rest of the group
    expect(recs[1]!.offset).toBe(Buffer.concat(big).length);
    // Flagged as one transaction in parts: the first leaves it open, the last closes it.
    expect([recs[0]!.groupMore, recs[0]!.groupCont, recs[1]!.groupMore, recs[1]!.groupCont]).toEqual([
      true,
      undefined,
      undefined,
      true,
    ]);
    expect(s.groupsSplit).toBe(1);
  });

  it('bare \\n keepalives between commands are skipped and not counted', () => {
    const a = cmd('SET', 'a', '1');
    const b = cmd('INCR', 'n');
    const { recs, s } = run(
      [Buffer.from('\n'), a, Buffer.from('\n\n'), Buffer.concat([Buffer.from('\n'), b])],
      0,
    );
    expect(recs.map((r) => `${show(r)}@${r.offset}`)).toEqual([
      `0: set a 1@${a.length}`,
      `0: incr n@${a.length + b.length}`,
    ]);
    expect(s.offset).toBe(a.length + b.length);
  });

  it('a non-array in the stream is a protocol error', () => {
    expect(() => run([Buffer.from('+OK\r\n')])).toThrow(
      expect.objectContaining({ code: 'ERR_SOURCE_PROTOCOL' }),
    );
  });
});
