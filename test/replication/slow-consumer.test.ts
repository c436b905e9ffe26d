/**
 * Design §4 with a real source: a slow target while the source writes 50 MB. The source's replica
 * output buffer limit is tiny (8 MB hard, 4 MB for 10 s), so a link that read at the target's pace
 * would be dropped. Ours keeps reading into the spool: the link survives, spool memory stays under
 * its limit, the spool shows disk bytes, and every byte arrives in order.
 */
import { spawn } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { ReplicaSource } from '../../src/sources/replica.js';
import { type TestServer, startRedis } from '../helpers/server.js';
import { infoField, waitFor } from './helpers.js';
import { RecordingSink } from './recording-sink.js';

let srv: TestServer | null = null;
let src: ReplicaSource | null = null;
afterEach(async () => {
  await src?.stop().catch(() => {});
  await srv?.stop();
});

const VALUE = 100 * 1024;
const COUNT = 500; // 50 MB of values
function value(i: number): Buffer {
  const b = Buffer.alloc(VALUE, i % 251);
  b.writeUInt32LE(i, 0);
  return b;
}

/**
 * The 50 MB are written from a child process: a writer sharing our event loop would slow our own
 * reads and measure the test, not the link.
 */
async function writeLoad(port: number): Promise<void> {
  const script = `
    import { Redis } from 'ioredis';
    const c = new Redis({ port: ${port}, host: '127.0.0.1' });
    const p = c.pipeline();
    for (let i = 0; i < ${COUNT}; i++) {
      const b = Buffer.alloc(${VALUE}, i % 251);
      b.writeUInt32LE(i, 0);
      p.set('big:' + i, b);
    }
    await p.exec();
    c.disconnect();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  const code = await new Promise((r) => child.once('exit', r));
  expect(code).toBe(0);
}

it('a slow target does not get the link dropped; memory bounded, disk used, order kept', async () => {
  srv = await startRedis({
    'repl-diskless-sync-delay': '0',
    // No PINGs mid-test: offsets must match exactly.
    'repl-ping-replica-period': '3600',
    'client-output-buffer-limit': 'replica 8mb 4mb 10',
  });
  const sink = new RecordingSink();
  const memoryLimit = 4 * 1024 * 1024;
  src = new ReplicaSource(sink, {
    host: '127.0.0.1',
    port: srv.port,
    heartbeat: { write: false },
    spool: { memoryLimitBytes: memoryLimit, segmentBytes: 8 * 1024 * 1024 },
  });
  const running = src.run();
  running.catch(() => {});
  await waitFor(() => src!.status().phase === 'stream');

  // Slow target: every 64 KiB piece fed waits 4 ms (≈ 16 MB/s at best, far below loopback speed).
  sink.drainMs = 4;
  let next = 0;
  let bad: string | null = null;
  sink.onCommand = (rec) => {
    const v = rec.argv[2]!;
    if (rec.argv[1]!.toString() !== `big:${next}` || v.length !== VALUE || !v.equals(value(next))) {
      bad ??= `command ${next}: got ${rec.argv[1]} (${v.length} bytes)`;
    }
    next++;
  };
  let maxMem = 0;
  let maxDisk = 0;
  const sampler = setInterval(() => {
    const st = src!.status();
    maxMem = Math.max(maxMem, st.spoolMemoryBytes);
    maxDisk = Math.max(maxDisk, st.spoolDiskBytes);
  }, 5);

  await writeLoad(srv.port);
  const target = Number(await infoField(srv.client, 'master_repl_offset'));
  // The source has handed everything to us long before the target caught up.
  await waitFor(() => src!.link.receivedOffset === target, 30_000);
  expect(next).toBeLessThan(COUNT);
  expect(src.status().spoolBytes).toBeGreaterThan(0);

  await waitFor(() => src!.status().offset === target, 60_000);
  clearInterval(sampler);
  expect(bad).toBeNull();
  expect(next).toBe(COUNT);
  expect(maxMem).toBeLessThanOrEqual(memoryLimit);
  expect(maxDisk).toBeGreaterThan(0);
  expect(src.status().spoolBytes).toBe(0);
  // Still the same link: no error, the source still lists us, and it never dropped a replica.
  expect(src.status().phase).toBe('stream');
  expect(await infoField(srv.client, 'connected_slaves')).toBe('1');
  const stats = await srv.client.info('stats');
  expect(/sync_full:1\b/.test(stats)).toBe(true);
}, 120_000);
