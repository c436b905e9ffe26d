/**
 * The sink's safety net for a target DB that does not exist (issue #13 point 4): the first SELECT of
 * each DB is answered before anything behind it goes out; an error reply stops the run with
 * ERR_TARGET_DB naming the DB, and the held writes (MSET batches encoded in place, RESTOREs, stream
 * commands, MULTI groups) are never sent — before, they ran in the DB the connection was still in.
 * A writer that records what was sent, answered by hand.
 */
import { describe, expect, it } from 'vitest';
import { ServerReplyError } from '../../src/errors.js';
import type { KeyMeta } from '../../src/records.js';
import type { CommandArg } from '../../src/resp/index.js';
import { type ReplyCallback, StandaloneSink, type TargetCaps } from '../../src/sinks/index.js';

class Writer {
  sent: string[] = [];
  cbs: ReplyCallback[] = [];
  needsDrain = false;
  send(argv: CommandArg[], cb: ReplyCallback): void {
    this.sent.push(argv.map((a) => (Buffer.isBuffer(a) ? a.toString('latin1') : String(a))).join(' '));
    this.cbs.push(cb);
  }
  sendRaw(bytes: Buffer, cb: ReplyCallback): void {
    this.sent.push(`raw:${/\$\d+\r\n([A-Z]+)\r\n/.exec(bytes.toString('latin1'))![1]}`);
    this.cbs.push(cb);
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  answer(n = this.cbs.length, reply: unknown = 'OK'): void {
    for (const cb of this.cbs.splice(0, n)) {
      if (reply instanceof Error) cb(reply, null);
      else cb(null, reply);
    }
  }
}

const caps: TargetCaps = {
  family: 'redis',
  versionNum: 70000,
  maxRdbVersion: 10,
  protoMaxBulkLen: 512 * 1024 * 1024,
  hasCommand: () => true,
};

function str(db: number, key: string): KeyMeta {
  return {
    db,
    key: Buffer.from(key),
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

function writeString(sink: StandaloneSink, db: number, key: string): void {
  sink.keyStart(str(db, key));
  sink.keyRaw(Buffer.from([0x01, 0x78]));
  sink.keyElements({ kind: 'string', data: Buffer.from('x') });
  sink.keyEnd();
}

const refused = () => new ServerReplyError('ERR DB index is out of range');

describe('first SELECT of a DB gates the pipeline', () => {
  it('an out-of-range DB: ERR_TARGET_DB, and the MSET batch behind it is never sent', async () => {
    const w = new Writer();
    const sink = new StandaloneSink(w, caps, {});
    writeString(sink, 0, 'a'); // DB 0: no wait
    writeString(sink, 20, 'b');
    writeString(sink, 20, 'c');
    await new Promise((r) => process.nextTick(r)); // the batch's nextTick flush
    expect(w.sent).toEqual(['SELECT 0', 'raw:MSET', 'SELECT 20']);
    w.answer(2); // SELECT 0 and the MSET in DB 0
    w.answer(1, refused());
    const err = (await sink.flush().catch((e: unknown) => e)) as {
      code: string;
      message: string;
      hint: string;
    };
    expect(err.code).toBe('ERR_TARGET_DB');
    expect(err.message).toMatch(/SELECT 20.*no DB 20/);
    expect(err.hint).toMatch(/--db-map/);
    expect(w.sent).toEqual(['SELECT 0', 'raw:MSET', 'SELECT 20']);
  });

  it('once answered, the held writes go in order, and later SELECTs of that DB do not wait', async () => {
    const w = new Writer();
    const sink = new StandaloneSink(w, caps, {});
    writeString(sink, 3, 'a');
    sink.command({ db: 3, argv: [Buffer.from('SET'), Buffer.from('s'), Buffer.from('1')], offset: 1 });
    await new Promise((r) => process.nextTick(r));
    expect(w.sent).toEqual(['SELECT 3']);
    w.answer(1);
    expect(w.sent).toEqual(['SELECT 3', 'raw:MSET', 'SET s 1']);
    sink.command({ db: 0, argv: [Buffer.from('SET'), Buffer.from('t'), Buffer.from('2')], offset: 2 });
    sink.command({ db: 3, argv: [Buffer.from('SET'), Buffer.from('u'), Buffer.from('3')], offset: 3 });
    expect(w.sent.slice(3)).toEqual(['SELECT 0', 'SET t 2', 'SELECT 3', 'SET u 3']);
    w.answer();
    await sink.flush();
  });

  it('a stream command held behind the gate keeps its bytes (the source reuses its buffers)', async () => {
    const w = new Writer();
    const sink = new StandaloneSink(w, caps, {});
    const arg = Buffer.from('value');
    sink.command({ db: 5, argv: [Buffer.from('SET'), Buffer.from('k'), arg], offset: 1 });
    arg.fill(0x2d); // the caller's buffer is reused
    w.answer(1);
    expect(w.sent).toEqual(['SELECT 5', 'SET k value']);
    w.answer();
    await sink.flush();
  });

  it('a MULTI group selecting a missing DB: refused before MULTI, nothing of the group sent', async () => {
    const w = new Writer();
    const sink = new StandaloneSink(w, caps, {});
    const b = (...a: string[]) => a.map((s) => Buffer.from(s));
    sink.command({
      db: 1,
      argv: [],
      offset: 1,
      multi: [b('SET', 'x', '1'), b('SELECT', '30'), b('FLUSHDB')],
    });
    expect(w.sent).toEqual(['SELECT 30']);
    w.answer(1, refused());
    const err = (await sink.flush().catch((e: unknown) => e)) as { code: string };
    expect(err.code).toBe('ERR_TARGET_DB');
    expect(w.sent).toEqual(['SELECT 30']);
  });

  it('with the DB count known: no wait below it, a stop before the SELECT at or above it', async () => {
    const w = new Writer();
    const sink = new StandaloneSink(w, caps, {});
    sink.setDatabases(16);
    sink.command({ db: 3, argv: [Buffer.from('SET'), Buffer.from('a'), Buffer.from('1')], offset: 1 });
    expect(w.sent).toEqual(['SELECT 3', 'SET a 1']); // no gate: a checkpointed stream never waits here
    writeString(sink, 20, 'b');
    sink.command({ db: 3, argv: [Buffer.from('SET'), Buffer.from('c'), Buffer.from('2')], offset: 2 });
    await new Promise((r) => process.nextTick(r));
    expect(w.sent).toEqual(['SELECT 3', 'SET a 1']);
    w.answer();
    const err = (await sink.flush().catch((e: unknown) => e)) as { code: string; message: string };
    expect(err.code).toBe('ERR_TARGET_DB');
    expect(err.message).toMatch(/write for DB 20 arrived, but the target has 16 DBs/);
  });

  it('with the DB count known: a MULTI group selecting a missing DB stops before MULTI', async () => {
    const w = new Writer();
    const sink = new StandaloneSink(w, caps, {});
    sink.setDatabases(4);
    const b = (...a: string[]) => a.map((s) => Buffer.from(s));
    sink.command({ db: 1, argv: [], offset: 1, multi: [b('SET', 'x', '1'), b('SELECT', '9'), b('FLUSHDB')] });
    expect(w.sent).toEqual([]);
    const err = (await sink.flush().catch((e: unknown) => e)) as { code: string };
    expect(err.code).toBe('ERR_TARGET_DB');
  });
});
