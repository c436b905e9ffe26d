#!/usr/bin/env node
/**
 * bench:verify — time `replicant verify` over N small keys (default 1M) on two equal servers (the
 * target made by a native replica, then detached), against `redis-cli --scan` listing the source's
 * keys in the same run (the floor: one side, names only, no values). Prints one JSON line:
 *   {bench:'verify', keys, seconds, keys_per_s, baseline:'redis-cli --scan (names, one side, default COUNT)',
 *    baseline_seconds, ratio, peak_rss_mb}
 * ratio = seconds / baseline_seconds. Env: BENCH_KEYS, REPLICANT_REDIS_SERVER, REDIS_CLI.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, startRedisServer } from '../scripts/lib/servers.mjs';
import { run } from '../scripts/lib/run.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = path.join(REPO, 'dist/cli/main.js');
const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const CLI = process.env.REDIS_CLI ?? 'redis-cli';

if (!existsSync(MAIN)) {
  console.error('dist/ missing: run `npm run build` first');
  process.exit(2);
}

const servers = [];

const cli = (port, ...args) => run(CLI, ['-p', String(port), ...args]).then((r) => r.out.trim());

async function start() {
  const s = await startRedisServer({ args: ['--enable-debug-command', 'yes'] });
  servers.push(s);
  return s.port;
}

try {
  const src = await start();
  const dst = await start();
  await cli(src, 'DEBUG', 'POPULATE', String(KEYS), 'key', '24');
  await cli(dst, 'REPLICAOF', '127.0.0.1', String(src));
  for (;;) {
    const info = await cli(dst, 'INFO', 'replication');
    if (/master_link_status:up/.test(info) && Number(await cli(dst, 'DBSIZE')) === KEYS) break;
    await sleep(100);
  }
  await cli(dst, 'REPLICAOF', 'NO', 'ONE');

  const code = `const { main } = await import(${JSON.stringify(MAIN)});
const rc = await main(['verify', '--source', 'redis://127.0.0.1:${src}', '--target', 'redis://127.0.0.1:${dst}', '--json', '--rounds', '1', '--no-progress', '--log-level', 'warn']);
process.stderr.write('\\nBENCH_RSS ' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = rc;`;
  const t0 = process.hrtime.bigint();
  const r = await run(process.execPath, ['--input-type=module', '-e', code], { anyCode: true });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`verify exited ${r.code}: ${r.err}${r.out}`);
  const checked = JSON.parse(r.out).dbs.reduce((a, d) => a + d.checked, 0);
  if (checked !== KEYS) throw new Error(`verify checked ${checked} keys, expected ${KEYS}`);
  const rss = Number(/BENCH_RSS (\d+)/.exec(r.err)?.[1] ?? 0);

  const b0 = process.hrtime.bigint();
  const scan = await run(CLI, ['-p', String(src), '--scan'], { countLines: true });
  const baseline = Number(process.hrtime.bigint() - b0) / 1e9;
  if (scan.lines !== KEYS) throw new Error(`redis-cli --scan listed ${scan.lines} keys, expected ${KEYS}`);
  const round = (x, d = 3) => Number(x.toFixed(d));
  console.log(
    JSON.stringify({
      bench: 'verify',
      keys: KEYS,
      seconds: round(seconds),
      keys_per_s: Math.round(KEYS / seconds),
      baseline: 'redis-cli --scan (names, one side, default COUNT)',
      baseline_seconds: round(baseline),
      ratio: round(seconds / baseline, 2),
      peak_rss_mb: Math.round(rss / 1024),
    }),
  );
} catch (err) {
  console.error(`bench:verify failed: ${err.message}`);
  process.exitCode = 2;
} finally {
  for (const s of servers) s.stop();
}
