/**
 * Sink decisions without a server (a scripted writer answers): which path a key takes, the exact
 * commands for hash field TTLs under each policy, module values, functions, RESTORE arguments, and
 * the ack/reply bookkeeping.
 */
import { describe, expect, it } from 'vitest';
import { ServerReplyError } from '../../src/errors.js';
import type { KeyMeta, Position } from '../../src/records.js';
import { buildDumpPayload } from '../../src/rdb/index.js';
import { type CommandArg, encodeCommand } from '../../src/resp/index.js';
import { restoreArgv } from '../../src/sinks/restore.js';
import {
  NullSink,
  type ReplyCallback,
  restoreRefusal,
  StandaloneSink,
  type StandaloneSinkOptions,
  type TargetCaps,
} from '../../src/sinks/index.js';

class FakeWriter {
  sent: string[][] = [];
  cbs: ReplyCallback[] = [];
  needsDrain = false;
  send(argv: CommandArg[], cb: ReplyCallback): void {
    this.sent.push(argv.map((a) => (Buffer.isBuffer(a) ? a.toString('latin1') : String(a))));
    this.cbs.push(cb);
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  /** Answer the oldest `n` commands with `reply` (or an error reply). */
  answer(n = this.cbs.length, reply: unknown = 'OK'): void {
    for (const cb of this.cbs.splice(0, n)) {
      if (reply instanceof Error) cb(reply, null);
      else cb(null, reply);
    }
  }
}

function caps(over: Partial<TargetCaps> & { commands?: string[] } = {}): TargetCaps {
  const cmds = new Set(over.commands ?? ['function', 'hpexpireat']);
  return {
    family: 'redis',
    versionNum: 70400,
    maxRdbVersion: 12,
    protoMaxBulkLen: 512 * 1024 * 1024,
    hasCommand: (n) => cmds.has(n),
    ...over,
  };
}

function meta(over: Partial<KeyMeta> = {}): KeyMeta {
  return {
    db: 0,
    key: Buffer.from('k'),
    type: 'hash',
    rdbType: 25,
    rdbVersion: 12,
    family: 'redis',
    expireAtMs: null,
    idleSeconds: null,
    freq: null,
    module: null,
    ...over,
  };
}

const NOW = 1_700_000_000_000;
const bs = (...a: string[]) => a.map((s) => Buffer.from(s));

function hashKey(c: TargetCaps, opts: StandaloneSinkOptions): { w: FakeWriter; sink: StandaloneSink } {
  const w = new FakeWriter();
  const sink = new StandaloneSink(w, c, { restore: 'never', now: () => NOW, ...opts });
  sink.keyStart(meta({ expireAtMs: NOW + 5000 }));
  sink.keyRaw(Buffer.from('ignored'));
  sink.keyElements({
    kind: 'hash',
    fields: bs('a', 'b', 'c', 'd'),
    values: bs('1', '2', '3', '4'),
    fieldExpireAtMs: [NOW + 1000, null, NOW - 1, NOW + 1000],
  });
  sink.keyEnd();
  return { w, sink };
}

describe('hash field TTLs', () => {
  it('target with HPEXPIREAT: HSET, then one HPEXPIREAT per TTL, expired fields dropped, key TTL last', () => {
    const { w, sink } = hashKey(caps(), {});
    expect(w.sent).toEqual([
      ['SELECT', '0'],
      ['DEL', 'k'],
      ['HSET', 'k', 'a', '1', 'b', '2', 'd', '4'],
      ['HPEXPIREAT', 'k', String(NOW + 1000), 'FIELDS', '2', 'a', 'd'],
      ['PEXPIREAT', 'k', String(NOW + 5000)],
    ]);
    expect(sink.stats.fieldsDropped).toBe(1);
  });

  it("no HPEXPIREAT, 'strip': the fields are written without their TTL", () => {
    const { w } = hashKey(caps({ commands: [] }), { hashFieldTtl: 'strip' });
    expect(w.sent[2]).toEqual(['HSET', 'k', 'a', '1', 'b', '2', 'd', '4']);
    expect(w.sent.map((c) => c[0])).not.toContain('HPEXPIREAT');
  });

  it("no HPEXPIREAT, 'drop': fields with a TTL are left out and counted", () => {
    const { w, sink } = hashKey(caps({ commands: [] }), { hashFieldTtl: 'drop' });
    expect(w.sent[2]).toEqual(['HSET', 'k', 'b', '2']);
    expect(sink.stats.fieldsDropped).toBe(3);
  });

  it("no HPEXPIREAT, 'skip-key': nothing is written, the key is counted", () => {
    const { w, sink } = hashKey(caps({ commands: [] }), { hashFieldTtl: 'skip-key' });
    expect(w.sent).toEqual([]);
    expect(sink.stats.skipped['hash-field-ttl']).toBe(1);
  });

  it("'skip-key' after part of a big key was written: the partial key is deleted", () => {
    const w = new FakeWriter();
    const sink = new StandaloneSink(w, caps({ commands: [] }), {
      restore: 'never',
      hashFieldTtl: 'skip-key',
      bigKeyBytes: 1024,
    });
    sink.keyStart(meta());
    const many = Array.from({ length: 100 }, (_, i) => Buffer.from(`field-${i}`));
    sink.keyElements({ kind: 'hash', fields: many, values: many });
    sink.keyElements({ kind: 'hash', fields: bs('x'), values: bs('y'), fieldExpireAtMs: [NOW * 2] });
    sink.keyEnd();
    const names = w.sent.map((c) => c[0]);
    expect(names.slice(0, 3)).toEqual(['SELECT', 'DEL', 'HSET']);
    expect(names.at(-1)).toBe('DEL');
    expect(new Set(names.slice(2, -1))).toEqual(new Set(['HSET']));
    expect(sink.stats.rewritten.hash).toBe(0);
  });
});

describe('paths', () => {
  it('restoreRefusal: family, version and type checks', () => {
    const r70 = caps({ versionNum: 70015, maxRdbVersion: 10 });
    expect(restoreRefusal(meta({ rdbType: 16, rdbVersion: 10 }), r70)).toBeNull();
    expect(restoreRefusal(meta({ rdbType: 16, rdbVersion: 11 }), r70)).toBe('version');
    expect(restoreRefusal(meta({ rdbType: 20, rdbVersion: 9 }), r70)).toBe('type'); // Dragonfly-style v9 payload
    expect(restoreRefusal(meta({ rdbType: 0, rdbVersion: 80, family: 'valkey' }), caps())).toBe('family');
    const valkey9 = caps({ family: 'valkey', maxRdbVersion: 80 });
    expect(restoreRefusal(meta({ rdbType: 22, rdbVersion: 80, family: 'valkey' }), valkey9)).toBeNull();
    expect(restoreRefusal(meta({ rdbType: 16, rdbVersion: 11 }), valkey9)).toBeNull();
    expect(restoreRefusal(meta({ rdbType: 25, rdbVersion: 12 }), valkey9)).toBe('family');
  });

  it('RESTORE carries ABSTTL, REPLACE (overwrite only) and IDLETIME or FREQ', () => {
    for (const onConflict of ['overwrite', 'skip'] as const) {
      const w = new FakeWriter();
      const sink = new StandaloneSink(w, caps(), { onConflict, now: () => NOW });
      sink.keyStart(
        meta({ type: 'string', rdbType: 0, rdbVersion: 12, db: 3, expireAtMs: NOW + 10, idleSeconds: 7 }),
      );
      sink.keyRaw(Buffer.from([0x01]));
      sink.keyRaw(Buffer.from('x'));
      sink.keyElements({ kind: 'string', data: Buffer.from('x') });
      sink.keyEnd();
      // DB 3's first SELECT is answered before the RESTORE goes (a missing DB stops the run first).
      expect(w.sent).toEqual([['SELECT', '3']]);
      w.answer(1);
      const r = w.sent[1]!;
      expect(w.sent[0]).toEqual(['SELECT', '3']);
      expect(r.slice(0, 3)).toEqual(['RESTORE', 'k', String(NOW + 10)]);
      expect(Buffer.from(r[3]!, 'latin1').subarray(0, 3)).toEqual(Buffer.from([0, 1, 0x78]));
      expect(r.slice(4)).toEqual(
        onConflict === 'overwrite' ? ['ABSTTL', 'REPLACE', 'IDLETIME', '7'] : ['ABSTTL', 'IDLETIME', '7'],
      );
      if (onConflict === 'skip') {
        w.answer(1, new ServerReplyError('BUSYKEY Target key name already exists.'));
        expect(sink.stats.skipped.conflict).toBe(1);
        expect(sink.stats.restored.string).toBe(0);
      }
    }
  });

  it('module values: RESTORE when possible, a refused payload counts as skipped per module', () => {
    const w = new FakeWriter();
    const sink = new StandaloneSink(w, caps(), {});
    const m = meta({ type: 'module', rdbType: 7, module: { name: 'ReJSON-RL', encver: 3 } });
    sink.keyStart(m);
    sink.keyRaw(Buffer.from('body'));
    sink.keyEnd();
    expect(w.sent[1]![0]).toBe('RESTORE');
    w.answer(1);
    w.answer(1, new ServerReplyError('ERR Bad data format'));
    expect(sink.stats.skipped['module:ReJSON-RL']).toBe(1);
    const never = new StandaloneSink(w, caps(), { restore: 'never' });
    never.keyStart(m);
    never.keyRaw(Buffer.from('body'));
    never.keyEnd();
    expect(never.stats.skipped['module:ReJSON-RL']).toBe(1);
    const bare = new StandaloneSink(w, { ...caps(), modules: [] }, {});
    bare.keyStart(m);
    bare.keyRaw(Buffer.from('body'));
    bare.keyEnd();
    expect(bare.stats.skipped['module:ReJSON-RL']).toBe(1);
    expect(w.sent).toHaveLength(2);
  });

  it('RESTORE built in place (writer with sendRaw) is byte for byte the argv-encoded RESTORE', () => {
    class RawWriter extends FakeWriter {
      raw: Buffer[] = [];
      sendRaw(bytes: Buffer, cb: ReplyCallback): void {
        this.raw.push(Buffer.from(bytes));
        this.cbs.push(cb);
      }
    }
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let t = 0; t < 60; t++) {
      const over: Partial<KeyMeta> = {
        type: 'hash',
        rdbType: [4, 13, 16, 25][t % 4]!,
        rdbVersion: 10 + (t % 3),
        key: Buffer.from(Array.from({ length: 1 + rnd(300) }, () => rnd(256))),
        expireAtMs: t % 3 === 0 ? null : NOW + rnd(1e9),
        idleSeconds: t % 5 === 1 ? rnd(1e6) : null,
        freq: t % 5 === 2 ? rnd(255) : null,
      };
      const body = Buffer.from(Array.from({ length: rnd(t % 7 === 0 ? 200_000 : 3000) }, () => rnd(256)));
      const c = caps({ versionNum: t % 4 === 3 ? 40000 : 70400 });
      const opts: StandaloneSinkOptions = { onConflict: t % 2 === 0 ? 'overwrite' : 'skip', now: () => NOW };
      const w = new RawWriter();
      const sink = new StandaloneSink(w, c, opts);
      sink.keyStart(meta(over));
      for (let at = 0; at < body.length; ) {
        const n = 1 + rnd(40_000);
        sink.keyRaw(body.subarray(at, at + n));
        at += n;
      }
      sink.keyEnd();
      expect(w.raw).toHaveLength(1);
      const want = encodeCommand(
        restoreArgv(meta(over), buildDumpPayload(over.rdbType!, body, over.rdbVersion!), t % 2 === 0, c, NOW),
      );
      expect(w.raw[0]!.equals(want)).toBe(true);
    }
  });

  it('functions: LOAD REPLACE; a target without FUNCTION fails with a hint unless skipped', async () => {
    const w = new FakeWriter();
    new StandaloneSink(w, caps(), {}).functionLibrary(Buffer.from('#!lua name=x'));
    expect(w.sent[0]).toEqual(['FUNCTION', 'LOAD', 'REPLACE', '#!lua name=x']);
    const old = new StandaloneSink(w, caps({ commands: [] }), {});
    old.functionLibrary(Buffer.from('#!lua name=x'));
    await expect(old.flush()).rejects.toMatchObject({
      code: 'ERR_TARGET_NO_FUNCTIONS',
      hint: expect.stringContaining('--skip-functions'),
    });
    const skip = new StandaloneSink(w, caps({ commands: [] }), { skipFunctions: true });
    skip.functionLibrary(Buffer.from('#!lua name=x'));
    await skip.flush();
    expect(skip.stats.skipped.function).toBe(1);
  });
});

