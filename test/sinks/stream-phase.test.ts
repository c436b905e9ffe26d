/**
 * Replication-stream records into a real target: SELECT only on a db change, MULTI groups with a
 * SELECT inside, EXEC errors and refused commands are fatal (with the command and key), positions
 * are acked in order and only after the writes before them were answered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicantError } from '../../src/errors.js';
import type { Position } from '../../src/records.js';
import { StandaloneSink } from '../../src/sinks/index.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { readCaps, SocketWriter } from './helpers.js';

let target: TestServer;
const b = (...a: string[]) => a.map((s) => Buffer.from(s));
const pos = (offset: number): Position => ({ replid: 'r'.repeat(40), offset, db: 0 });

beforeAll(async () => {
  target = await startRedis();
});
afterAll(async () => target?.stop());

async function open(): Promise<{ sink: StandaloneSink; w: SocketWriter; acks: number[] }> {
  await target.client.flushall();
  const w = await SocketWriter.connect(target.port, 8);
  const sink = new StandaloneSink(w, await readCaps(target.client));
  const acks: number[] = [];
  sink.onAck((p) => acks.push(p.offset));
  return { sink, w, acks };
}

const inDb = async (db: number, key: string) => {
  const c = target.client.duplicate({ db });
  try {
    return await c.get(key);
  } finally {
    c.disconnect();
  }
};

describe('stream phase', () => {
  it('applies commands on their db, SELECT only when the db changes', async () => {
    const { sink, w } = await open();
    sink.command({ db: 0, argv: b('SET', 'a', '1'), offset: 10 });
    sink.command({ db: 0, argv: b('SET', 'b', '2'), offset: 20 });
    sink.command({ db: 3, argv: b('SET', 'a', '3'), offset: 30 });
    sink.command({ db: 3, argv: b('INCR', 'a'), offset: 40 });
    sink.command({ db: 0, argv: b('DEL', 'b'), offset: 50 });
    await sink.flush();
    w.close();
    expect(w.names).toEqual(['SELECT', 'SET', 'SET', 'SELECT', 'SET', 'INCR', 'SELECT', 'DEL']);
    expect(await inDb(0, 'a')).toBe('1');
    expect(await inDb(0, 'b')).toBe(null);
    expect(await inDb(3, 'a')).toBe('4');
    expect(sink.stats.commands).toBe(5);
  });

  it('sends a MULTI group as MULTI … EXEC, following a SELECT inside it across DBs', async () => {
    const { sink, w } = await open();
    sink.command({
      db: 1,
      argv: [],
      offset: 10,
      multi: [b('SET', 'x', '1'), b('SELECT', '2'), b('SET', 'y', '2')],
    });
    sink.command({ db: 2, argv: b('SET', 'z', '3'), offset: 20 }); // already on db 2: no SELECT
    sink.command({ db: 1, argv: b('SET', 'w', '4'), offset: 30 });
    await sink.flush();
    w.close();
    // SELECT 2 first, outside the group: a DB's first SELECT is answered before anything follows it
    // (inside MULTI a missing DB would only show at EXEC, after the rest ran in the old DB).
    expect(w.names).toEqual([
      'SELECT',
      'SELECT',
      'MULTI',
      'SET',
      'SELECT',
      'SET',
      'EXEC',
      'SET',
      'SELECT',
      'SET',
    ]);
    expect(await inDb(1, 'x')).toBe('1');
    expect(await inDb(2, 'y')).toBe('2');
    expect(await inDb(2, 'z')).toBe('3');
    expect(await inDb(1, 'w')).toBe('4');
    expect(await inDb(1, 'y')).toBe(null);
  });

  it('an error inside the EXEC reply is fatal and names the inner command and key', async () => {
    const { sink, w, acks } = await open();
    await target.client.set('txt', 'not a number');
    sink.command({ db: 0, argv: [], offset: 10, multi: [b('SET', 'ok', '1'), b('INCR', 'txt')] });
    sink.position(pos(10));
    const err = await sink.flush().catch((e: unknown) => e);
    w.close();
    expect(err).toBeInstanceOf(ReplicantError);
    expect((err as ReplicantError).code).toBe('ERR_TARGET_WRITE');
    expect((err as ReplicantError).message).toMatch(
      /refused INCR on key "txt" \(db 0\): ERR value is not an integer/,
    );
    expect(acks).toEqual([]); // nothing at or after a failed write is acked
    sink.command({ db: 0, argv: b('SET', 'after', '1'), offset: 20 }); // ignored once failed
    expect(await target.client.exists('after')).toBe(0);
  });

  it('a refused plain command rejects drain and flush, with the key printable-escaped', async () => {
    const { sink, w } = await open();
    await target.client.set(Buffer.from([0x6b, 0x00, 0xff]), 'v');
    sink.command({
      db: 0,
      argv: [Buffer.from('LPUSH'), Buffer.from([0x6b, 0x00, 0xff]), Buffer.from('x')],
      offset: 5,
    });
    await expect(sink.flush()).rejects.toMatchObject({
      code: 'ERR_TARGET_WRITE',
      message: expect.stringContaining('refused LPUSH on key "k\\x00\\xff" (db 0): WRONGTYPE'),
    });
    await expect(sink.drain()).rejects.toMatchObject({ code: 'ERR_TARGET_WRITE' });
    w.close();
  });

  it('acks positions in order, only after the replies to every earlier write', async () => {
    const { sink, w, acks } = await open();
    sink.position(pos(1)); // nothing outstanding: acked at once
    expect(acks).toEqual([1]);
    w.hold = true;
    for (let i = 0; i < 5; i++) sink.command({ db: 0, argv: b('INCR', 'n'), offset: 10 + i });
    sink.position(pos(14));
    sink.command({ db: 0, argv: b('INCR', 'n'), offset: 15 });
    sink.position(pos(15));
    await target.client.ping(); // the target has answered by now; replies are held back by the writer
    await new Promise((r) => setTimeout(r, 50));
    expect(acks).toEqual([1]);
    w.release();
    expect(acks).toEqual([1, 14, 15]);
    await sink.flush();
    expect(await target.client.get('n')).toBe('6');
    w.close();
  });

  it('needsDrain follows the connection window and drain() resolves when it has room', async () => {
    const { sink, w } = await open();
    w.hold = true;
    for (let i = 0; i < 8; i++) sink.command({ db: 0, argv: b('INCR', 'm'), offset: i });
    expect(sink.needsDrain).toBe(true);
    let drained = false;
    const d = sink.drain().then(() => {
      drained = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    w.release();
    await target.client.ping();
    sink.command({ db: 0, argv: b('INCR', 'm'), offset: 9 });
    await d;
    await sink.flush();
    expect(drained).toBe(true);
    expect(await target.client.get('m')).toBe('9');
    w.close();
  });
});
