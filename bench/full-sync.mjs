#!/usr/bin/env node
// bench/full-sync: seconds for replicant to migrate N keys (full sync, live mode) ÷ seconds of a native
// replica (REPLICAOF) full sync of the same data, measured in the same run; plus replicant's peak RSS.
// Usage: npm run build && node bench/full-sync.mjs [--keys 1000000] [--value-bytes 32] [--target-cluster N]
// --target-cluster N: replicant writes into an N-master cluster instead of one server (the baseline stays a
// native replica full sync of the same source).
// Prints one JSON line. Needs redis-server and redis-cli on PATH (or REPLICANT_REDIS_SERVER).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../scripts/lib/cluster.mjs';
import { cpuSeconds, sleep, startRedisServer } from '../scripts/lib/servers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../dist/replica.js');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : Number(args[i + 1]);
};
const KEYS = opt('keys', 1_000_000);
const VALUE_BYTES = opt('value-bytes', 32);
const TARGET_CLUSTER = opt('target-cluster', 0);

const servers = [];
const pids = new Map();
const dirs = [];

function cli(port, ...cmd) {
  const r = spawnSync('redis-cli', ['-p', String(port), ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli ${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function startServer(extra = []) {
  const srv = await startRedisServer({ args: extra });
  servers.push(srv);
  pids.set(srv.port, srv.pid);
  return srv.port;
}

function info(port, section) {
  const out = cli(port, 'INFO', section);
  return Object.fromEntries(
    out
      .split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

async function seed(port) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-bench-seed-'));
  dirs.push(dir);
  const file = path.join(dir, 'seed.resp');
  const ws = createWriteStream(file);
  const val = 'v'.repeat(VALUE_BYTES);
  let buf = '';
  for (let i = 0; i < KEYS; i++) {
    const k = `key:${i}`;
    buf += `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${val.length}\r\n${val}\r\n`;
    if (buf.length > 1 << 20) {
      if (!ws.write(buf)) await new Promise((r) => ws.once('drain', r));
      buf = '';
    }
  }
  ws.end(buf);
  await new Promise((r) => ws.once('finish', r));
  const r = spawnSync('sh', ['-c', `redis-cli -p ${port} --pipe < ${file}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`seeding failed: ${r.stderr}`);
}

async function nativeSync(srcPort) {
  const port = await startServer();
  const t0 = performance.now();
  cli(port, 'REPLICAOF', '127.0.0.1', String(srcPort));
  for (;;) {
    const i = info(port, 'replication');
    if (i.master_link_status === 'up' && i.master_sync_in_progress === '0') {
      const n = Number(cli(port, 'DBSIZE'));
      if (n >= KEYS) break;
    }
    await sleep(10);
  }
  return (performance.now() - t0) / 1000;
}

async function replicantSync(srcPort) {
  let port;
  let targetUrl;
  let dbsize;
  let targetPids;
  if (TARGET_CLUSTER > 0) {
    const c = await startCluster(TARGET_CLUSTER);
    servers.push(c);
    targetUrl = c.url;
    dbsize = c.dbsize;
    targetPids = c.nodes.map((n) => n.pid);
  } else {
    port = await startServer();
    targetUrl = `redis://127.0.0.1:${port}`;
    dbsize = () => Number(cli(port, 'DBSIZE'));
    targetPids = [pids.get(port)];
  }
  const targetCpuNow = () => targetPids.reduce((a, p) => a + cpuSeconds(p), 0);
  const serverCpu0 = targetCpuNow();
  const t0 = performance.now();
  // REPLICANT_BENCH_NODE_ARGS: extra node flags for the replicant process (e.g. --cpu-prof).
  const nodeArgs = (process.env.REPLICANT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      CLI,
      '--source',
      `redis://127.0.0.1:${srcPort}`,
      '--target',
      targetUrl,
      '--no-progress',
      '--log-level',
      'warn',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    if (stderr.length < 10_000) stderr += d;
  });
  let peakKb = 0;
  const sampleRss = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {}
  };
  let seconds = null;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`replicant exited early (${child.exitCode}): ${stderr}`);
    sampleRss();
    // The heartbeat key is filtered, so DBSIZE reaching KEYS means the snapshot is in.
    if (dbsize() >= KEYS) {
      seconds = (performance.now() - t0) / 1000;
      break;
    }
    await sleep(10);
  }
  sampleRss();
  const cpu = cpuSeconds(child.pid);
  const targetCpu = targetCpuNow() - serverCpu0;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  // REPLICANT_BENCH_STDERR=1: show the replicant process's stderr (instrumentation, warnings).
  if (process.env.REPLICANT_BENCH_STDERR) process.stderr.write(stderr);
  return { seconds, peakRssMb: Math.round(peakKb / 1024), cpu, targetCpu };
}

try {
  const srcPort = await startServer(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']);
  await seed(srcPort);
  const rdbBytes = Number(info(srcPort, 'memory').used_memory_dataset ?? 0);
  const native = await nativeSync(srcPort);
  const ours = await replicantSync(srcPort);
  console.log(
    JSON.stringify({
      bench: 'full-sync',
      target: TARGET_CLUSTER > 0 ? `cluster of ${TARGET_CLUSTER} masters` : 'standalone',
      keys: KEYS,
      value_bytes: VALUE_BYTES,
      dataset_bytes: rdbBytes,
      seconds: Number(ours.seconds.toFixed(3)),
      keys_per_s: Math.round(KEYS / ours.seconds),
      baseline: 'native replica (REPLICAOF) full sync',
      baseline_seconds: Number(native.toFixed(3)),
      ratio: Number((ours.seconds / native).toFixed(3)),
      peak_rss_mb: ours.peakRssMb,
      replicant_cpu_s: ours.cpu,
      target_cpu_s: ours.targetCpu,
    }),
  );
} finally {
  for (const srv of servers) srv.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
