#!/usr/bin/env node
// The README's demo: starts two throwaway redis-servers on free loopback ports, seeds the source with
// sample data of every type in several DBs, runs a live migration (`replicant --source … --target …`)
// with its progress on your terminal, keeps writing to the source meanwhile, then verifies the target
// key by key (type, value digest, TTL) and stops the migration with SIGTERM like an operator would.
// Usage: npm run demo [-- --keys 200000]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { REDIS_SERVER, sleep, startRedisServer } from './lib/servers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../dist/replica.js');
const argv = process.argv.slice(2);
const KEYS = Number(argv[argv.indexOf('--keys') + 1] || 200_000) || 200_000;
const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
const servers = [];

function say(msg) {
  process.stderr.write(`\x1b[1mdemo:\x1b[0m ${msg}\n`);
}

async function startServer(extra = []) {
  const srv = await startRedisServer({ args: ['--enable-debug-command', 'yes', ...extra] });
  servers.push(srv);
  const client = new Redis({ port: srv.port, host: '127.0.0.1' });
  await client.ping();
  return { port: srv.port, client, url: srv.url };
}

async function seed(c) {
  for (const db of [0, 1, 5]) {
    await c.select(db);
    let pipe = c.pipeline();
    const n = db === 0 ? KEYS : 1000;
    for (let i = 0; i < n; i++) {
      switch (i % 6) {
        case 0:
          pipe.set(`user:${i}`, `name-${i}`);
          break;
        case 1:
          pipe.hset(`profile:${i}`, 'name', `n${i}`, 'age', String(i % 90), 'bio', 'x'.repeat(i % 50));
          break;
        case 2:
          pipe.rpush(`queue:${i}`, 'a', 'b', String(i));
          break;
        case 3:
          pipe.sadd(`tags:${i}`, 'red', 'green', String(i % 7));
          break;
        case 4:
          pipe.zadd(`rank:${i}`, i / 3, 'alice', '+inf', 'top', '-inf', 'bottom');
          break;
        case 5:
          pipe.set(`session:${i}`, `token-${i}`, 'EX', 3600 + (i % 600));
          break;
      }
      if (pipe.length >= 5000) {
        await pipe.exec();
        pipe = c.pipeline();
      }
    }
    await pipe.exec();
  }
  await c.select(0);
  const bigList = c.pipeline();
  for (let i = 0; i < 100; i++)
    bigList.rpush('big:list', ...Array.from({ length: 1000 }, (_, j) => `e${i * 1000 + j}`));
  await bigList.exec();
  await c.xadd('events', '*', 'type', 'signup', 'user', '1');
  await c.xadd('events', '*', 'type', 'login', 'user', '1');
  await c.xgroup('CREATE', 'events', 'mailer', '0');
  await c.xreadgroup('GROUP', 'mailer', 'worker-1', 'COUNT', '1', 'STREAMS', 'events', '>');
}

async function liveWrites(c, stop) {
  let n = 0;
  while (!stop.done) {
    const p = c.pipeline();
    for (let i = 0; i < 100; i++, n++) {
      p.incr('counter');
      p.rpush('big:list', `live-${n}`);
      p.hset(`profile:${n % 1000}`, 'seen', String(Date.now()));
    }
    await p.exec();
    await sleep(10);
  }
  return n;
}

async function verify(src, dst) {
  const info = await src.info('keyspace');
  const dbs = [...info.matchAll(/^db(\d+):/gm)].map((m) => Number(m[1]));
  let keys = 0;
  const diffs = [];
  for (const db of dbs) {
    await src.select(db);
    await dst.select(db);
    let cursor = '0';
    do {
      const [next, batch] = await src.scan(cursor, 'COUNT', 1000);
      cursor = next;
      const live = batch.filter((k) => k !== HEARTBEAT);
      const ps = src.pipeline();
      const pd = dst.pipeline();
      for (const k of live) {
        ps.type(k).call('DEBUG', 'DIGEST-VALUE', k).pttl(k);
        pd.type(k).call('DEBUG', 'DIGEST-VALUE', k).pttl(k);
      }
      const [rs, rd] = await Promise.all([ps.exec(), pd.exec()]);
      live.forEach((k, i) => {
        const [t1, d1, p1] = rs.slice(i * 3, i * 3 + 3).map((x) => x[1]);
        const [t2, d2, p2] = rd.slice(i * 3, i * 3 + 3).map((x) => x[1]);
        const ttlOk = (p1 < 0 && p1 === p2) || (p1 >= 0 && p2 >= 0 && Math.abs(p1 - p2) <= 1000);
        if (t1 !== t2 || String(d1) !== String(d2) || !ttlOk)
          diffs.push(`db${db} ${k}: ${t1}/${t2} ttl ${p1}/${p2}`);
      });
      keys += live.length;
    } while (cursor !== '0');
    const [a, b] = [await src.dbsize(), await dst.dbsize()];
    const hb = (await src.exists(HEARTBEAT)) ? 1 : 0;
    if (a - hb !== b) diffs.push(`db${db}: ${a - hb} keys on the source, ${b} on the target`);
  }
  await src.select(0);
  await dst.select(0);
  return { keys, diffs };
}

let exitCode = 1;
try {
  say(`starting a source and a target redis-server (${REDIS_SERVER})`);
  const src = await startServer(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
  const dst = await startServer();
  say(`seeding the source (${src.url}) with ~${KEYS + 2000} keys of every type in DBs 0, 1 and 5`);
  await seed(src.client);

  say(`running: replicant --source ${src.url} --target ${dst.url}`);
  const child = spawn(process.execPath, [CLI, '--source', src.url, '--target', dst.url], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const stop = { done: false };
  const writer = liveWrites(src.client, stop);
  await sleep(4000);
  stop.done = true;
  const written = await writer;
  say(`wrote ${written * 3} commands to the source during the migration; waiting for the target to catch up`);
  let result;
  for (let i = 0; i < 60; i++) {
    result = await verify(src.client, dst.client);
    if (result.diffs.length === 0 || child.exitCode !== null) break;
    await sleep(500);
  }
  say('stopping replicant with SIGTERM (it flushes the target and sends a final ACK)');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const code = await exited;
  if (result.diffs.length === 0 && code === 0) {
    say(
      `\x1b[32mverified: ${result.keys} keys equal on both sides (type, value digest, TTL within 1 s)\x1b[0m`,
    );
    exitCode = 0;
  } else {
    say(
      `\x1b[31m${result.diffs.length} differences (replicant exit code ${code}):\x1b[0m\n  ${result.diffs.slice(0, 10).join('\n  ')}`,
    );
  }
  src.client.disconnect();
  dst.client.disconnect();
} catch (e) {
  say(`failed: ${e instanceof Error ? e.message : e}`);
} finally {
  for (const srv of servers) srv.stop();
}
process.exit(exitCode);
