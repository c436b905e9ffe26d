/**
 * Issue #14 point 7: a source that keeps breaking the transfer (a truncated RDB, a reset in the middle
 * of it, bytes that are not an RDB) used to be copied again and again for ever. Now the run stops
 * after --max-full-copies broken copies with ERR_SOURCE_RETRIES_EXHAUSTED naming the last cause (exit
 * 2), and a source that cannot be reached again stops after --reconnect-timeout. The source here is
 * the scripted fake master (byte-level cases a real server cannot be made to produce); the target is
 * a real server.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { acceptHandshake, type FakeConn, pause, startFakeMaster } from '../replication/fake-master.js';

let real: TestServer;
let dst: TestServer;
let rdb: Buffer;
const REPLID = 'a'.repeat(40);

beforeAll(async () => {
  real = await startRedis();
  dst = await startRedis();
  const m = real.client.pipeline();
  for (let i = 0; i < 2000; i++) m.set(`key:${i}`, `value-${i}-${'x'.repeat(50)}`);
  await m.exec();
  await real.client.save();
  rdb = readFileSync(path.join(real.dir, 'dump.rdb'));
});
afterAll(async () => {
  await Promise.all([real?.stop(), dst?.stop()]);
});

/** A fake master whose every full sync breaks the same way; returns how many PSYNCs it answered. */
async function brokenSource(
  breakIt: (c: FakeConn) => Promise<void>,
  args: string[],
): Promise<{ psyncs: number; r: Awaited<ReturnType<typeof runCli>> }> {
  let psyncs = 0;
  const m = await startFakeMaster(async (c) => {
    const cmd = await acceptHandshake(c);
    if (cmd[0]!.toUpperCase() !== 'PSYNC') return c.destroy();
    psyncs++;
    await c.send(`+FULLRESYNC ${REPLID} 0\r\n`);
    await breakIt(c);
  });
  try {
    await dst.client.flushall();
    const r = await runCli(
      [
        '--source',
        `redis://127.0.0.1:${m.port}`,
        '--target',
        dst.url,
        '--no-progress',
        '--skip-precheck',
        ...args,
      ],
      { timeoutMs: 120_000 },
    );
    return { psyncs, r };
  } finally {
    await m.close();
  }
}

