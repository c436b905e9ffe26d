/**
 * ReplicaSource end to end against a real redis-server 7.0 with a recording sink: the snapshot
 * decodes to the keys written (both transfer forms), the stream arrives as CommandRecords in order
 * with the right db, our offset equals master_repl_offset, the source sees our acked offset, WAIT
 * works, the heartbeat never reaches the sink and yields a lag, and stop() leaves cleanly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicaSource, type ReplicaSourceOptions } from '../../src/sources/replica.js';
import { type TestServer, startRedis } from '../helpers/server.js';
import { ReplicaLink } from '../../src/replication/link.js';
import { acceptHandshake, startFakeMaster } from './fake-master.js';
import { drainUntil, infoField, newDrained, replicaAckOffset, waitFor } from './helpers.js';
import { RecordingSink, show } from './recording-sink.js';

const HB = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
let servers: TestServer[] = [];
let sources: ReplicaSource[] = [];
afterEach(async () => {
  for (const s of sources) await s.stop().catch(() => {});
  for (const s of servers) await s.stop();
  servers = [];
  sources = [];
});

async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis({
    'repl-diskless-sync-delay': '0',
    // No PINGs mid-test: offsets must match exactly.
    'repl-ping-replica-period': '3600',
    ...config,
  });
  servers.push(s);
  return s;
}
function source(s: TestServer, sink: RecordingSink, extra: Partial<ReplicaSourceOptions> = {}) {
  const src = new ReplicaSource(sink, { host: '127.0.0.1', port: s.port, ...extra });
  sources.push(src);
  const running = src.run();
  running.catch(() => {});
  return { src, running };
}
const masterOffset = async (s: TestServer) => Number(await infoField(s.client, 'master_repl_offset'));

describe.each([
  ['diskless', 'yes'],
  ['disk', 'no'],
])('full sync (%s)', (_n, diskless) => {
  it('the snapshot decodes to the keys written, heartbeat key excluded', async () => {
    const s = await server({ 'repl-diskless-sync': diskless });
    await s.client.set('str', 'hello');
    await s.client.rpush('list', 'a', 'b', 'c');
    await s.client.hset('hash', 'f1', 'v1', 'f2', 'v2');
    await s.client.sadd('set', 'x', 'y');
    await s.client.zadd('zset', 1.5, 'm1', 2, 'm2');
    await s.client.set('ttl', 'v', 'PX', 600_000);
    await s.client.select(3);
    await s.client.set('in3', 'three');
    await s.client.select(0);
    await s.client.set(HB, String(Date.now()), 'PX', 60_000); // left over from an earlier run
    const sink = new RecordingSink();
    const { src } = source(s, sink, { heartbeat: { write: false } });
    await waitFor(() => src.status().phase === 'stream');
    const names = sink.keys.map((k) => `${k.meta.db}/${k.meta.key}`).sort();
    expect(names).toEqual(['0/hash', '0/list', '0/set', '0/str', '0/ttl', '0/zset', '3/in3']);
    expect(sink.stringValue('str')).toBe('hello');
    expect(sink.stringValue('in3', 3)).toBe('three');
    const ttl = sink.keys.find((k) => k.meta.key.toString() === 'ttl')!.meta.expireAtMs!;
    expect(Math.abs(ttl - (Date.now() + 600_000))).toBeLessThan(10_000);
    const st = src.status();
    expect(st.keys).toBe(7);
    expect(st.rdbBytesApplied).toBe(st.rdbBytesReceived);
    expect(st.rdbBytesTotal).toBe(st.rdbBytesReceived);
    expect(st.replid).toMatch(/^[0-9a-f]{40}$/);
    expect(sink.positions[0]).toEqual({ replid: st.replid, offset: st.offset, db: 0 });
  });
});

describe('stream phase', () => {
  it('scripted writes arrive in order with the right db; offsets and acks match the source', async () => {
    const s = await server();
    const sink = new RecordingSink();
    const { src } = source(s, sink, { heartbeat: { write: false } });
    await waitFor(() => src.status().phase === 'stream');
    const c = s.client;
    await c.set('a', '1');
    await c.incr('n');
    await c.rpush('l', 'x', 'y');
    await c.hset('h', 'f', 'v');
    await c.multi().set('m1', 'one').incr('m2').exec();
    await c.expire('a', 100);
    await c.select(3);
    await c.set('z', 'in-db-3');
    await c.select(0);
    await c.del('h');
    const target = await masterOffset(s);
    await waitFor(() => src.status().offset === target);
    const got = sink.commands.map(show);
    expect(got.slice(0, 5)).toEqual([
      '0: set a 1',
      '0: incr n',
      '0: rpush l x y',
      '0: hset h f v',
      '0: multi[set m1 one; incr m2]',
    ]);
    expect(got[5]).toMatch(/^0: pexpireat a \d{13}$/); // 7.0 propagates EXPIRE as absolute PEXPIREAT
    expect(got.slice(6)).toEqual(['3: set z in-db-3', '0: del h']);
    expect(sink.commands[4]!.offset).toBeGreaterThan(sink.commands[3]!.offset);
    expect(sink.commands.at(-1)!.offset).toBe(target);
    expect(src.status().offset).toBe(target);
    // The sink acked the last position: the source sees exactly that offset.
    await waitFor(async () => (await replicaAckOffset(c)) === target);
    expect(src.status().ackedOffset).toBe(target);
    // WAIT sends REPLCONF GETACK through the stream; we answer once the sink acked it.
    expect(await c.wait(1, 1000)).toBe(1);
    const p = sink.positions.at(-1)!;
    expect(p.db).toBe(0);
  });

  it('filter drops and remaps keys and commands', async () => {
    const s = await server();
    await s.client.set('keep', '1');
    await s.client.set('skip:me', '1');
    const sink = new RecordingSink();
    const { src } = source(s, sink, {
      heartbeat: { write: false },
      filter: {
        key: (m) => (m.key.toString().startsWith('skip:') ? null : { ...m, db: 5 }),
        command: (r) => (r.argv[1]?.toString().startsWith('skip:') ? null : r),
      },
    });
    await waitFor(() => src.status().phase === 'stream');
    await s.client.set('skip:x', '1');
    await s.client.set('keep2', '2');
    const target = await masterOffset(s);
    await waitFor(() => src.status().offset === target);
    expect(sink.keys.map((k) => `${k.meta.db}/${k.meta.key}`)).toEqual(['5/keep']);
    expect(src.status().keysFiltered).toBe(1);
    expect(sink.commands.map(show)).toEqual(['0: set keep2 2']);
  });

  it('heartbeat: written to the source, never reaches the sink, gives a lag', async () => {
    const s = await server();
    const sink = new RecordingSink();
    const { src } = source(s, sink, { heartbeat: { intervalMs: 100 } });
    await waitFor(() => src.status().phase === 'stream');
    await s.client.set('user', 'v');
    await waitFor(() => src.status().lagMs !== null);
    await new Promise((r) => setTimeout(r, 300));
    const lag = src.status().lagMs!;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(2000);
    expect(Number(await s.client.get(HB))).toBeGreaterThan(Date.now() - 5000);
    expect(sink.commands.map(show)).toEqual(['0: set user v']);
  });

  it('stop(): flushes, sends a final ACK, closes the link', async () => {
    const s = await server();
    const sink = new RecordingSink();
    sink.autoAck = false; // acks only come with flush(), i.e. during stop()
    const { src, running } = source(s, sink, { heartbeat: { write: false }, ackIntervalMs: 600_000 });
    await waitFor(() => src.status().phase === 'stream');
    await s.client.set('k', 'v');
    const target = await masterOffset(s);
    await waitFor(() => src.status().offset === target);
    expect(src.status().ackedOffset).toBeLessThan(target);
    await src.stop();
    await running;
    expect(src.status().phase).toBe('stopped');
    expect(src.status().ackedOffset).toBe(target);
    await waitFor(async () => (await infoField(s.client, 'connected_slaves')) === '0');
  });

  it('stop() during the handshake: run() resolves, nothing is fed', async () => {
    const m = await startFakeMaster(async (c) => {
      await c.command(); // PING, never answered
    });
    const sink = new RecordingSink();
    const src = new ReplicaSource(sink, { host: '127.0.0.1', port: m.port, heartbeat: false });
    const running = src.run();
    await new Promise((r) => setTimeout(r, 100));
    expect(src.status().phase).toBe('connecting');
    await src.stop();
    await expect(running).resolves.toBeUndefined();
    expect(src.status().phase).toBe('stopped');
    expect(sink.positions).toEqual([]);
    await m.close();
  });

  it('PINGs from the source count in the offset and are never forwarded', async () => {
    const s = await server({ 'repl-ping-replica-period': '1' });
    const sink = new RecordingSink();
    const { src } = source(s, sink, { heartbeat: { write: false } });
    await waitFor(() => src.status().phase === 'stream');
    const start = src.status().offset;
    await waitFor(() => src.status().offset >= start + 2 * 14); // two `*1\r\n$4\r\nPING\r\n`
    await waitFor(async () => src.status().offset === (await masterOffset(s)));
    expect(sink.commands).toEqual([]);
    expect(sink.positions.at(-1)!.offset).toBe(src.status().offset);
  });

  it('source drops us mid-stream → what arrived is applied, then run() rejects ERR_SOURCE_LOST', async () => {
    const s = await server();
    const sink = new RecordingSink();
    const { src, running } = source(s, sink, { heartbeat: { write: false } });
    await waitFor(() => src.status().phase === 'stream');
    await s.client.set('before', '1');
    const target = await masterOffset(s);
    await waitFor(() => src.status().offset === target);
    await s.client.client('KILL', 'TYPE', 'replica');
    await expect(running).rejects.toMatchObject({ code: 'ERR_SOURCE_LOST' });
    expect(sink.commands.map(show)).toEqual(['0: set before 1']);
    expect(src.status().phase).toBe('stopped');
  });
});

describe('SYNC fallback', () => {
  it('a master that refuses PSYNC: snapshot and stream still arrive, no positions (no offsets)', async () => {
    // A real RDB, taken from a real server through the link.
    const real = await server();
    await real.client.set('from-rdb', 'yes');
    const l = new ReplicaLink({ host: '127.0.0.1', port: real.port });
    await l.start();
    const rdb = Buffer.concat((await drainUntil(l, newDrained(), (x) => x.rdbEnded)).rdb);
    await l.close();

    const m = await startFakeMaster(async (c) => {
      await acceptHandshake(c);
      await c.send("-ERR unknown command 'PSYNC'\r\n");
      expect((await c.command())[0]).toBe('SYNC');
      await c.send(Buffer.concat([Buffer.from(`\n$${rdb.length}\r\n`), rdb]));
      await c.send('*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n');
    });
    const warnings: string[] = [];
    const sink = new RecordingSink();
    const src = new ReplicaSource(sink, {
      host: '127.0.0.1',
      port: m.port,
      heartbeat: false,
      log: { info() {}, warn: (_o, msg) => warnings.push(msg) },
    });
    const running = src.run();
    running.catch(() => {});
    await waitFor(() => sink.commands.length === 1);
    expect(src.status().mode).toBe('sync');
    expect(warnings.some((w) => /SYNC/.test(w))).toBe(true);
    expect(sink.stringValue('from-rdb')).toBe('yes');
    expect(sink.commands.map(show)).toEqual(['2: set k v']);
    expect(sink.positions).toEqual([]);
    await src.stop();
    await m.close();
  });
});
