import { describe, expect, it } from 'vitest';
import { DbFilter } from '../../src/filters/index.js';
import type { CommandRecord, KeyMeta } from '../../src/records.js';

const b = (s: string) => Buffer.from(s);
const cmd = (db: number, ...args: string[]): CommandRecord => ({ db, argv: args.map(b), offset: 42 });
const text = (r: CommandRecord | null) =>
  r === null ? null : { db: r.db, argv: r.argv.map(String), multi: r.multi?.map((a) => a.map(String)) };

function meta(db: number): KeyMeta {
  return {
    db,
    key: b('k'),
    type: 'string',
    rdbType: 0,
    rdbVersion: 10,
    family: 'redis',
    expireAtMs: null,
    idleSeconds: null,
    freq: null,
    module: null,
  };
}

describe('DbFilter', () => {
  const f = new DbFilter({
    dbs: [0, 3, 4],
    dbMap: [
      [3, 1],
      [4, 4],
      [9, 2],
    ],
  });

  it('selects and remaps snapshot keys without touching the decoder-owned meta', () => {
    const m = meta(3);
    const out = f.key(m);
    expect(out?.db).toBe(1);
    expect(m.db).toBe(3);
    const zero = meta(0);
    expect(f.key(zero)).toBe(zero); // unmapped: the same object, no copy
    expect(f.key(meta(0))?.db).toBe(0);
    expect(f.key(meta(9))).toBeNull(); // mapped but not selected
    expect(f.key(meta(1))).toBeNull();
  });

  it('identity filter passes records through as the same object', () => {
    const id = new DbFilter({});
    expect(id.identity).toBe(true);
    const r = cmd(7, 'SET', 'a', '1');
    expect(id.command(r)).toBe(r);
    const m = meta(7);
    expect(id.key(m)).toBe(m);
  });

  it('remaps the db of ordinary commands, drops unselected ones', () => {
    expect(text(f.command(cmd(3, 'SET', 'a', '1')))).toEqual({
      db: 1,
      argv: ['SET', 'a', '1'],
      multi: undefined,
    });
    const same = cmd(0, 'SET', 'a', '1');
    expect(f.command(same)).toBe(same);
    expect(f.command(cmd(5, 'SET', 'a', '1'))).toBeNull();
    expect(f.command(cmd(3, 'SET', 'a', '1'))?.offset).toBe(42);
  });

  it('MOVE: both selected → remapped; out of the set → DEL; into the set → refused; neither → dropped', () => {
    expect(text(f.command(cmd(0, 'MOVE', 'k', '3')))?.argv).toEqual(['MOVE', 'k', '1']);
    expect(text(f.command(cmd(3, 'move', 'k', '4')))).toEqual({
      db: 1,
      argv: ['move', 'k', '4'],
      multi: undefined,
    });
    expect(text(f.command(cmd(3, 'MOVE', 'k', '7')))).toEqual({
      db: 1,
      argv: ['DEL', 'k'],
      multi: undefined,
    });
    expect(() => f.command(cmd(7, 'MOVE', 'k', '0'))).toThrow(
      expect.objectContaining({ code: 'ERR_FILTER_UNMAPPABLE' }),
    );
    expect(f.command(cmd(7, 'MOVE', 'k', '8'))).toBeNull();
  });

  it('COPY … DB n: remapped, dropped when copying out, refused when copying in', () => {
    expect(text(f.command(cmd(0, 'COPY', 'a', 'b', 'DB', '3', 'REPLACE')))?.argv).toEqual([
      'COPY',
      'a',
      'b',
      'DB',
      '1',
      'REPLACE',
    ]);
    expect(text(f.command(cmd(3, 'COPY', 'a', 'b')))).toEqual({
      db: 1,
      argv: ['COPY', 'a', 'b'],
      multi: undefined,
    });
    expect(f.command(cmd(0, 'COPY', 'a', 'b', 'db', '8'))).toBeNull();
    expect(() => f.command(cmd(8, 'COPY', 'a', 'b', 'DB', '0'))).toThrow(/COPY from unselected DB 8/);
  });

  it('SWAPDB: both selected → mapped (even from an unselected current db); one → refused', () => {
    expect(text(f.command(cmd(0, 'SWAPDB', '3', '4')))?.argv).toEqual(['SWAPDB', '1', '4']);
    expect(text(f.command(cmd(9, 'SWAPDB', '0', '3')))?.argv).toEqual(['SWAPDB', '0', '1']);
    expect(f.command(cmd(0, 'SWAPDB', '7', '8'))).toBeNull();
    expect(() => f.command(cmd(0, 'SWAPDB', '0', '7'))).toThrow(/SWAPDB 0 7/);
  });

  it('FLUSHALL: FLUSHDB of each mapped target DB with a partial selection or a map (issue #13 point 6)', () => {
    expect(text(f.command(cmd(0, 'FLUSHALL')))).toEqual({
      db: 0,
      argv: ['FLUSHDB'],
      multi: [['FLUSHDB'], ['SELECT', '1'], ['FLUSHDB'], ['SELECT', '4'], ['FLUSHDB'], ['SELECT', '0']],
    });
    const mapOnly = new DbFilter({ dbMap: [[1, 0]] });
    mapOnly.setDatabases({ target: 4, source: 4 });
    // Target DB 1 receives nothing (source DB 1 goes to 0): it keeps its keys.
    expect(text(mapOnly.command(cmd(1, 'FLUSHALL')))?.multi).toEqual([
      ['FLUSHDB'],
      ['SELECT', '2'],
      ['FLUSHDB'],
      ['SELECT', '3'],
      ['FLUSHDB'],
      ['SELECT', '0'],
    ]);
    expect(text(new DbFilter({}).command(cmd(1, 'FLUSHALL')))?.argv).toEqual(['FLUSHALL']);
  });

  it('MULTI groups: inner commands filtered and rewritten, db remapped, empty groups dropped', () => {
    const rec: CommandRecord = {
      db: 3,
      argv: [b('SET')],
      offset: 9,
      multi: [
        [b('SET'), b('a'), b('1')],
        [b('MOVE'), b('a'), b('9')],
        [b('MOVE'), b('x'), b('0')],
      ],
    };
    expect(text(f.command(rec))).toEqual({
      db: 1,
      argv: ['SET', 'a', '1'],
      multi: [
        ['SET', 'a', '1'],
        ['DEL', 'a'],
        ['MOVE', 'x', '0'],
      ],
    });
    const un: CommandRecord = { db: 5, argv: [b('SET')], offset: 9, multi: [[b('SET'), b('a'), b('1')]] };
    expect(f.command(un)).toBeNull();
    const keep: CommandRecord = { db: 0, argv: [b('SET')], offset: 9, multi: [[b('SET'), b('a'), b('1')]] };
    expect(f.command(keep)).toBe(keep);
  });

  it('a MULTI forwarded in parts keeps its part flags through a remap (one transaction on the target)', () => {
    const part = (more: boolean, cont: boolean): CommandRecord => ({
      db: 3,
      argv: [b('INCR'), b('a')],
      offset: 7,
      multi: [
        [b('INCR'), b('a')],
        [b('RPUSH'), b('l'), b('x')],
      ],
      ...(more ? { groupMore: true } : {}),
      ...(cont ? { groupCont: true } : {}),
    });
    const first = f.command(part(true, false))!;
    expect(first.db).toBe(1);
    expect([first.groupMore, first.groupCont]).toEqual([true, undefined]);
    const last = f.command(part(false, true))!;
    expect([last.groupMore, last.groupCont]).toEqual([undefined, true]);
  });

  it('targets() lists the target DB of each selected source DB', () => {
    expect(f.targets([0, 1, 3, 4, 9])).toEqual([
      [0, 0],
      [3, 1],
      [4, 4],
    ]);
  });
});
