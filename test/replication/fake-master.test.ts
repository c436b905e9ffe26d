/**
 * Byte-level cases of the replica link that a real redis-server can't be made to produce on demand:
 * the `$EOF:` mark split across reads, keepalives before and during, replies cut into pieces,
 * `-LOADING` then success, a cut mid-RDB, a PSYNC-less master (SYNC fallback), an aborted BGSAVE.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicaLink } from '../../src/replication/link.js';
import { type FakeConn, type FakeMaster, acceptHandshake, pause, startFakeMaster } from './fake-master.js';
import { drainUntil, newDrained, waitFor } from './helpers.js';

const REPLID = 'a'.repeat(40);
const MARK = 'f00dfacecafebabe0123456789abcdef01234567';
let masters: FakeMaster[] = [];
let links: ReplicaLink[] = [];
afterEach(async () => {
  for (const l of links) await l.close();
  for (const m of masters) await m.close();
  masters = [];
  links = [];
});

async function master(script: (c: FakeConn, i: number) => Promise<void>): Promise<FakeMaster> {
  const m = await startFakeMaster(script);
  masters.push(m);
  return m;
}
function link(m: FakeMaster, extra: Partial<ConstructorParameters<typeof ReplicaLink>[0]> = {}) {
  const l = new ReplicaLink({ host: '127.0.0.1', port: m.port, ...extra });
  links.push(l);
  return l;
}
const set = (k: string, v: string) =>
  Buffer.from(`*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n${v}\r\n`);

describe('diskless transfer', () => {
  // Where the 40-byte mark is cut between two reads: inside the RDB tail, at each end, mid-mark.
  it.each([1, 13, 20, 39, 40, 41])(
    'finds the mark split %i bytes into it, never delivers it',
    async (cut) => {
      const rdb = randomBytes(5000);
      const acks: string[][] = [];
      const m = await master(async (c) => {
        // PONG cut in two, and keepalives before the PSYNC reply and while "BGSAVE" runs.
        await c.command();
        await c.sendSplit(Buffer.from('+PO'), [3]);
        await c.send('NG\r\n');
        await acceptHandshake(c);
        await c.send('\n\n');
        await c.sendSplit(Buffer.from(`+FULLRESYNC ${REPLID} 1000\r\n\n\n`), [5, 30]);
        await pause();
        await c.send('\n');
        await c.sendSplit(Buffer.from(`$EOF:${MARK}\r\n`), [4, 10]);
        const payload = Buffer.concat([rdb, Buffer.from(MARK)]);
        const at = rdb.length + cut;
        await c.sendSplit(payload, [2000, at - 2000]);
        acks.push(await c.command()); // the stream must wait for our first ACK
        await c.send(set('k', 'v'));
        for (;;) acks.push(await c.command());
      });
      const l = link(m);
      expect(await l.start()).toEqual({ mode: 'full', replid: REPLID, offset: 1000 });
      const d = await drainUntil(l, newDrained(), (x) => x.stream.length > 0);
      expect(Buffer.concat(d.rdb).equals(rdb)).toBe(true);
      expect(l.rdbSize).toBe(rdb.length);
      expect(acks[0]).toEqual(['REPLCONF', 'ACK', '0']);
      expect(Buffer.concat(d.stream).equals(set('k', 'v'))).toBe(true);
      expect(l.receivedOffset).toBe(1000 + set('k', 'v').length);
    },
  );

  it('mark delivered one byte per read', async () => {
    const rdb = randomBytes(300);
    const m = await master(async (c) => {
      await acceptHandshake(c);
      await c.send(`+FULLRESYNC ${REPLID} 7\r\n$EOF:${MARK}\r\n`);
      await c.send(rdb);
      await c.sendSplit(Buffer.from(MARK), new Array(40).fill(1));
      await c.command();
      await c.send(set('a', 'b'));
    });
    const l = link(m);
    await l.start();
    const d = await drainUntil(l, newDrained(), (x) => x.stream.length > 0);
    expect(Buffer.concat(d.rdb).equals(rdb)).toBe(true);
  });
});

describe('disk transfer ($len)', () => {
  it('reads exactly len bytes; the stream may follow in the same read', async () => {
    const rdb = randomBytes(3000);
    const stream = Buffer.concat([set('x', '1'), Buffer.from('*1\r\n$4\r\nPING\r\n')]);
    const m = await master(async (c) => {
      await acceptHandshake(c);
      await c.send(`+FULLRESYNC ${REPLID} 42\r\n`);
      const all = Buffer.concat([Buffer.from(`\n\n$${rdb.length}\r\n`), rdb, stream]);
      await c.sendSplit(all, [3, 5, 1500]);
    });
    const l = link(m);
    await l.start();
    const d = await drainUntil(l, newDrained(), (x) => Buffer.concat(x.stream).length >= stream.length);
    expect(Buffer.concat(d.rdb).equals(rdb)).toBe(true);
    expect(Buffer.concat(d.stream).equals(stream)).toBe(true);
    expect(l.receivedOffset).toBe(42 + stream.length);
  });
});

describe('partial resync', () => {
  it.each([
    ['+CONTINUE <new replid>', `+CONTINUE ${'b'.repeat(40)}`, 'b'.repeat(40)],
    ['bare +CONTINUE (pre-psync2)', '+CONTINUE', REPLID],
  ])('%s: PSYNC replid offset+1, the backlog follows at once', async (_n, reply, replid) => {
    let psync: string[] = [];
    const m = await master(async (c) => {
      psync = await acceptHandshake(c);
      await c.send(`${reply}\r\n`);
      await c.send(set('r', '1'));
    });
    const l = link(m, { resume: { replid: REPLID, offset: 5000, db: 2 } });
    expect(await l.start()).toEqual({ mode: 'continue', replid, offset: 5000 });
    expect(psync).toEqual(['PSYNC', REPLID, '5001']);
    const d = await drainUntil(l, newDrained(), (x) => x.stream.length > 0);
    expect(d.rdb).toEqual([]);
    expect(d.rdbEnded).toBe(false);
    expect(Buffer.concat(d.stream).equals(set('r', '1'))).toBe(true);
    expect(l.receivedOffset).toBe(5000 + set('r', '1').length);
    expect(l.ackedOffset).toBe(5000);
  });
});

describe('source answers', () => {
  it('-LOADING, then success on a later connection', async () => {
    const m = await master(async (c, i) => {
      if (i === 0) {
        await c.command();
        await c.send('-LOADING Redis is loading the dataset in memory\r\n');
        return;
      }
      await acceptHandshake(c);
      await c.send(`+FULLRESYNC ${REPLID} 0\r\n$3\r\nabc`);
    });
    const warnings: string[] = [];
    const l = link(m, {
      retry: { baseDelayMs: 10 },
      log: { info() {}, warn: (_o, msg) => warnings.push(msg) },
    });
    expect((await l.start()).mode).toBe('full');
    expect(m.connections).toBe(2);
    expect(warnings.some((w) => /retrying/.test(w))).toBe(true);
    const d = await drainUntil(l, newDrained(), (x) => x.rdbEnded);
    expect(Buffer.concat(d.rdb).toString()).toBe('abc');
  });

  it('connection cut mid-RDB → what arrived is delivered, then ERR_SOURCE_LOST', async () => {
    const m = await master(async (c) => {
      await acceptHandshake(c);
      await c.send(`+FULLRESYNC ${REPLID} 0\r\n$100000\r\n`);
      await c.send(Buffer.alloc(1000, 7));
      await pause();
      c.destroy();
    });
    const l = link(m);
    await l.start();
    const d = await drainUntil(l, newDrained(), () => false);
    expect(Buffer.concat(d.rdb).length).toBe(1000);
    expect(d.error).toMatchObject({ code: 'ERR_SOURCE_LOST' });
    expect(d.error?.message).toMatch(/RDB transfer/);
  });

  it('a source that goes silent mid-stream → ERR_SOURCE_LOST after readTimeoutMs', async () => {
    const m = await master(async (c) => {
      await acceptHandshake(c);
      await c.send(`+FULLRESYNC ${REPLID} 0\r\n$1\r\nZ`);
      await c.send(set('a', 'b')); // then nothing: no PING, no close
    });
    // Our own ACKs keep flowing meanwhile: they must not count as the source being alive.
    const l = link(m, { readTimeoutMs: 300, ackIntervalMs: 50 });
    await l.start();
    const t0 = Date.now();
    const d = await drainUntil(l, newDrained(), () => false);
    expect(Buffer.concat(d.stream).equals(set('a', 'b'))).toBe(true);
    expect(d.error).toMatchObject({ code: 'ERR_SOURCE_LOST' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('-ERR to PSYNC → falls back to SYNC and says so', async () => {
    let sawSync = false;
    const m = await master(async (c) => {
      const psync = await acceptHandshake(c);
      expect(psync).toEqual(['PSYNC', '?', '-1']);
      await c.send("-ERR unknown command 'PSYNC', with args beginning with: \r\n");
      const sync = await c.command();
      sawSync = sync[0] === 'SYNC';
      await c.send('\n$4\r\nRDB!');
      await c.send(set('s', 't'));
    });
    const warnings: string[] = [];
    const l = link(m, { log: { info() {}, warn: (_o, msg) => warnings.push(msg) } });
    expect(await l.start()).toEqual({ mode: 'sync', replid: '', offset: 0 });
    const d = await drainUntil(l, newDrained(), (x) => x.stream.length > 0);
    expect(sawSync).toBe(true);
    expect(warnings.some((w) => /falling back to SYNC/.test(w))).toBe(true);
    expect(Buffer.concat(d.rdb).toString()).toBe('RDB!');
    expect(Buffer.concat(d.stream).equals(set('s', 't'))).toBe(true);
  });

  it('-ERR instead of the RDB → ERR_SOURCE_ABORTED', async () => {
    const m = await master(async (c) => {
      await acceptHandshake(c);
      await c.send(`+FULLRESYNC ${REPLID} 0\r\n\n-ERR BGSAVE failed\r\n`);
    });
    const l = link(m);
    await l.start();
    const d = await drainUntil(l, newDrained(), () => false);
    expect(d.error).toMatchObject({ code: 'ERR_SOURCE_ABORTED' });
  });

  async function ackingMaster(acks: number[]): Promise<FakeMaster> {
    return master(async (c) => {
      await acceptHandshake(c);
      await c.send(`+FULLRESYNC ${REPLID} 100\r\n$1\r\nZ`);
      for (;;) {
        const cmd = await c.command();
        if (cmd[0] === 'REPLCONF' && cmd[1] === 'ACK') acks.push(Number(cmd[2]));
      }
    });
  }

  it('ACKs every interval with the acked offset, never going back', async () => {
    const acks: number[] = [];
    const l = link(await ackingMaster(acks), { ackIntervalMs: 30 });
    await l.start();
    await drainUntil(l, newDrained(), (x) => x.rdbEnded);
    await waitFor(() => acks.length >= 2);
    l.setAckedOffset(150);
    await waitFor(() => acks.filter((a) => a === 150).length >= 2);
    l.setAckedOffset(120); // stale report: ignored
    await pause(100);
    expect(acks.every((a, i) => i === 0 || a >= acks[i - 1]!)).toBe(true);
  });

  it('GETACK is answered at once, and again as soon as the target catches up', async () => {
    const acks: number[] = [];
    const l = link(await ackingMaster(acks), { ackIntervalMs: 600_000 });
    await l.start();
    await drainUntil(l, newDrained(), (x) => x.rdbEnded);
    l.setAckedOffset(150);
    await pause(50);
    expect(acks).toEqual([]); // no timer ACK, no GETACK pending: nothing sent
    l.getAck(180);
    await waitFor(() => acks.length === 1);
    expect(acks).toEqual([150]);
    l.setAckedOffset(170);
    await pause(50);
    expect(acks).toEqual([150]);
    l.setAckedOffset(190);
    await waitFor(() => acks.length === 2);
    expect(acks).toEqual([150, 190]);
  });

  it('close() sends a final ACK with the acked offset', async () => {
    const acks: number[] = [];
    const l = link(await ackingMaster(acks), { ackIntervalMs: 600_000 });
    await l.start();
    await drainUntil(l, newDrained(), (x) => x.rdbEnded);
    l.setAckedOffset(321);
    expect(acks).toEqual([]);
    await l.close();
    await waitFor(() => acks.length === 1);
    expect(acks).toEqual([321]);
    expect(l.phase).toBe('closed');
  });
});
