/**
 * Issue #14 point 1: a damaged compact value must never reach a target by RESTORE. Redis 7.0 with
 * `sanitize-dump-payload no` (its default) trusts a RESTORE payload's entries; a damaged one fails an
 * assertion (lpValidateNext) on RESTORE or on first access and the server dies. Each crafted file
 * (test/hostile/crafted.ts: a good key, then one damaged compact value, CRC recomputed) is restored
 * with the CLI into one real 7.0: the run exits 2 with ERR_RDB_CORRUPT naming the rule, the key, its
 * db and the offset; the target still answers PING; the bad key is not there. A wrong checksum is
 * caught by the first CRC pass: nothing at all is written. Every damaged value served by a source
 * (the fake master: a real one cannot hold it) stops `sync` the same way.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acceptHandshake, startFakeMaster } from '../replication/fake-master.js';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { cases, craftedFile } from './crafted.js';
import { B, listpack, str } from '../rdb/build.js';

let dst: TestServer;
const dir = os.tmpdir();

beforeAll(async () => {
  dst = await startRedis({ 'sanitize-dump-payload': 'no' });
});
afterAll(async () => {
  await dst?.stop();
});
beforeEach(async () => {
  await dst.client.flushall();
});

async function alive(): Promise<void> {
  expect(dst.proc.exitCode, 'target process exited').toBeNull();
  expect(await dst.client.ping()).toBe('PONG');
}

function save(name: string, b: Buffer): string {
  const f = path.join(dir, `replicant-corrupt-${process.pid}-${name.replace(/\W+/g, '-')}.rdb`);
  writeFileSync(f, b);
  return f;
}

const restore = (file: string, extra: string[] = []) =>
  runCli([
    'restore',
    '--rdb',
    file,
    '--target',
    dst.url,
    '--no-progress',
    '--on-conflict',
    'overwrite',
    ...extra,
  ]);

describe.skipIf(!cliBuilt())(
  'damaged compact values never reach a 7.0 target (sanitize-dump-payload no)',
  () => {
    it('the target really runs with sanitize-dump-payload no', async () => {
      expect(await dst.client.config('GET', 'sanitize-dump-payload')).toEqual([
        'sanitize-dump-payload',
        'no',
      ]);
    });

    for (const c of cases()) {
      it(`${c.name}: exit 2, ERR_RDB_CORRUPT naming the rule, key, db and offset; target alive; nothing restored`, async () => {
        const r = await restore(save(c.name, c.file));
        expect(r.code, r.stderr).toBe(2);
        const e = parseCliError(r.stderr);
        expect(e?.code, r.stderr).toBe('ERR_RDB_CORRUPT');
        expect(e!.message).toMatch(c.rule);
        expect(e!.message).toMatch(
          /in key "bad" of db 0 \(type \d+, starting at byte \d+\) \(at byte \d+\)$/,
        );
        expect(e!.hasStack).toBe(false);
        await alive();
        expect(await dst.client.exists('bad')).toBe(0);
        // Also with the CRC pass off: the deep validation alone stops it.
        const r2 = await restore(save(c.name, c.file), ['--no-verify-crc']);
        expect(r2.code).toBe(2);
        expect(parseCliError(r2.stderr)?.code).toBe('ERR_RDB_CORRUPT');
        await alive();
        expect(await dst.client.exists('bad')).toBe(0);
      });
    }

    it('a wrong checksum: the first pass refuses the file before anything is written', async () => {
      const good = listpack([B([0x81], 'a'), B([1])]);
      const file = save('wrong-crc', craftedFile(10, 16, str(good), 'bad'));
      const r = await restore(file);
      expect(r.code, r.stderr).toBe(2);
      const e = parseCliError(r.stderr);
      expect(e?.code, r.stderr).toBe('ERR_RDB_CHECKSUM');
      expect(e!.message).toMatch(/RDB checksum mismatch/);
      await alive();
      expect(await dst.client.dbsize()).toBe(0); // not even the good key before it
      // Without the first pass the good keys are written, then the checksum fails at the end.
      const r2 = await restore(file, ['--no-verify-crc']);
      expect(r2.code).toBe(2);
      expect(parseCliError(r2.stderr)?.code).toBe('ERR_RDB_CHECKSUM');
    });

    it('a wrong checksum on a file with a damaged value: refused before anything is written', async () => {
      const file = save('wrong-crc-damaged', craftedFile(10, 16, str(listpack([B([0xf5])])), 'bad'));
      const r = await restore(file);
      expect(r.code, r.stderr).toBe(2);
      expect(['ERR_RDB_CHECKSUM', 'ERR_RDB_CORRUPT']).toContain(parseCliError(r.stderr)?.code);
      await alive();
      expect(await dst.client.dbsize()).toBe(0);
    });

    for (const c0 of cases())
      it(`served by a source (fake master, full sync), ${c0.name}: sync stops with ERR_RDB_CORRUPT, target alive`, async () => {
        const m = await startFakeMaster(async (c) => {
          await acceptHandshake(c);
          await c.send(B(`+FULLRESYNC ${'a'.repeat(40)} 0\r\n$${c0.file.length}\r\n`, c0.file));
          await new Promise((r) => setTimeout(r, 30_000)); // keep the link open: the error must come from the RDB
        });
        try {
          const r = await runCli(
            [
              'sync',
              '--source',
              `redis://127.0.0.1:${m.port}`,
              '--target',
              dst.url,
              '--no-progress',
              '--skip-precheck',
              '--on-conflict',
              'overwrite',
            ],
            { timeoutMs: 60_000 },
          );
          expect(r.code, r.stderr).toBe(2);
          const e = parseCliError(r.stderr);
          expect(e?.code, r.stderr).toBe('ERR_RDB_CORRUPT');
          expect(e!.message).toMatch(c0.rule);
          expect(e!.message).toMatch(/in key "bad" of db 0/);
          await alive();
          expect(await dst.client.exists('bad')).toBe(0);
        } finally {
          await m.close();
        }
      });
  },
);
