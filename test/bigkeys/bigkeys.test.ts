/**
 * Big keys (issue #4 §3): a 5M-element list, hash, set and zset and a 100k-entry stream with consumer
 * groups and a PEL, restored from an RDB by the CLI into a fresh server. The collections are larger
 * than the default --big-key-bytes (16mb), so they go as chunked commands: the test checks the
 * replicant process's peak RSS (printed), no command exceeded the chunk budget, and each value arrived
 * whole — compared by the servers themselves (DEBUG DIGEST-VALUE, encoding-independent) plus sizes
 * and the stream's groups/PEL. REPLICANT_BIGKEY_ELEMENTS shrinks the collections for a quick local run.
 *
 * The issue's goal is < 200 MB. Where the memory was (process.memoryUsage() sampled every 5–20 ms in
 * the child, --trace-gc, --expose-gc): first an upgraded big key re-decoded in one write() and a RESTORE
 * slab grown by doubling (fixed earlier: 203–264 → 188–213 MB); then, with a forced GC every 100 ms,
 * still ~60 MiB of *live* ArrayBuffers at the peak: the decoder, once paused inside a big key, was fed
 * new chunks anyway and stopped yielding (20 MiB in flight against the window), plus 1 MiB read chunks
 * and written command slabs left for V8 to collect in ~64 MiB steps. Now the feeders wait for a paused
 * decoder, the window is 4 MiB, the file is read into one reused buffer, command slabs are recycled,
 * and an upgrade re-reads the sink's copy of the raw body: 164–201 MB alone.
 * What was left at the peak was V8's young generation (semi-spaces grown to 16 MiB each under this
 * allocation rate: heapTotal 60–110 MB against ~10 MiB of ArrayBuffers). The CLI now caps it from
 * inside (src/cli/heap.ts: 8 MiB): 132–137 MB with no flag alone, 155 MB with other tests running; `--max-semi-space-size=2` (the user's own
 * cap, which turns ours off) gives ~126 MB. Both runs assert the issue's < 200 MB. Node itself: an
 * empty `node -e` is ≈ 39 MB, 57 MB with our modules loaded (printed below).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, REPO } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const N = Number(process.env.REPLICANT_BIGKEY_ELEMENTS ?? 5_000_000);
const STREAM = 100_000;
const MAIN = path.join(REPO, 'dist/cli/main.js');
/** Issue #4's goal (see the header for the measured figures). */
const RSS_GOAL_MB = 200;
let src: TestServer;
let dst: TestServer;

beforeAll(async () => {
  [src, dst] = await Promise.all([
    startRedis({ 'enable-debug-command': 'yes' }),
    startRedis({ 'enable-debug-command': 'yes' }),
  ]);
  const c = src.client;
  const STEP = 2000;
  for (let i = 0; i < N; i += STEP) {
    const p = c.pipeline();
    const n = Math.min(STEP, N - i);
    const items = Array.from({ length: n }, (_, j) => `e:${i + j}`);
    p.rpush('big:list', ...items);
    p.sadd('big:set', ...items);
    p.hset('big:hash', ...items.flatMap((e, j) => [e, String(i + j)]));
    p.zadd('big:zset', ...items.flatMap((e, j) => [String((i + j) / 3), e]));
    await p.exec();
  }
  for (let i = 0; i < STREAM; i += STEP) {
    const p = c.pipeline();
    for (let j = i; j < Math.min(STREAM, i + STEP); j++)
      p.xadd('big:stream', `${j + 1}-0`, 'n', String(j), 'p', `v${j % 97}`);
    await p.exec();
  }
  await c.call('XGROUP', 'CREATE', 'big:stream', 'g1', '0');
  await c.call('XGROUP', 'CREATE', 'big:stream', 'g2', '50000-0');
  await c.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '3000', 'STREAMS', 'big:stream', '>');
  await c.call('XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', '2000', 'STREAMS', 'big:stream', '>');
  await c.call('XACK', 'big:stream', 'g1', '1-0', '2-0', '3-0');
  await c.save();
}, 600_000);

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
});

