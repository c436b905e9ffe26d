/**
 * The shared helpers must be trustworthy before anyone relies on "0 diffs": seed a server, let real
 * Redis replication copy it (REPLICAOF), compare → 0 diffs; then damage the copy in each way and
 * check compareServers notices every one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareServers } from '../helpers/compare.js';
import { runWriteLoad, seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';

let src: TestServer;
let dst: TestServer;

async function waitSynced(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [a, b] = await Promise.all([src.client.info('replication'), dst.client.info('replication')]);
    const mo = /master_repl_offset:(\d+)/.exec(a)?.[1];
    const so = /master_repl_offset:(\d+)/.exec(b)?.[1];
    if (/master_link_status:up/.test(b) && mo === so) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('replica did not catch up');
}

beforeAll(async () => {
  src = await startRedis();
  dst = await startRedis();
  const seeded = await seedAllTypes(src.client, { functions: true, bigSize: 200 });
  expect(seeded.keys).toBeGreaterThan(4 * 30);
  const load = await runWriteLoad(src.client, { ops: 3000, dbs: [0, 1, 5] });
  expect(Object.keys(load.byCommand).length).toBeGreaterThan(40);
  await dst.client.replicaof('127.0.0.1', src.port);
  await waitSynced();
  await dst.client.replicaof('NO', 'ONE');
});

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
});

describe('compareServers', () => {
  it('a real replica copy compares equal (every type, TTLs, streams, functions)', async () => {
    const r = await compareServers(src.client, dst.client);
    expect(r.diffs).toEqual([]);
    expect(r.keysCompared).toBeGreaterThan(150);
  });

  it('notices every kind of damage', async () => {
    const t = dst.client.duplicate({ db: 0 });
    const t5 = dst.client.duplicate({ db: 5 });
    try {
      await t.del('list:small');
      await t.set('extra-key', '1');
      await t.lset('list:big', 7, 'changed');
      await t.zadd('zset:small', '1.5000001', 'one-and-half');
      await t.hset('hash:big', 'field-3', 'other');
      await t.sadd('set:int-big', '1');
      await t.persist('str:ttl');
      await t.call('XCLAIM', 'stream:main', 'g1', 'c1', '0', '1000004-1');
      await t5.set('str:int', '12346');
      await t.call('FUNCTION', 'DELETE', 'replicant_seed');
      const r = await compareServers(src.client, dst.client, { ttlToleranceMs: 1000 });
      const got = r.diffs.map((d) => `${d.db} ${d.key} ${d.kind}`).sort();
      expect(got).toEqual(
        [
          '-1  functions',
          '0 extra-key extra',
          '0 hash:big value',
          '0 list:big value',
          '0 list:small missing',
          '0 set:int-big value',
          '0 str:ttl ttl',
          '0 stream:main value',
          '0 zset:small value',
          '5 str:int value',
        ].sort(),
      );
      // dbs + dbMap + ignoreKeys
      const only5 = await compareServers(src.client, dst.client, { dbs: [5], functions: false });
      expect(only5.diffs.map((d) => d.key)).toEqual(['str:int']);
      const ign = await compareServers(src.client, dst.client, {
        dbs: [5],
        functions: false,
        ignoreKeys: ['str:int'],
      });
      expect(ign.diffs).toEqual([]);
      const mapped = await compareServers(src.client, dst.client, {
        dbs: [1],
        dbMap: { 1: 15 },
        functions: false,
      });
      expect(mapped.diffs.length).toBeGreaterThan(0); // db 15 holds only seed data, not db 1's write load
    } finally {
      t.disconnect();
      t5.disconnect();
    }
  });
});
