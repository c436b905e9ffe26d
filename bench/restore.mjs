#!/usr/bin/env node
/**
 * bench:restore — time `replicant restore` of an RDB with N small keys (default 1M) into a fresh
 * redis-server, against `redis-cli --pipe` of the same keys as a RESP protocol file, in the same run.
 * Prints one JSON line:
 *   {bench:'restore', keys, seconds, keys_per_s, baseline:'redis-cli --pipe', baseline_seconds, ratio, peak_rss_mb}
 * ratio = seconds / baseline_seconds (lower is better; < 1 means faster than the baseline).
 * Env: BENCH_KEYS (default 1000000), REPLICANT_REDIS_SERVER (default redis-server), REDIS_CLI (default redis-cli).
 */
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '../scripts/lib/servers.mjs';
import { run } from '../scripts/lib/run.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = path.join(REPO, 'dist/cli/main.js');
const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const CLI = process.env.REDIS_CLI ?? 'redis-cli';

if (!existsSync(MAIN)) {
  console.error('dist/ missing: run `npm run build` first');
  process.exit(2);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'replicant-bench-'));
const servers = [];

async function startServer(name) {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const srv = await startRedisServer({ dir });
  servers.push(srv);
  return { port: srv.port, dir };
}

/** The same keys as a RESP protocol file: SET key:<i> <value>. Written with backpressure. */
async function writeProtocol(file) {
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  const arg = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  let buf = '';
  for (let i = 0; i < KEYS; i++) {
    buf += `*3\r\n$3\r\nSET\r\n${arg(`key:${i}`)}${arg(`value-${i}-${'x'.repeat(i % 16)}`)}`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise((r) => out.on('finish', r));
}

async function pipeInto(port, file) {
  const t0 = process.hrtime.bigint();
  await run(CLI, ['-p', String(port), '--pipe'], { stdio: [openSync(file, 'r'), 'pipe', 'pipe'] });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function dbsize(port) {
  return Number((await run(CLI, ['-p', String(port), 'DBSIZE'])).out.trim());
}

/** Run the CLI's main() in a child that reports its own peak RSS at exit (resourceUsage is per process). */
async function timeRestore(rdb, port) {
  const code = `const { main } = await import(${JSON.stringify(MAIN)});
const rc = await main(['restore', '--rdb', ${JSON.stringify(rdb)}, '--target', 'redis://127.0.0.1:${port}', '--no-progress', '--log-level', 'warn']);
process.stderr.write('\\nBENCH_RSS ' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = rc;`;
  const t0 = process.hrtime.bigint();
  const { err } = await run(process.execPath, ['--input-type=module', '-e', code]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const rss = Number(/BENCH_RSS (\d+)/.exec(err)?.[1] ?? 0);
  return { seconds, peakRssMb: Math.round(rss / 1024) };
}

try {
  const proto = path.join(tmp, 'keys.resp');
  await writeProtocol(proto);
  const src = await startServer('source');
  await pipeInto(src.port, proto);
  await run(CLI, ['-p', String(src.port), 'SAVE']);
  const rdb = path.join(src.dir, 'dump.rdb');

  const a = await startServer('target-replicant');
  const r = await timeRestore(rdb, a.port);
  const b = await startServer('target-pipe');
  const baseline = await pipeInto(b.port, proto);
  const [na, nb] = [await dbsize(a.port), await dbsize(b.port)];
  if (na !== KEYS || nb !== KEYS)
    throw new Error(`key counts differ: replicant ${na}, redis-cli ${nb}, expected ${KEYS}`);
  const round = (x, d = 3) => Number(x.toFixed(d));
  console.log(
    JSON.stringify({
      bench: 'restore',
      keys: KEYS,
      seconds: round(r.seconds),
      keys_per_s: Math.round(KEYS / r.seconds),
      baseline: 'redis-cli --pipe',
      baseline_seconds: round(baseline),
      ratio: round(r.seconds / baseline, 2),
      peak_rss_mb: r.peakRssMb,
    }),
  );
} catch (err) {
  console.error(`bench:restore failed: ${err.message}`);
  process.exitCode = 2;
} finally {
  for (const srv of servers) srv.stop();
  rmSync(tmp, { recursive: true, force: true });
}