describe.skipIf(!cliBuilt())('a source that keeps breaking the transfer', () => {
  it('truncated RDB ($len, then the connection closes halfway): stops after --max-full-copies 3', async () => {
    const { psyncs, r } = await brokenSource(
      async (c) => {
        await c.send(`$${rdb.length}\r\n`);
        await c.send(rdb.subarray(0, Math.floor(rdb.length / 2)));
        await pause(50);
        c.end();
      },
      ['--max-full-copies', '3'],
    );
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_SOURCE_RETRIES_EXHAUSTED');
    expect(e.message).toMatch(/broke 3 full copies in a row/);
    expect(e.message).toMatch(/last error \[ERR_SOURCE_[A-Z_]+\]: /);
    expect(e.hint).toMatch(/--max-full-copies/);
    expect(psyncs).toBe(3);
    // The partial copy is said, not hidden.
    expect(r.stderr).toMatch(/the target holds a partial copy: \d+ keys written/);
  });

  it('reset in the middle of the RDB (RST): the same bound, default 5', async () => {
    const { psyncs, r } = await brokenSource(async (c) => {
      await c.send(`$${rdb.length}\r\n`);
      await c.send(rdb.subarray(0, Math.floor(rdb.length / 3)));
      await pause(50);
      c.socket.resetAndDestroy();
    }, []);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_SOURCE_RETRIES_EXHAUSTED');
    expect(e.message).toMatch(/broke 5 full copies in a row \(--max-full-copies 5\)/);
    expect(psyncs).toBe(5);
  });

  it('diskless $EOF transfer whose end mark never comes (the link closes): bounded too', async () => {
    const { psyncs, r } = await brokenSource(
      async (c) => {
        await c.send(`$EOF:${'m'.repeat(40)}\r\n`);
        await c.send(rdb.subarray(0, rdb.length - 9)); // no 0xFF + checksum, no mark
        await pause(50);
        c.end();
      },
      ['--max-full-copies', '2'],
    );
    expect(r.code).toBe(2);
    expect(parseCliError(r.stderr)?.code).toBe('ERR_SOURCE_RETRIES_EXHAUSTED');
    expect(psyncs).toBe(2);
  });

  it('$EOF transfer whose mark never comes, the link left open and silent: the read watchdog (60 s) then the bound', async () => {
    let hold: FakeConn | null = null;
    const { psyncs, r } = await brokenSource(
      async (c) => {
        hold = c;
        await c.send(`$EOF:${'m'.repeat(40)}\r\n`);
        await c.send(rdb.subarray(0, rdb.length - 9));
        // Nothing more, and the connection stays open: only the replica's read watchdog ends it.
      },
      ['--max-full-copies', '1'],
    );
    expect(hold).not.toBeNull();
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_SOURCE_RETRIES_EXHAUSTED');
    expect(e.message).toMatch(/broke 1 full copy in a row \(--max-full-copies 1\)/);
    expect(e.message).toMatch(
      /last error \[ERR_SOURCE_LOST\]: (connection to source .* lost during the RDB transfer|no data from the source for \d+ s)/,
    );
    expect(psyncs).toBe(1);
  }, 170_000);

  for (const [what, junk] of [
    ['garbage instead of an RDB', Buffer.alloc(4096, 0x5a)],
    ['garbage after a valid RDB header', Buffer.concat([Buffer.from('REDIS0009'), Buffer.alloc(4096, 0xee)])],
  ] as const) {
    it(`${what}: stops at once with the cause (never copied again)`, async () => {
      const { psyncs, r } = await brokenSource(async (c) => {
        await c.send(`$${junk.length}\r\n`);
        await c.send(junk);
        await pause(200);
        c.end();
      }, []);
      expect(r.code).toBe(2);
      expect(parseCliError(r.stderr)?.code).toMatch(/^ERR_RDB_(VERSION|CORRUPT|UNSUPPORTED)$/);
      expect(psyncs).toBe(1);
      expect(r.stderr).toMatch(/the target holds a partial copy: 0 keys written/);
    });
  }

  it('--reconnect-timeout: a source gone for good stops the run with the last cause', async () => {
    // One good transfer into the stream phase, then the source closes and never answers again.
    let served = 0;
    const m = await startFakeMaster(async (c) => {
      await acceptHandshake(c); // (the cluster probe's INFO is answered +OK and goes away)
      if (served++ > 0) return c.destroy();
      await c.send(`+FULLRESYNC ${REPLID} 100\r\n$${rdb.length}\r\n`);
      await c.send(rdb);
      await pause(1500);
      c.destroy();
    });
    try {
      await dst.client.flushall();
      const t0 = Date.now();
      const r = await runCli(
        [
          '--source',
          `redis://127.0.0.1:${m.port}`,
          '--target',
          dst.url,
          '--no-progress',
          '--skip-precheck',
          '--reconnect-timeout',
          '4s',
        ],
        { timeoutMs: 90_000 },
      );
      expect(r.code).toBe(2);
      const e = parseCliError(r.stderr)!;
      expect(e.code).toBe('ERR_SOURCE_RETRIES_EXHAUSTED');
      expect(e.message).toMatch(/no progress reconnecting to the source for .*--reconnect-timeout 4\.0s/);
      expect(e.message).toMatch(/last error \[ERR_SOURCE_[A-Z_]+\]/);
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(served).toBeGreaterThan(1);
      // The copy was complete: no partial-copy line.
      expect(r.stderr).not.toMatch(/partial copy/);
      expect(await dst.client.dbsize()).toBe(2000);
    } finally {
      await m.close();
    }
  });

  it('flags are checked: --max-full-copies 0 and a bad --reconnect-timeout are refused', async () => {
    const r = await runCli([
      '--source',
      dst.url,
      '--target',
      dst.url,
      '--max-full-copies',
      '0',
      '--reconnect-timeout',
      'soon',
    ]);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/--max-full-copies/);
    expect(e.message).toMatch(/--reconnect-timeout/);
  });
});
