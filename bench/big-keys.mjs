#!/usr/bin/env node
/**
 * bench:big-keys — `replicant restore` of an RDB holding only big keys (default: a 5M-element list,
 * set, hash and zset, and a 100k-entry stream with two consumer groups and a PEL; ~237 MB), all above
 * --big-key-bytes so every one goes as chunked commands. Run twice — as installed (the CLI caps V8's young generation, src/cli/heap.ts), and
 * `--max-semi-space-size=2` (README, Guarantees and limits) — against the same data loaded by
 * `redis-cli --pipe` from a RESP file of the commands that built it, in the same run: that is the cost
 * of writing these values with commands at all, the floor for any rewrite.
 * Prints one JSON line:
 *   {bench:'big-keys', elements, rdb_mb, runs:[{node_flags, seconds, mb_per_s, elements_per_s, peak_rss_mb}],
 *    baseline:'redis-cli --pipe', baseline_seconds, ratio}
 * ratio = the default run's seconds / baseline_seconds (lower is better).
 * Env: BENCH_ELEMENTS (default 5000000 per collection), REPLICANT_REDIS_SERVER, REDIS_CLI.
 */
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '../scripts/lib/servers.mjs';
import { run } from '../scripts/lib/run.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = path.join(REPO, 'dist/cli/main.js');
const N = Number(process.env.BENCH_ELEMENTS ?? 5_000_000);
const STREAM = Math.min(100_000, N);
const CLI = process.env.REDIS_CLI ?? 'redis-cli';
const KEYS = ['big:list', 'big:set', 'big:hash', 'big:zset', 'big:stream'];

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
  return { port: srv.port, dir, stop: srv.stop };
}

/** The commands that build the dataset, as a RESP file (written with backpressure). */
async function writeProtocol(file) {
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  const arg = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const cmd = (a) => `*${a.length}\r\n${a.map(arg).join('')}`;
  let buf = '';
  const put = async (s) => {
    buf += s;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
      buf = '';
    }
  };
  const STEP = 2000;
  for (let i = 0; i < N; i += STEP) {
    const items = Array.from({ length: Math.min(STEP, N - i) }, (_, j) => `e:${i + j}`);
    await put(cmd(['RPUSH', 'big:list', ...items]));
    await put(cmd(['SADD', 'big:set', ...items]));
    await put(cmd(['HSET', 'big:hash', ...items.flatMap((e, j) => [e, String(i + j)])]));
    await put(cmd(['ZADD', 'big:zset', ...items.flatMap((e, j) => [String((i + j) / 3), e])]));
  }
  for (let j = 0; j < STREAM; j++)
    await put(cmd(['XADD', 'big:stream', `${j + 1}-0`, 'n', String(j), 'p', `v${j % 97}`]));
  await put(cmd(['XGROUP', 'CREATE', 'big:stream', 'g1', '0']));
  await put(cmd(['XGROUP', 'CREATE', 'big:stream', 'g2', `${Math.floor(STREAM / 2)}-0`]));
  await put(cmd(['XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '3000', 'STREAMS', 'big:stream', '>']));
  out.end(buf);
  await new Promise((r) => out.on('finish', r));
}

async function pipeInto(port, file) {
  const t0 = process.hrtime.bigint();
  await run(CLI, ['-p', String(port), '--pipe'], { stdio: [openSync(file, 'r'), 'pipe', 'pipe'] });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Sizes of the five keys (LLEN, SCARD, HLEN, ZCARD, XLEN): what must match after each run. */
async function sizes(port) {
  const out = [];
  for (const [c, k] of [
    ['LLEN', KEYS[0]],
    ['SCARD', KEYS[1]],
    ['HLEN', KEYS[2]],
    ['ZCARD', KEYS[3]],
    ['XLEN', KEYS[4]],
  ])
    out.push(Number((await run(CLI, ['-p', String(port), c, k])).out.trim()));
  return out;
}

/** The CLI's main() in a child with `flags`, reporting its own peak RSS at exit. */
async function timeRestore(flags, rdb, port) {
  const code = `const { main } = await import(${JSON.stringify(MAIN)});
const rc = await main(['restore', '--rdb', ${JSON.stringify(rdb)}, '--target', 'redis://127.0.0.1:${port}', '--no-progress', '--log-level', 'warn']);
process.stderr.write('\\nBENCH_RSS ' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = rc;`;
  const t0 = process.hrtime.bigint();
  const { err } = await run(process.execPath, [...flags, '--input-type=module', '-e', code]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const rss = Number(/BENCH_RSS (\d+)/.exec(err)?.[1] ?? 0);
  return { seconds, peakRssMb: Math.round(rss / 1024) };
}

try {
  const proto = path.join(tmp, 'big.resp');
  await writeProtocol(proto);
  const src = await startServer('source');
  await pipeInto(src.port, proto);
  await run(CLI, ['-p', String(src.port), 'SAVE']);
  const rdb = path.join(src.dir, 'dump.rdb');
  const rdbBytes = statSync(rdb).size;
  const want = await sizes(src.port);
  src.stop();

  const round = (x, d = 3) => Number(x.toFixed(d));
  const runs = [];
  for (const flags of [[], ['--max-semi-space-size=2']]) {
    const t = await startServer(`target-${runs.length}`);
    const r = await timeRestore(flags, rdb, t.port);
    const got = await sizes(t.port);
    if (JSON.stringify(got) !== JSON.stringify(want))
      throw new Error(
        `sizes differ after restore (${flags.join(' ') || 'defaults'}): ${got} vs source ${want}`,
      );
    t.stop();
    runs.push({
      node_flags: flags.join(' ') || 'none (CLI caps the young generation)',
      seconds: round(r.seconds),
      mb_per_s: round(rdbBytes / 1048576 / r.seconds, 1),
      elements_per_s: Math.round((4 * N + STREAM) / r.seconds),
      peak_rss_mb: r.peakRssMb,
    });
  }
  const b = await startServer('target-pipe');
  const baseline = await pipeInto(b.port, proto);
  console.log(
    JSON.stringify({
      bench: 'big-keys',
      elements: N,
      stream_entries: STREAM,
      rdb_mb: round(rdbBytes / 1048576, 1),
      runs,
      baseline: 'redis-cli --pipe of the commands that built the data',
      baseline_seconds: round(baseline),
      ratio: round(runs[0].seconds / baseline, 2),
    }),
  );
} catch (err) {
  console.error(`bench:big-keys failed: ${err.message}`);
  process.exitCode = 2;
} finally {
  for (const srv of servers) srv.stop();
  rmSync(tmp, { recursive: true, force: true });
}
