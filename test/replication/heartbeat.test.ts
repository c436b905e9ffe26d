/**
 * Heartbeat: the filter drops every propagated form of the key (and records the newest value for
 * lag); the writer writes the key to a real source once per interval, and gives up quietly (logged
 * once) on a source it may not write to.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HeartbeatFilter, HeartbeatWriter, isCommand } from '../../src/replication/heartbeat.js';
import { type TestServer, freePort, startRedis } from '../helpers/server.js';
import { waitFor } from './helpers.js';

const b = (...a: string[]) => a.map((x) => Buffer.from(x));
const HB = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';

describe('HeartbeatFilter', () => {
  it('drops SET/PXAT, DEL, UNLINK, PEXPIREAT of the key; keeps others untouched', () => {
    const f = new HeartbeatFilter();
    expect(f.command(b('SET', HB, '1700000000123', 'PXAT', '1700000005123'))).toBeNull();
    expect(f.newestMs).toBe(1700000000123);
    expect(f.command(b('set', HB, '1700000000100'))).toBeNull();
    expect(f.newestMs).toBe(1700000000123); // an older value never moves it back
    expect(f.command(b('DEL', HB))).toBeNull();
    expect(f.command(b('unlink', HB))).toBeNull();
    expect(f.command(b('PEXPIREAT', HB, '1'))).toBeNull();
    expect(f.command(b('DEL', 'a', HB, 'b'))).toEqual(b('DEL', 'a', 'b'));
    const other = b('SET', 'user:1', HB);
    expect(f.command(other)).toBe(other);
    const ping = b('PING');
    expect(f.command(ping)).toBe(ping);
    expect(f.lagMs(1700000001123)).toBe(1000);
    expect(new HeartbeatFilter().lagMs()).toBeNull();
    expect(f.isKey(Buffer.from(HB))).toBe(true);
    expect(new HeartbeatFilter('custom').isKey(Buffer.from(HB))).toBe(false);
  });

  it('isCommand compares names case-insensitively and exactly', () => {
    expect(isCommand(Buffer.from('SeLeCt'), 'select')).toBe(true);
    expect(isCommand(Buffer.from('selects'), 'select')).toBe(false);
    expect(isCommand(Buffer.from('del'), 'set')).toBe(false);
  });
});

describe('HeartbeatWriter', () => {
  let servers: TestServer[] = [];
  const writers: HeartbeatWriter[] = [];
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.stop();
    for (const s of servers) await s.stop();
    servers = [];
  });
  function writer(s: { port: number }, extra: Partial<ConstructorParameters<typeof HeartbeatWriter>[0]>) {
    const w = new HeartbeatWriter({ host: '127.0.0.1', port: s.port, intervalMs: 50, ...extra });
    writers.push(w);
    return w;
  }

  it('writes SET key <now-ms> PX 5000 every interval', async () => {
    const s = await startRedis();
    servers.push(s);
    const w = writer(s, {});
    w.start();
    await waitFor(() => w.writes >= 3);
    const v = Number(await s.client.get(HB));
    expect(Math.abs(Date.now() - v)).toBeLessThan(2000);
    const ttl = await s.client.pttl(HB);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
  });

  it.each([
    ['an ACL user without +set (NOPERM)', 'acl'],
    ['a read-only replica (READONLY)', 'replica'],
  ])('on %s: logs once, stops, never throws', async (_n, kind) => {
    const s = await startRedis(kind === 'replica' ? { replicaof: `127.0.0.1 ${await freePort()}` } : {});
    servers.push(s);
    if (kind === 'acl') await s.client.call('ACL', 'SETUSER', 'ro', 'on', '>pw', '+get', '+ping');
    const warnings: string[] = [];
    const w = writer(s, {
      ...(kind === 'acl' ? { username: 'ro', password: 'pw' } : {}),
      log: { info() {}, warn: (_o, m) => warnings.push(m) },
    });
    w.start();
    await waitFor(() => w.disabledReason !== null);
    expect(w.disabledReason).toMatch(kind === 'acl' ? /^-NOPERM/ : /^-READONLY/);
    await new Promise((r) => setTimeout(r, 200));
    expect(warnings.length).toBe(1);
    expect(w.writes).toBe(0);
  });

  it('unreachable source: logs once, keeps trying, no throw', async () => {
    const warnings: string[] = [];
    const w = writer({ port: await freePort() }, { log: { info() {}, warn: (_o, m) => warnings.push(m) } });
    w.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(warnings.length).toBe(1);
    expect(w.disabledReason).toBeNull();
  });
});
