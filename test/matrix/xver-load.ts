/**
 * Stream-phase writes whose replicated form carries something an older target lacks (issue #13):
 * RESTORE of a DUMP payload (the source's payload version), the options added since 5.0 (EXPIRE
 * NX/GT, ZADD GT/LT, XADD/XTRIM MINID/LIMIT/NOMKSTREAM, GETEX, GETDEL, LMPOP/ZMPOP, SET … GET/EXAT,
 * ZRANGESTORE/ZDIFFSTORE/GEOSEARCHSTORE, XAUTOCLAIM, Valkey's SET IFEQ/DELIFEQ/HGETDEL). Each command is guarded by what the SOURCE has; the caller
 * compares the target to the source afterwards. Shared by the version matrix and
 * test/e2e/xver-stream.test.ts. What each source version replicates for these was read from
 * `redis-cli --replica` on 5.0.7, 6.2.5, 7.0.15, 7.2.4, 7.4.1 and Valkey 9.1.2 (see
 * src/translate/commands.ts).
 */
import type { Redis } from 'ioredis';

type Arg = string | number | Buffer;

export async function crossVersionStreamLoad(
  c: Redis,
  sv: number,
  family: 'redis' | 'valkey' = 'redis',
  prefix = 'xv:',
): Promise<void> {
  const k = (s: string) => `${prefix}${s}`;
  const call = (...a: Arg[]) => c.call(String(a[0]), ...a.slice(1));
  const inAnHour = Date.now() + 3_600_000;

  // DUMP on the source, RESTORE of that payload under new keys: one per type, with and without TTL.
  await c.set(k('d:str'), 'dumped-string');
  await c.rpush(k('d:list'), 'a', 'b', 'c');
  await c.hset(k('d:hash'), 'f1', 'v1', 'f2', 'v2');
  await c.sadd(k('d:set'), 'm1', 'm2', 'm3');
  await c.zadd(k('d:zset'), 1, 'a', 2.5, 'b', -3, 'c');
  await call('XADD', k('d:stream'), '1-1', 'f', 'v');
  await call('XADD', k('d:stream'), '2-1', 'f', 'w');
  await call('XGROUP', 'CREATE', k('d:stream'), 'grp', '0');
  // A big list: the rewrite goes in bounded chunks (512 elements a command).
  const big: string[] = [];
  for (let i = 0; i < 3000; i++) big.push(`item-${i}-${'x'.repeat(20)}`);
  for (let i = 0; i < big.length; i += 500) await c.rpush(k('d:big'), ...big.slice(i, i + 500));
  const names = ['str', 'list', 'hash', 'set', 'zset', 'stream', 'big'];
  for (const n of names) {
    const p = await c.dumpBuffer(k(`d:${n}`));
    await call('RESTORE', k(`r:${n}`), 0, p);
    await call('RESTORE', k(`r:${n}:ttl`), 600_000, p); // relative
    if (sv >= 50000) await call('RESTORE', k(`r:${n}:abs`), inAnHour, p, 'ABSTTL');
  }
  const strPayload = await c.dumpBuffer(k('d:str'));
  const listPayload = await c.dumpBuffer(k('d:list'));
  // REPLACE over an existing key of another type: the rewrite must delete first.
  await c.sadd(k('r:repl'), 'old-member');
  await call('RESTORE', k('r:repl'), 0, listPayload, 'REPLACE');
  await c.set(k('r:repl2'), 'old', 'EX', 900);
  await call('RESTORE', k('r:repl2'), 0, strPayload, 'REPLACE'); // the old TTL goes too
  if (sv >= 50000) {
    await call('RESTORE', k('r:idle'), 0, strPayload, 'REPLACE', 'IDLETIME', 100);
    await call('RESTORE', k('r:abs-repl'), inAnHour, listPayload, 'ABSTTL', 'REPLACE');
  }

  // Expirations with options (7.0+: replicated as PEXPIREAT … NX|GT|LT|XX).
  await c.set(k('e:nx'), 'v');
  await c.set(k('e:gt'), 'v', 'EX', 500);
  if (sv >= 70000) {
    await call('EXPIRE', k('e:nx'), 700, 'NX');
    await call('EXPIRE', k('e:gt'), 800, 'GT');
    await call('PEXPIRE', k('e:gt'), 100_000, 'LT');
    await call('EXPIREAT', k('e:gt'), Math.floor(inAnHour / 1000), 'XX');
  }

  // ZADD GT/LT (6.2+), several members, some updated and some not, INCR.
  await c.zadd(k('z'), 1, 'a', 5, 'b', 9, 'c');
  await c.zadd(k('zp'), 1, 'a', 2, 'b', 3, 'c', 4, 'd');
  if (sv >= 60200) {
    await call('ZADD', k('z'), 'GT', 'CH', 3, 'a', 2, 'b', 10, 'new');
    await call('ZADD', k('z'), 'LT', 7, 'c', 8, 'b');
    await call('ZADD', k('z'), 'GT', 'INCR', 4, 'a');
    await call('ZADD', k('z'), 'XX', 'GT', 20, 'c', 1, 'nope');
  }

  // Streams: MINID, LIMIT, NOMKSTREAM (6.2+); exact MAXLEN everywhere.
  for (let i = 1; i <= 8; i++) await call('XADD', k('x'), `${i}-0`, 'f', `v${i}`);
  await call('XTRIM', k('x'), 'MAXLEN', '=', 7);
  if (sv >= 60200) {
    await call('XTRIM', k('x'), 'MINID', '3-0');
    await call('XADD', k('x'), 'MINID', 4, '9-0', 'f', 'v9');
    await call('XADD', k('x'), 'MAXLEN', '~', 2, 'LIMIT', 10, '10-0', 'f', 'v10');
    await call('XADD', k('x'), 'NOMKSTREAM', '11-0', 'f', 'v11');
    await call('XADD', k('x:none'), 'NOMKSTREAM', '*', 'f', 'v'); // no stream: nothing replicated
    await call('XTRIM', k('x'), 'MINID', '~', '6', 'LIMIT', 100);
  }

  // GETEX / GETDEL (6.2+), SET … GET / EXAT (6.2+), KEEPTTL (6.0+).
  await c.set(k('g:ex'), 'v');
  await c.set(k('g:persist'), 'v', 'EX', 1000);
  await c.set(k('g:del'), 'v');
  await c.set(k('s:get'), 'old');
  if (sv >= 60200) {
    await call('GETEX', k('g:ex'), 'EX', 900);
    await call('GETEX', k('g:persist'), 'PERSIST');
    await call('GETDEL', k('g:del'));
    await call('SET', k('s:get'), 'new', 'GET');
    await call('SET', k('s:getex'), 'v', 'EX', 800, 'GET');
    await call('SET', k('s:exat'), 'v', 'EXAT', Math.floor(inAnHour / 1000));
  }
  if (sv >= 60000) await call('SET', k('s:get'), 'newer', 'KEEPTTL');

  // LMPOP / ZMPOP and the blocking forms (7.0+: replicated as LPOP/RPOP/ZPOPMIN/ZPOPMAX with count).
  await c.rpush(k('l'), 'a', 'b', 'c', 'd', 'e', 'f', 'g');
  if (sv >= 70000) {
    // Sharded pub/sub is replicated too; a target without it drops it (no data, but it stopped runs).
    await call('SPUBLISH', k('ch'), 'message');
    await call('LMPOP', 2, k('l:none'), k('l'), 'LEFT', 'COUNT', 2);
    await call('BLMPOP', 1, 1, k('l'), 'RIGHT', 'COUNT', 2);
    await call('ZMPOP', 1, k('zp'), 'MIN', 'COUNT', 2);
    await call('BZMPOP', 1, 1, k('zp'), 'MAX');
  }

  // The *STORE commands of 6.2 (replicated as sent), and XAUTOCLAIM of a deleted pending entry.
  await c.zadd(k('zs'), 1, 'a', 2, 'b', 3, 'c', 4, 'd');
  await c.sadd(k('zso'), 'b');
  await call('GEOADD', k('geo'), 13.361389, 38.115556, 'Palermo', 15.087269, 37.502669, 'Catania');
  for (let i = 1; i <= 3; i++) await call('XADD', k('xc'), `${i}-0`, 'f', `v${i}`);
  await call('XGROUP', 'CREATE', k('xc'), 'g', '0');
  await call('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 3, 'STREAMS', k('xc'), '>');
  // A pending entry deleted, then XAUTOCLAIM: 7.0+ drop it from the PEL and replicate that as an XCLAIM
  // of the deleted ID. 6.2 keeps it pending, which a 7.0+ target cannot hold (its XCLAIM of a deleted ID
  // drops it too; README, Stream-phase commands): only from 7.0+ sources.
  if (sv >= 70000) await call('XDEL', k('xc'), '1-0');
  if (sv >= 60200) {
    await call('ZRANGESTORE', k('zs:r1'), k('zs'), 1, 2);
    await call('ZRANGESTORE', k('zs:r2'), k('zs'), '+inf', '(1', 'BYSCORE', 'REV', 'LIMIT', 0, 2);
    await call('ZDIFFSTORE', k('zs:d'), 2, k('zs'), k('zso'));
    await call(
      'GEOSEARCHSTORE',
      k('geo:s'),
      k('geo'),
      'FROMLONLAT',
      15,
      37,
      'BYRADIUS',
      200,
      'km',
      'STOREDIST',
    );
    await call('XAUTOCLAIM', k('xc'), 'g', 'bob', 0, '0-0');
  }

  // Valkey 9: SET IFEQ and DELIFEQ (replicated as SET … IFEQ / DEL), HGETDEL (replicated as is).
  if (family === 'valkey' && sv >= 90000) {
    await c.set(k('v:ifeq'), 'one');
    await call('SET', k('v:ifeq'), 'two', 'IFEQ', 'one');
    await c.set(k('v:delifeq'), 'gone');
    await call('DELIFEQ', k('v:delifeq'), 'gone');
    await c.hset(k('v:hash'), 'a', '1', 'b', '2', 'c', '3');
    await call('HGETDEL', k('v:hash'), 'FIELDS', 2, 'a', 'b');
  }
}
