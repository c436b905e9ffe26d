/**
 * Issue #14 (2, 3a, 8): the replication stream parser against hostile or huge input, byte by byte.
 * Limits are the server's own (proto-max-bulk-len, client-query-buffer-limit), refused with
 * ERR_SOURCE_PROTOCOL naming the limit, the value seen and the replication offset; big variadic
 * writes come out in chunks whose concatenation is the command, with no Position inside.
 */
import { describe, expect, it } from 'vitest';
import type { CommandRecord } from '../../src/records.js';
import { CommandStream, type CommandStreamOptions } from '../../src/replication/stream.js';

const cmd = (...args: string[]) =>
  Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);

function stream(o: Partial<CommandStreamOptions> = {}, start = 1000) {
  const recs: CommandRecord[] = [];
  const s = new CommandStream({
    offset: start,
    db: 0,
    addr: '127.0.0.1:1',
    emit: (r) => recs.push(r),
    onGetAck: () => {},
    ...o,
  });
  return { s, recs };
}

function errorOf(f: () => void): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('no error');
}

describe('stream protocol limits (issue #14 point 2)', () => {
  it('*2147483647 is refused at its header: the count, the limit, the offset, "the source sent"', () => {
    const { s } = stream();
    const e = errorOf(() =>
      s.feed(Buffer.concat([cmd('SET', 'a', '1'), Buffer.from('*2147483647\r\n$4\r\nSADD\r\n')])),
    );
    expect(e.code).toBe('ERR_SOURCE_PROTOCOL');
    expect(e.message).toMatch(/^the source sent a command of 2147483647 arguments/);
    expect(e.message).toContain('client-query-buffer-limit (1073741824 bytes)');
    // The offending header starts right after SET a 1.
    expect(e.message).toContain(
      `byte offset ${1000 + cmd('SET', 'a', '1').length} of the replication stream`,
    );
  });

  it('a bulk over proto-max-bulk-len is refused at its header (nothing allocated from the length)', () => {
    const { s } = stream();
    const before = process.memoryUsage().rss;
    const e = errorOf(() => s.feed(Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000000\r\nxxxx')));
    expect(e.code).toBe('ERR_SOURCE_PROTOCOL');
    expect(e.message).toContain(
      'a bulk string of 600000000 bytes (argument 3), over the limit of 536870912 bytes (proto-max-bulk-len)',
    );
    expect(e.message).toContain('byte offset 1020 ');
    expect(process.memoryUsage().rss - before).toBeLessThan(50 * 1024 * 1024);
  });

  it('a command over client-query-buffer-limit is refused when the bulk that passes it is announced', () => {
    const { s } = stream({ maxCommandBytes: 100 });
    const e = errorOf(() =>
      s.feed(Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$80\r\n${'v'.repeat(80)}\r\n`)),
    );
    expect(e.message).toContain('a command of more than 100 bytes (client-query-buffer-limit)');
    expect(e.message).toContain('argument 3 of 3 declares 80 bytes');
  });

  it('a command that cannot go in pieces is refused past the held-argument bound', () => {
    const { s } = stream({ maxHeldArgs: 2000 });
    const e = errorOf(() => s.feed(Buffer.from('*5000\r\n$6\r\nSUNION\r\n')));
    expect(e.message).toContain('"SUNION" with 5000 arguments: more than the 2000 replicant holds');
    expect(e.message).toContain('byte offset 1000 ');
    // A splittable one of the same size passes (it is forwarded in chunks).
    const ok = stream({ maxHeldArgs: 2000 });
    ok.s.feed(cmd('SADD', 'k', ...Array.from({ length: 4998 }, (_, i) => `m${i}`)));
    expect(ok.recs.length).toBeGreaterThan(1);
  });

  it('bytes that are not RESP say what the source sent and where', () => {
    for (const [bytes, what] of [
      ['-ERR oops\r\n', 'an error reply where a command'],
      ['*1\r\n:5\r\n', '":" where argument 1 of 1'],
      ['*2\r\n$3\r\nGET\r\n$1\r\nkXX', 'a bulk string not followed by CRLF'],
      ['*x\r\n', 'an invalid length "*x"'],
      [`*1\r\n$${'9'.repeat(40)}`, 'without a line end'],
      ['*0\r\n', 'an empty command'],
    ] as const) {
      const { s } = stream();
      const e = errorOf(() => s.feed(Buffer.from(bytes)));
      expect(e.code).toBe('ERR_SOURCE_PROTOCOL');
      expect(e.message).toMatch(/^the source sent /);
      expect(e.message).toContain(what);
      expect(e.message).toMatch(/at byte offset 10\d\d of the replication stream \(source 127\.0\.0\.1:1\)/);
    }
  });
});

describe('big stream commands in chunks (issue #14 point 3a)', () => {
  const members = Array.from({ length: 5000 }, (_, i) => `member-${i}`);

  it('SADD of 5000 members: chunks of the same command whose members add up, offsets before it until the last', () => {
    const big = cmd('SADD', 'set', ...members);
    const after = cmd('SET', 'x', '1');
    for (const piece of [big.length + after.length, 7, 4096, 65536]) {
      const { s, recs } = stream();
      const input = Buffer.concat([big, after]);
      const positions: number[] = [];
      for (let at = 0; at < input.length; at += piece) {
        s.feed(input.subarray(at, at + piece));
        // What ReplicaSource does after each piece: a Position only at a clean, new point.
        if (!s.splitOpen) positions.push(s.committed);
      }
      const chunks = recs.slice(0, -1);
      expect(chunks.length).toBeGreaterThan(4);
      for (const r of chunks) {
        expect(r.argv[0]!.toString()).toBe('SADD');
        expect(r.argv[1]!.toString()).toBe('set');
        expect(r.argv.length).toBeLessThanOrEqual(2 + 1024);
        expect(r.multi).toBeUndefined();
      }
      expect(chunks.flatMap((r) => r.argv.slice(2).map(String))).toEqual(members);
      // Every chunk but the last carries the offset before the command; no Position inside it.
      expect(chunks.slice(0, -1).every((r) => r.offset === 1000)).toBe(true);
      expect(chunks.at(-1)!.offset).toBe(1000 + big.length);
      expect(positions.every((p) => p === 1000 || p >= 1000 + big.length)).toBe(true);
      expect(s.offset).toBe(1000 + big.length + after.length);
      expect(s.commandsSplit).toBe(1);
    }
  });

  it('ZADD keeps its options in every chunk; HSET and MSET split on whole pairs', () => {
    const pairs = members.flatMap((m, i) => [String(i), m]);
    const { recs } = (() => {
      const t = stream();
      t.s.feed(cmd('ZADD', 'z', 'NX', 'CH', ...pairs));
      t.s.feed(cmd('HSET', 'h', ...pairs));
      t.s.feed(cmd('MSET', ...pairs));
      return t;
    })();
    const z = recs.filter((r) => r.argv[0]!.toString() === 'ZADD');
    expect(z.length).toBeGreaterThan(2);
    for (const r of z) expect(r.argv.slice(0, 4).map(String)).toEqual(['ZADD', 'z', 'NX', 'CH']);
    expect(z.flatMap((r) => r.argv.slice(4).map(String))).toEqual(pairs);
    const h = recs.filter((r) => r.argv[0]!.toString() === 'HSET');
    for (const r of h) expect((r.argv.length - 2) % 2).toBe(0);
    expect(h.flatMap((r) => r.argv.slice(2).map(String))).toEqual(pairs);
    const m = recs.filter((r) => r.argv[0]!.toString() === 'MSET');
    for (const r of m) expect((r.argv.length - 1) % 2).toBe(0);
    expect(m.flatMap((r) => r.argv.slice(1).map(String))).toEqual(pairs);
  });

  it('XADD, MSETNX and small commands are never split', () => {
    const fields = members.flatMap((m) => [m, 'v']);
    const { s, recs } = stream();
    s.feed(cmd('XADD', 'st', '1-1', ...fields));
    s.feed(cmd('MSETNX', ...fields));
    s.feed(cmd('SADD', 's', 'a', 'b'));
    expect(recs.map((r) => r.argv.length)).toEqual([3 + fields.length, 1 + fields.length, 4]);
  });

  it('RPUSH of 5000 inside MULTI: parts of one transaction (groupMore … groupCont), offset after EXEC last', () => {
    const group = [cmd('MULTI'), cmd('RPUSH', 'l', ...members), cmd('INCR', 'n'), cmd('EXEC')];
    const all = Buffer.concat(group);
    const { s, recs } = stream({ maxGroupArgs: 1500 });
    for (let at = 0; at < all.length; at += 1000) s.feed(all.subarray(at, at + 1000));
    expect(recs.length).toBeGreaterThan(2);
    recs.forEach((r, i) => {
      expect(r.multi).toBeDefined();
      expect(r.groupCont === true).toBe(i > 0);
      expect(r.groupMore === true).toBe(i < recs.length - 1);
      expect(r.offset).toBe(i < recs.length - 1 ? 1000 : 1000 + all.length);
    });
    const inner = recs.flatMap((r) => r.multi!);
    expect(inner.at(-1)!.map(String)).toEqual(['INCR', 'n']);
    expect(inner.slice(0, -1).flatMap((a) => a.slice(2).map(String))).toEqual(members);
    expect(s.committed).toBe(1000 + all.length);
    expect(s.groupsSplit).toBe(1);
  });
});
