// Generates (once, cached under os.tmpdir()) a mixed RDB of ≥ 200 MB written by a real redis-server:
// DEBUG POPULATE strings, random strings, and pipelined lists/hashes/sets/zsets/streams in both
// compact and big encodings. Usage: node bench/gen-rdb.mjs [--force]; prints the file path.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { startRedisServer } from '../scripts/lib/servers.mjs';

const VERSION = 'v1';
export const CACHE_DIR = path.join(os.tmpdir(), 'replicant-bench');
export const RDB_PATH = path.join(CACHE_DIR, `mixed-${VERSION}.rdb`);

async function pipelined(c, n, add) {
  let p = c.pipeline();
  for (let i = 0; i < n; i++) {
    add(p, i);
    if (p.length >= 2000) {
      await p.exec();
      p = c.pipeline();
    }
  }
  if (p.length > 0) await p.exec();
}

const rnd = (n) => {
  let s = '';
  while (s.length < n) s += Math.random().toString(36).slice(2);
  return s.slice(0, n);
};

async function seed(c) {
  // ~1.6 M strings of 64 bytes via DEBUG POPULATE (compressible), plus 500k random 200-byte strings.
  await c.call('DEBUG', 'POPULATE', '1600000', 'pop', '64');
  await pipelined(c, 500_000, (p, i) => p.set(`rs:${i}`, rnd(200)));
  // lists: 4000 × 300 small items (quicklist of listpacks)
  await pipelined(c, 4000 * 10, (p, i) =>
    p.rpush(
      `list:${i % 4000}`,
      ...Array.from({ length: 30 }, (_, j) => (j % 2 ? `item-${i}-${j}` : String(i * 31 + j))),
    ),
  );
  // hashes: 30000 small (listpack) + 300 big (hashtable)
  await pipelined(c, 30000, (p, i) =>
    p.hset(
      `hash:${i}`,
      ...Array.from({ length: 40 }, (_, j) => [`field${j}`, j % 3 ? rnd(12) : String(j)]).flat(),
    ),
  );
  await pipelined(c, 300 * 10, (p, i) =>
    p.hset(`bighash:${i % 300}`, ...Array.from({ length: 100 }, (_, j) => [`f${i}-${j}`, rnd(24)]).flat()),
  );
  // sets: 20000 intsets + 300 big string sets
  await pipelined(c, 20000, (p, i) =>
    p.sadd(`iset:${i}`, ...Array.from({ length: 100 }, (_, j) => i * 1000 + j)),
  );
  await pipelined(c, 300 * 10, (p, i) =>
    p.sadd(`bigset:${i % 300}`, ...Array.from({ length: 100 }, (_, j) => `m${i}-${j}-${rnd(8)}`)),
  );
  // zsets: 20000 small (listpack) + 200 big (skiplist)
  await pipelined(c, 20000, (p, i) =>
    p.zadd(`zset:${i}`, ...Array.from({ length: 40 }, (_, j) => [Math.random() * 1000, `member${j}`]).flat()),
  );
  await pipelined(c, 200 * 10, (p, i) =>
    p.zadd(
      `bigzset:${i % 200}`,
      ...Array.from({ length: 100 }, (_, j) => [Math.random() * 1e9, `z${i}-${j}`]).flat(),
    ),
  );
  // streams: 200 × 2000 entries
  await pipelined(c, 200 * 2000, (p, i) =>
    p.xadd(`stream:${i % 200}`, '*', 'sensor', String(i), 'value', rnd(16)),
  );
  await pipelined(c, 200, (p, i) => p.xgroup('CREATE', `stream:${i}`, 'g', '0'));
}

export async function ensureRdb(force = false) {
  if (!force && existsSync(RDB_PATH)) return RDB_PATH;
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = path.join(CACHE_DIR, `gen-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const srv = await startRedisServer({ dir, args: ['--enable-debug-command', 'yes'] });
  const port = srv.port;
  try {
    const c = new Redis({ port, host: '127.0.0.1', retryStrategy: (n) => (n > 50 ? null : 100) });
    await c.ping();
    const t0 = Date.now();
    await seed(c);
    await c.call('SAVE');
    c.disconnect();
    renameSync(path.join(dir, 'dump.rdb'), RDB_PATH);
    process.stderr.write(
      `generated ${RDB_PATH} (${statSync(RDB_PATH).size} bytes) in ${Date.now() - t0} ms\n`,
    );
  } finally {
    srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return RDB_PATH;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await ensureRdb(process.argv.includes('--force')));
}
