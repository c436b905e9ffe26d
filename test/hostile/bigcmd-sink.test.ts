/**
 * Issue #14 point 3a, sink side: a source MULTI forwarded in parts (src/replication/stream.ts flags
 * `groupMore`/`groupCont`) is one transaction on a standalone target — one MULTI, the EXEC with the
 * last part; a flush before the last part (a stop, a lost source link) DISCARDs it, since the source
 * sends the whole group again after the resume point; a writer that makes its own transactions
 * (CheckpointWriter) gets each part as a sink MULTI…EXEC inside its batch.
 */
import { describe, expect, it } from 'vitest';
import type { CommandRecord } from '../../src/records.js';
import type { CommandArg } from '../../src/resp/index.js';
import { type ReplyCallback, StandaloneSink, type TargetCaps } from '../../src/sinks/index.js';

class FakeWriter {
  sent: string[] = [];
  cbs: ReplyCallback[] = [];
  needsDrain = false;
  constructor(readonly transactional = false) {}
  send(argv: CommandArg[], cb: ReplyCallback): void {
    this.sent.push(argv.map((a) => (Buffer.isBuffer(a) ? a.toString('latin1') : String(a))).join(' '));
    this.cbs.push(cb);
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
}

const caps: TargetCaps = {
  family: 'redis',
  versionNum: 70000,
  maxRdbVersion: 10,
  protoMaxBulkLen: 512 * 1024 * 1024,
  hasCommand: () => true,
};
const b = (...a: string[]) => a.map((s) => Buffer.from(s));
const part = (cmds: Buffer[][], more: boolean, cont: boolean): CommandRecord => {
  const r: CommandRecord = { db: 0, argv: cmds[0]!, offset: 0, multi: cmds };
  if (more) r.groupMore = true;
  if (cont) r.groupCont = true;
  return r;
};

describe('a source transaction in parts', () => {
  it('one MULTI, one EXEC across the parts', () => {
    const w = new FakeWriter();
    const sink = new StandaloneSink(w, caps);
    sink.command(part([b('RPUSH', 'l', 'a', 'b')], true, false));
    sink.command(part([b('RPUSH', 'l', 'c')], true, true));
    sink.command(part([b('RPUSH', 'l', 'd'), b('INCR', 'n')], false, true));
    sink.command({ db: 0, argv: b('SET', 'x', '1'), offset: 0 });
    expect(w.sent).toEqual([
      'SELECT 0',
      'MULTI',
      'RPUSH l a b',
      'RPUSH l c',
      'RPUSH l d',
      'INCR n',
      'EXEC',
      'SET x 1',
    ]);
  });

  it('flushed before its last part: DISCARD (the source resends the whole group), then SELECT again', () => {
    const w = new FakeWriter();
    const sink = new StandaloneSink(w, caps);
    sink.command(part([b('RPUSH', 'l', 'a')], true, false));
    void sink.flush().catch(() => {});
    sink.command({ db: 0, argv: b('SET', 'x', '1'), offset: 0 });
    expect(w.sent).toEqual(['SELECT 0', 'MULTI', 'RPUSH l a', 'DISCARD', 'SELECT 0', 'SET x 1']);
  });

  it('its last part filtered out: the next record or Position closes it with EXEC', () => {
    const w = new FakeWriter();
    const sink = new StandaloneSink(w, caps);
    sink.command(part([b('RPUSH', 'l', 'a')], true, false));
    sink.position({ replid: 'r', offset: 10, db: 0 });
    expect(w.sent).toEqual(['SELECT 0', 'MULTI', 'RPUSH l a', 'EXEC']);
  });

  it('under a transactional writer (CheckpointWriter) each part is a MULTI…EXEC of its own', () => {
    const w = new FakeWriter(true);
    const sink = new StandaloneSink(w, caps);
    sink.command(part([b('RPUSH', 'l', 'a')], true, false));
    sink.command(part([b('RPUSH', 'l', 'b')], false, true));
    expect(w.sent).toEqual(['SELECT 0', 'MULTI', 'RPUSH l a', 'EXEC', 'MULTI', 'RPUSH l b', 'EXEC']);
  });
});
