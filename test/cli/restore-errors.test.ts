/**
 * Bad inputs to `replicant restore`: each one line + hint on stderr, exit 2, no stack trace, and
 * nothing half-written where the check can come first.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, FIXTURES, parseCliError, runCli } from '../helpers/cli.js';
import { seedAllTypes } from '../helpers/seed.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';

/** A Redis 7.4 RDB whose hash has fields with TTLs (shared fixture corpus; skipped when absent). */
const HFE = path.join(FIXTURES, 'rdb/hdt3213/hash_with_hfe.rdb');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'replicant-restore-err-'));
let src: TestServer;
let dst: TestServer;
let locked: TestServer;
let rdb: string;

beforeAll(async () => {
  src = await startRedis();
  await seedAllTypes(src.client, { dbs: [0], bigSize: 2000 });
  await src.client.save();
  rdb = path.join(src.dir, 'dump.rdb');
  dst = await startRedis();
  // Password set after start: the server helper's readiness PING has no AUTH.
  locked = await startRedis();
  await locked.client.config('SET', 'requirepass', 'right-password');
});
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop(), locked?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

async function fails(args: string[], code: string | RegExp, message: RegExp) {
  const r = await runCli(['restore', ...args, '--no-progress']);
  expect(r.code, r.stderr).toBe(2);
  const e = parseCliError(r.stderr);
  expect(e, r.stderr).not.toBeNull();
  expect(e!.code).toMatch(code);
  expect(e!.message).toMatch(message);
  expect(e!.hint, r.stderr).toBeTruthy();
  expect(e!.hasStack).toBe(false);
  // The error is the last thing printed: exactly two lines (error + hint), whatever came before.
  expect(r.stderr.trimEnd().split('\n').slice(-2)[0]).toMatch(/^error \[/);
  return r;
}

describe.skipIf(!cliBuilt())('restore: bad inputs', () => {
  it.skipIf(!existsSync(HFE))(
    'hash field TTLs into 7.0: stops by default naming the flag; strip and skip-key go on',
    async () => {
      await dst.client.flushall();
      const e = await fails(
        ['--rdb', HFE, '--target', dst.url],
        'ERR_TARGET_UNSUPPORTED',
        /fields with their own TTL/,
      );
      expect(parseCliError(e.stderr)!.hint).toMatch(/--hash-field-ttl strip.*--hash-field-ttl skip-key/);
      const strip = await runCli([
        'restore',
        '--rdb',
        HFE,
        '--target',
        dst.url,
        '--no-progress',
        '--on-conflict',
        'overwrite',
        '--hash-field-ttl',
        'strip',
      ]);
      expect(strip.code, strip.stderr).toBe(0);
      expect(await dst.client.dbsize()).toBeGreaterThan(0);
      await dst.client.flushall();
      const skip = await runCli([
        'restore',
        '--rdb',
        HFE,
        '--target',
        dst.url,
        '--no-progress',
        '--hash-field-ttl',
        'skip-key',
      ]);
      expect(skip.code, skip.stderr).toBe(0);
      expect(skip.stderr).toMatch(/hash-field-ttl/);
      await dst.client.flushall();
    },
  );

  it('missing file (checked before connecting)', async () => {
    await fails(
      ['--rdb', path.join(tmp, 'missing.rdb'), '--target', dst.url],
      'ERR_RDB_FILE',
      /no such file/,
    );
  });

  it('a file that is not an RDB', async () => {
    const f = path.join(tmp, 'notes.txt');
    writeFileSync(f, 'REDIS is great but this is text\n');
    await fails(['--rdb', f, '--target', dst.url], /^ERR_RDB_/, /at byte \d+/);
    expect(await dst.client.dbsize()).toBe(0);
  });

  // A cut inside a value is found early (the decoder knows the file size: "declares N bytes but only M
  // remain", ERR_RDB_CORRUPT); a cut between keys is found at the end (ERR_RDB_TRUNCATED).
  it('a truncated RDB: typed error with the byte offset', async () => {
    const f = path.join(tmp, 'cut.rdb');
    const whole = readFileSync(rdb);
    writeFileSync(f, whole.subarray(0, Math.floor(whole.length / 2)));
    await fails(
      ['--rdb', f, '--target', dst.url, '--on-conflict', 'overwrite'],
      /^ERR_RDB_(TRUNCATED|CORRUPT)$/,
      /(truncated|remain|past the end).*at byte \d+/,
    );
  });

  it('a wrong target password', async () => {
    const url = `redis://:wrong-password@127.0.0.1:${locked.port}`;
    const r = await fails(['--rdb', rdb, '--target', url], /AUTH/, /./);
    expect(r.stderr).not.toContain('wrong-password');
  });

  it('no password for a target that needs one', async () => {
    await fails(['--rdb', rdb, '--target', locked.url], /AUTH/, /./);
  });

  it('an unreachable target', async () => {
    const port = await freePort();
    await fails(
      ['--rdb', rdb, '--target', `redis://127.0.0.1:${port}`],
      /CONNECT/,
      new RegExp(`127.0.0.1:${port}`),
    );
  });

  it('SIGINT: stops, flushes, exits 3 (incomplete copy) saying the copy is partial', async () => {
    const big = await startRedis();
    try {
      // Enough data that the restore is still running when the signal comes.
      const m = src.client.pipeline();
      for (let i = 0; i < 200_000; i++) m.set(`bulk:${i}`, `v${i}`);
      await m.exec();
      await src.client.save();
      let sent = false;
      // --no-verify-crc: the signal must land while keys are being written, not in the CRC first pass
      // (an interrupt there writes nothing).
      const r = await runCli(
        ['restore', '--rdb', rdb, '--target', big.url, '--no-progress', '--no-verify-crc'],
        {
          onSpawn: (child) => {
            child.stderr?.on('data', (d: Buffer) => {
              if (!sent && /restoring/.test(d.toString())) {
                sent = true;
                setTimeout(() => child.kill('SIGINT'), 30);
              }
            });
          },
        },
      );
      expect(sent).toBe(true);
      expect(r.code).toBe(3);
      const e = parseCliError(r.stderr)!;
      expect(e.code).toBe('ERR_INTERRUPTED');
      expect(e.message).toMatch(/incomplete/);
      expect(r.stderr).toMatch(/^the target holds a partial copy: \d+ keys written$/m);
      const n = await big.client.dbsize();
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThan(200_000);
    } finally {
      await big.stop();
    }
  });
});