describe('memory', () => {
  it('holds at most ~2 × bigKeyBytes of one key, then streams (raw and commands both buffered first)', () => {
    const w = new FakeWriter(); // never answers: everything sent stays "in flight"
    const sink = new StandaloneSink(w, caps(), { bigKeyBytes: 8192, chunkElements: 16 });
    sink.keyStart(meta({ type: 'list', rdbType: 18, rdbVersion: 10 }));
    let peak = 0;
    for (let i = 0; i < 500; i++) {
      const items = Array.from({ length: 20 }, (_, j) => Buffer.from(`item-${i}-${j}`));
      sink.keyRaw(Buffer.alloc(200, 1));
      sink.keyElements({ kind: 'list', items });
      peak = Math.max(peak, sink.bufferedBytes);
    }
    sink.keyEnd();
    expect(peak).toBeGreaterThan(4096);
    expect(peak).toBeLessThanOrEqual(2 * 8192 + 1024);
    expect(sink.bufferedBytes).toBe(0);
    const rpush = w.sent.filter((c) => c[0] === 'RPUSH');
    const expected = Array.from({ length: 500 * 20 }, (_, k) => `item-${Math.floor(k / 20)}-${k % 20}`);
    expect(rpush.flatMap((c) => c.slice(2))).toEqual(expected); // every item, in order, in commands of ≤ 16
    expect(Math.max(...rpush.map((c) => c.length - 2))).toBe(16);
    expect(sink.stats.maxCommandBytes).toBeLessThanOrEqual(8192);
  });
});

