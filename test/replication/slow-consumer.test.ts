/**
 * Design §4 with a real source: a slow target while the source writes 50 MB. The source's replica
 * output buffer limit is tiny (8 MB hard, 4 MB for 10 s), so a link that read at the target's pace
 * would be dropped. Ours keeps reading into the spool: the link survives, spool memory stays under
 * its limit, the spool shows disk bytes, and every byte arrives in order.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
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
 * reads and measure the test, not the link. The writer is paced (below); unpaced, a loopback writer
 * outruns any single-threaded reader on a loaded 2-core machine and the 8 MB limit measures the CPU.
 */
async function writeLoad(port: number): Promise<void> {
  const script = `
    import { Redis } from 'ioredis';
    const c = new Redis({ port: ${port}, host: '127.0.0.1' });
    // ~1 MB every 40 ms (≤ 25 MB/s): faster than the target (≤ 10 MB/s), and a pace our reads keep
    // up with even when the test machine is busy with other test files.
    for (let i = 0; i < ${COUNT}; ) {
      const p = c.pipeline();
      for (const end = i + 10; i < end && i < ${COUNT}; i++) {
        const b = Buffer.alloc(${VALUE}, i % 251);
        b.writeUInt32LE(i, 0);
        p.set('big:' + i, b);
      }
      await p.exec();
      await new Promise((r) => setTimeout(r, 40));
    }
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

  // Slow target: each command fed makes the source wait 10 ms (≈ 10 MB/s at best for 100 KB values).
  sink.drainMs = 10;
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

it('control: a replica that reads at the target pace (here: not at all) is dropped by this source', async () => {
  srv = await startRedis({
    'repl-diskless-sync': 'no',
    'client-output-buffer-limit': 'replica 8mb 4mb 10',
  });
  const sock = net.connect(srv.port, '127.0.0.1');
  sock.on('error', () => {});
  let got = 0;
  sock.on('data', (d: Buffer) => {
    got += d.length;
  });
  sock.write('*1\r\n$4\r\nSYNC\r\n');
  await waitFor(() => got > 0);
  await waitFor(async () => (await infoField(srv!.client, 'slave0'))?.includes('state=online') === true);
  sock.pause();
  await writeLoad(srv.port);
  await waitFor(async () => (await infoField(srv!.client, 'connected_slaves')) === '0', 20_000);
  sock.destroy();
}, 60_000);
