/**
 * DbFilter rules for issue #13 points 5 and 6, without servers: merged DBs (FLUSHDB / SWAPDB stop the
 * run with ERR_DB_MERGE_FLUSH, MOVE / COPY between merged DBs are no-ops), FLUSHALL with a --dbs
 * subset becomes FLUSHDB of each mapped target DB (inside MULTI groups too), and the config refuses a
 * merge without --allow-db-merge (ERR_CONFIG naming the DBs).
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { DbFilter } from '../../src/filters/index.js';
import type { CommandRecord } from '../../src/records.js';

const b = (s: string) => Buffer.from(s);
const cmd = (db: number, ...args: string[]): CommandRecord => ({ db, argv: args.map(b), offset: 7 });
const text = (r: CommandRecord | null) =>
  r === null ? null : { db: r.db, argv: r.argv.map(String), multi: r.multi?.map((a) => a.map(String)) };

describe('merged DBs (--dbs 0,1 --db-map 1:0)', () => {
  const f = new DbFilter({ dbs: [0, 1, 2], dbMap: [[1, 0]] });

  it('knows the merge', () => {
    expect(f.merging).toBe(true);
    expect(f.merges()).toEqual([[0, [0, 1]]]);
    expect(new DbFilter({ dbs: [1], dbMap: [[1, 0]] }).merging).toBe(false);
    expect(new DbFilter({ dbMap: [[1, 0]] }).merges()).toEqual([[0, [0, 1]]]);
  });

  it('FLUSHDB of either merged DB stops with ERR_DB_MERGE_FLUSH naming the DBs; of an unmerged one passes', () => {
    for (const db of [0, 1]) {
      let err: { code?: string; message?: string; hint?: string } = {};
      try {
        f.command(cmd(db, 'FLUSHDB'));
      } catch (e) {
        err = e as typeof err;
      }
      expect(err.code).toBe('ERR_DB_MERGE_FLUSH');
      expect(err.message).toMatch(new RegExp(`FLUSHDB in DB ${db}.*target DB 0 with source DB ${1 - db}`));
      expect(err.hint).toMatch(/--flush-target/);
    }
    // Inside a MULTI group too (the whole group stops: nothing of it is written).
    expect(() =>
      f.command({ db: 1, argv: [b('SET')], offset: 1, multi: [[b('SET'), b('a'), b('1')], [b('FLUSHDB')]] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_DB_MERGE_FLUSH' }));
    expect(text(f.command(cmd(2, 'FLUSHDB')))?.argv).toEqual(['FLUSHDB']);
    expect(text(f.command(cmd(2, 'flushdb', 'ASYNC')))?.argv).toEqual(['flushdb', 'ASYNC']);
  });

  it('SWAPDB of two merged DBs is a no-op; touching one merged DB stops', () => {
    expect(f.command(cmd(0, 'SWAPDB', '0', '1'))).toBeNull();
    expect(() => f.command(cmd(0, 'SWAPDB', '1', '2'))).toThrow(
      expect.objectContaining({ code: 'ERR_DB_MERGE_FLUSH' }),
    );
  });

  it('MOVE between merged DBs is a no-op; into an unmerged DB it is remapped', () => {
    expect(f.command(cmd(0, 'MOVE', 'k', '1'))).toBeNull();
    expect(f.command(cmd(1, 'MOVE', 'k', '0'))).toBeNull();
    expect(text(f.command(cmd(1, 'MOVE', 'k', '2')))).toEqual({
      db: 0,
      argv: ['MOVE', 'k', '2'],
      multi: undefined,
    });
  });

  it('COPY … DB between merged DBs: same name → no-op, another name → same-DB COPY', () => {
    expect(f.command(cmd(0, 'COPY', 'k', 'k', 'DB', '1'))).toBeNull();
    expect(f.command(cmd(1, 'COPY', 'k', 'k', 'DB', '0', 'REPLACE'))).toBeNull();
    expect(text(f.command(cmd(1, 'COPY', 'a', 'b', 'DB', '0', 'REPLACE')))).toEqual({
      db: 0,
      argv: ['COPY', 'a', 'b', 'REPLACE'],
      multi: undefined,
    });
    expect(text(f.command(cmd(0, 'COPY', 'a', 'b', 'DB', '2')))?.argv).toEqual(['COPY', 'a', 'b', 'DB', '2']);
  });

  it('FLUSHALL stays exact with merges: FLUSHDB of each target DB (every merged source DB is emptied)', () => {
    expect(text(f.command(cmd(1, 'FLUSHALL')))).toEqual({
      db: 0,
      argv: ['FLUSHDB'],
      multi: [['FLUSHDB'], ['SELECT', '2'], ['FLUSHDB'], ['SELECT', '0']],
    });
  });
});

describe('FLUSHALL with a --dbs subset (point 6)', () => {
  it('one mapped DB: a single FLUSHDB there (a cluster target gets no SELECT)', () => {
    const f = new DbFilter({ dbs: [1], dbMap: [[1, 0]] });
    expect(text(f.command(cmd(1, 'FLUSHALL')))).toEqual({ db: 0, argv: ['FLUSHDB'], multi: undefined });
    // From an unselected DB as well (FLUSHALL has no DB of its own).
    expect(text(f.command(cmd(5, 'FLUSHALL')))).toEqual({ db: 0, argv: ['FLUSHDB'], multi: undefined });
  });

  it('inside a MULTI group: FLUSHDBs spliced in, the group ends back in its DB', () => {
    const f = new DbFilter({ dbs: [1, 2], dbMap: [[1, 5]] });
    const rec: CommandRecord = {
      db: 1,
      argv: [b('SET')],
      offset: 3,
      multi: [[b('SET'), b('a'), b('1')], [b('FLUSHALL')], [b('SET'), b('c'), b('3')]],
    };
    expect(text(f.command(rec))).toEqual({
      db: 5,
      argv: ['SET', 'a', '1'],
      multi: [
        ['SET', 'a', '1'],
        ['SELECT', '2'],
        ['FLUSHDB'],
        ['SELECT', '5'],
        ['FLUSHDB'],
        ['SET', 'c', '3'],
      ],
    });
  });

  it('DB counts bound the FLUSHDBs when every DB is selected under a map', () => {
    const f = new DbFilter({ dbMap: [[0, 3]] });
    f.setDatabases({ target: 8, source: 2 });
    // Source DBs 0 and 1 exist: target DBs 3 and 1. Target DBs 0, 2, 4-7 are not the migration's.
    expect(text(f.command(cmd(0, 'FLUSHALL')))?.multi).toEqual([
      ['SELECT', '1'],
      ['FLUSHDB'],
      ['SELECT', '3'],
      ['FLUSHDB'],
    ]);
  });
});

describe('config: a merge needs --allow-db-merge', () => {
  const base = ['--source', 'redis://127.0.0.1:1', '--target', 'redis://127.0.0.1:2'];
  it('refused with ERR_CONFIG naming the DBs', () => {
    let err: { code?: string; message?: string; hint?: string } = {};
    try {
      parseConfig(['--dbs', '0,1', '--db-map', '1:0', ...base], {});
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toMatch(/source DBs 0, 1 into target DB 0/);
    expect(err.hint).toMatch(/--allow-db-merge/);
    // Without --dbs every DB is selected: 1:0 merges DB 0 too.
    expect(() =>
      parseConfig(['restore', '--rdb', 'x.rdb', '--target', 'redis://h:1', '--db-map', '1:0'], {}),
    ).toThrow(/source DBs 0, 1 into target DB 0.*without --dbs/);
  });

  it('accepted with --allow-db-merge, and no merge needs no flag', () => {
    expect(
      parseConfig(['--dbs', '0,1', '--db-map', '1:0', '--allow-db-merge', ...base], {}).allowDbMerge,
    ).toBe(true);
    expect(parseConfig(['--dbs', '1', '--db-map', '1:0', ...base], {}).dbMap).toEqual([[1, 0]]);
    expect(parseConfig(['--db-map', '0:1,1:0', ...base], {}).dbMap).toEqual([
      [0, 1],
      [1, 0],
    ]);
  });
});

describe('a target with fewer DBs than the source (point 4)', () => {
  it('the filter is no longer the identity, and a write for a DB the target lacks stops there', () => {
    const f = new DbFilter({});
    expect(f.identity).toBe(true);
    f.setDatabases({ target: 4, source: 16 });
    expect(f.identity).toBe(false);
    expect(text(f.command(cmd(3, 'SET', 'k', 'v')))?.argv).toEqual(['SET', 'k', 'v']);
    expect(() => f.command(cmd(6, 'SET', 'k', 'v'))).toThrow(
      expect.objectContaining({ code: 'ERR_TARGET_DB', message: expect.stringMatching(/DB 6.*has 4 DBs/) }),
    );
    expect(() =>
      f.command({ db: 6, argv: [b('SET')], offset: 1, multi: [[b('SET'), b('a'), b('1')]] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_TARGET_DB' }));
    // FLUSHALL: only the target's DBs.
    expect(text(f.command(cmd(0, 'FLUSHALL')))?.multi?.filter((a) => a[0] === 'FLUSHDB')).toHaveLength(4);
    const same = new DbFilter({});
    same.setDatabases({ target: 16, source: 16 });
    expect(same.identity).toBe(true);
  });
});