describe('pipeline bookkeeping', () => {
  it('a position fires after exactly the replies before it, in order', () => {
    const w = new FakeWriter();
    const sink = new StandaloneSink(w, caps());
    const acks: number[] = [];
    sink.onAck((p: Position) => acks.push(p.offset));
    const cmd = (o: number) =>
      sink.command({ db: 0, argv: [Buffer.from('INCR'), Buffer.from('n')], offset: o });
    cmd(1); // SELECT + INCR
    cmd(2);
    sink.position({ replid: 'x', offset: 2, db: 0 });
    cmd(3);
    sink.position({ replid: 'x', offset: 3, db: 0 });
    w.answer(2, 1);
    expect(acks).toEqual([]);
    w.answer(1, 1);
    expect(acks).toEqual([2]);
    w.answer(1, 1);
    expect(acks).toEqual([2, 3]);
    expect(sink.pending).toBe(0);
  });

  it('skip mode holds a rewritten key behind EXISTS; later commands wait and keep their order', () => {
    const w = new FakeWriter();
    const sink = new StandaloneSink(w, caps(), { onConflict: 'skip', restore: 'never' });
    sink.keyStart(meta({ type: 'set', rdbType: 2, key: Buffer.from('s') }));
    sink.keyElements({ kind: 'set', members: bs('a') });
    sink.keyEnd();
    sink.command({ db: 0, argv: bs('SET', 'after', '1'), offset: 1 });
    expect(w.sent).toEqual([
      ['SELECT', '0'],
      ['EXISTS', 's'],
    ]);
    expect(sink.needsDrain).toBe(true);
    w.answer(1);
    w.answer(1, 0); // does not exist: the key's commands go, then the held command
    expect(w.sent.slice(2)).toEqual([
      ['SADD', 's', 'a'],
      ['SET', 'after', '1'],
    ]);
    expect(sink.needsDrain).toBe(false);
  });

  for (const exists of [1, 0]) {
    it(`skip mode, big key, EXISTS answers ${exists} mid-key: ${exists ? 'the rest is dropped' : 'all of it goes, in order'}`, () => {
      const w = new FakeWriter();
      const sink = new StandaloneSink(w, caps(), {
        onConflict: 'skip',
        restore: 'never',
        bigKeyBytes: 2048,
        chunkElements: 10,
      });
      sink.keyStart(
        meta({ type: 'list', rdbType: 18, rdbVersion: 10, key: Buffer.from('L'), expireAtMs: NOW * 2 }),
      );
      const chunk = (i: number) => ({
        kind: 'list' as const,
        items: Array.from({ length: 50 }, (_, j) => Buffer.from(`v${i * 50 + j}`)),
      });
      for (let i = 0; i < 3; i++) sink.keyElements(chunk(i)); // passes 2 KiB: EXISTS goes out, the rest is held
      expect(w.sent.map((c) => c[0])).toEqual(['SELECT', 'EXISTS']);
      expect(sink.needsDrain).toBe(true);
      w.answer(1);
      w.answer(1, exists);
      for (let i = 3; i < 6; i++) sink.keyElements(chunk(i));
      sink.keyEnd();
      const after = w.sent.slice(2);
      if (exists) {
        expect(after).toEqual([]);
        expect(sink.stats.skipped.conflict).toBe(1);
        expect(sink.stats.rewritten.list).toBe(0);
      } else {
        expect(after.filter((c) => c[0] === 'RPUSH').flatMap((c) => c.slice(2))).toEqual(
          Array.from({ length: 300 }, (_, k) => `v${k}`),
        );
        expect(after.at(-1)).toEqual(['PEXPIREAT', 'L', String(NOW * 2)]);
      }
      w.answer(w.cbs.length, 1);
      expect(sink.stats.keysWritten).toBe(exists ? 0 : 1);
    });
  }

  it('NullSink counts and acks at once', () => {
    const n = new NullSink(() => NOW);
    const acks: number[] = [];
    n.onAck((p) => acks.push(p.offset));
    n.keyStart(meta({ expireAtMs: NOW - 1 }));
    n.keyEnd();
    n.command({ db: 0, argv: bs('SET', 'a', 'b'), offset: 9 });
    n.position({ replid: 'x', offset: 9, db: 0 });
    expect(acks).toEqual([9]);
    expect(n.stats.skipped.expired).toBe(1);
    expect(n.stats.commands).toBe(1);
  });
});