/** Peak RSS of a child running `code` (ESM), in MB: Node's own baseline for the figure below. */
function childRss(code: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--input-type=module', '-e', `${code}\nprocess.stdout.write(String(process.resourceUsage().maxRSS));`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', () => resolve(Math.round(Number(out) / 1024)));
  });
}

/** Run the CLI's main() in a child (node `flags`) that reports its own peak RSS at exit. */
function restoreWithRss(
  flags: string[],
  args: string[],
): Promise<{ code: number; stderr: string; rssMb: number }> {
  const code = `const { main } = await import(${JSON.stringify(MAIN)});
const rc = await main(${JSON.stringify(args)});
process.stderr.write('\\nPEAK_RSS_KB ' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = rc;`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...flags, '--input-type=module', '-e', code], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (rc) =>
      resolve({
        code: rc ?? -1,
        stderr: err,
        rssMb: Math.round(Number(/PEAK_RSS_KB (\d+)/.exec(err)?.[1] ?? 0) / 1024),
      }),
    );
  });
}

const digest = async (s: TestServer, k: string) => String(await s.client.call('DEBUG', 'DIGEST-VALUE', k));

describe.skipIf(!cliBuilt())('big keys: chunked, bounded memory', () => {
  const cases = [
    { name: 'as installed (young generation capped by the CLI)', flags: [] as string[] },
    {
      name: 'with --max-semi-space-size=2 (README, Guarantees and limits)',
      flags: ['--max-semi-space-size=2'],
    },
  ];
  for (const c of cases)
    it(`${N.toLocaleString()}-element list/hash/set/zset and a ${STREAM.toLocaleString()}-entry stream with groups, ${c.name}: peak RSS bounded, values whole`, async () => {
      await dst.client.flushall();
      const rdb = path.join(src.dir, 'dump.rdb');
      // The default --big-key-bytes (16mb): every collection here is bigger, so all go as chunked commands.
      const r = await restoreWithRss(c.flags, [
        'restore',
        '--rdb',
        rdb,
        '--target',
        dst.url,
        '--no-progress',
      ]);
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      const empty = await childRss('');
      const loaded = await childRss(`await import(${JSON.stringify(MAIN)});`);
      console.log(
        `big keys (${c.name}): peak RSS of replicant restore ${r.rssMb} MB (${N} elements per collection, ${STREAM} stream entries); Node baseline: empty child ${empty} MB, with replicant's modules loaded ${loaded} MB`,
      );
      expect(empty).toBeGreaterThan(0);
      expect(r.rssMb).toBeGreaterThan(loaded);
      expect(r.rssMb).toBeLessThan(RSS_GOAL_MB);
      for (const k of ['big:list', 'big:set', 'big:hash', 'big:zset', 'big:stream']) {
        expect(await digest(dst, k), k).toBe(await digest(src, k));
      }
      expect(await dst.client.llen('big:list')).toBe(N);
      expect(Number(await dst.client.zscore('big:zset', `e:${N - 1}`))).toBe((N - 1) / 3);
      // At full size every collection is above --big-key-bytes: all went as chunked commands.
      if (N >= 5_000_000) expect(r.stderr).toMatch(/rewritten with commands\s+[4-9]/);
      const groups = async (s: TestServer) =>
        JSON.stringify(await s.client.call('XINFO', 'GROUPS', 'big:stream'));
      expect(await groups(dst)).toBe(await groups(src));
      const pel = async (s: TestServer) =>
        JSON.stringify(
          ((await s.client.call('XPENDING', 'big:stream', 'g1', '-', '+', '10000')) as unknown[][]).map(
            (e) => [e[0], e[1], e[3]],
          ),
        );
      expect(await pel(dst)).toBe(await pel(src));
    }, 600_000); // the restore alone is 20 s idle, over 50 s on the shared 2-core machine
});
