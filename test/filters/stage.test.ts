import { describe, expect, it } from 'vitest';
import { buildFilters, FilterStage } from '../../src/filters/index.js';
import type { KeyMeta, KeyVisitor, ValueChunk } from '../../src/records.js';

function meta(db: number, key: string, type: KeyMeta['type'] = 'list'): KeyMeta {
  return {
    db,
    key: Buffer.from(key),
    type,
    rdbType: 18,
    rdbVersion: 10,
    family: 'redis',
    expireAtMs: null,
    idleSeconds: null,
    freq: null,
    module: null,
  };
}

class Recorder implements KeyVisitor {
  calls: string[] = [];
  keyStart(m: KeyMeta) {
    this.calls.push(`start ${m.db} ${m.key}`);
  }
  keyRaw(c: Buffer) {
    this.calls.push(`raw ${c.length}`);
  }
  keyElements(c: ValueChunk) {
    this.calls.push(`el ${c.kind}`);
  }
  keyEnd() {
    this.calls.push('end');
  }
  functionLibrary() {
    this.calls.push('fn');
  }
}

function feed(v: KeyVisitor, m: KeyMeta) {
  v.keyStart(m);
  v.keyRaw(Buffer.alloc(3));
  v.keyElements({ kind: 'list', items: [Buffer.from('x')] });
  v.keyRaw(Buffer.alloc(2));
  v.keyEnd();
}

describe('FilterStage', () => {
  it('drops the whole key (raw and element chunks) after keyStart said no, counts by type', () => {
    const rec = new Recorder();
    const f = buildFilters({ dbs: [0, 2], dbMap: [[2, 5]], match: 'user:*' });
    const stage = new FilterStage(rec, { filters: f.keys, skipFunctions: true });
    feed(stage, meta(0, 'user:1'));
    feed(stage, meta(1, 'user:2')); // db not selected
    feed(stage, meta(2, 'order:1')); // name does not match
    feed(stage, meta(2, 'user:3', 'hash'));
    stage.functionLibrary(Buffer.from('#!lua name=x'));
    expect(rec.calls).toEqual([
      'start 0 user:1',
      'raw 3',
      'el list',
      'raw 2',
      'end',
      'start 5 user:3',
      'raw 3',
      'el list',
      'raw 2',
      'end',
    ]);
    expect(stage.stats.keysPassed).toBe(2);
    expect(stage.stats.keysFiltered).toBe(2);
    expect(stage.stats.byType.list).toBe(1);
    expect(stage.stats.byType.hash).toBe(1);
    expect(stage.stats.functionsSkipped).toBe(1);
  });

  it('buildFilters leaves identity filters out', () => {
    const f = buildFilters({ match: '*' });
    expect(f.keys).toEqual([]);
    const m = meta(3, 'a');
    expect(f.source.key(m)).toBe(m);
  });
});

describe('FilterStage auto-mode decoder hooks', () => {
  it('wantElements is false for dropped keys, else asks the next stage; keyUpgraded only for passed keys', () => {
    const calls: string[] = [];
    const next = Object.assign(new Recorder(), {
      wantElements: (m: KeyMeta) => {
        calls.push(`want ${m.key}`);
        return m.type === 'hash';
      },
      keyUpgraded: () => calls.push('upgraded'),
    });
    const stage = new FilterStage(next, { filters: buildFilters({ match: 'a*' }).keys });
    stage.keyStart(meta(0, 'b1'));
    expect(stage.wantElements(meta(0, 'b1'))).toBe(false);
    stage.keyUpgraded();
    stage.keyEnd();
    stage.keyStart(meta(0, 'a1', 'hash'));
    expect(stage.wantElements(meta(0, 'a1', 'hash'))).toBe(true);
    stage.keyUpgraded();
    stage.keyEnd();
    expect(calls).toEqual(['want a1', 'upgraded']);
    expect(new FilterStage(new Recorder()).wantElements(meta(0, 'x'))).toBe(true);
  });
});
