/**
 * Every RDB of the shared fixture corpus restored into older and other-family targets (Redis 5.0, 6.2,
 * Valkey 9): whatever the file holds, the target stays up, and replicant either restores it or stops
 * with a typed error and a hint — never a lost target connection, never ERR_INTERNAL. Found by hand:
 * redis/corrupt_ziplist.rdb (Redis' own test file, a ziplist with a bad entry) sent by RESTORE is
 * stored without complaint by a Redis 5.0 target (no deep payload sanitization there), and the next
 * restore of the file, replacing that key, kills the server (the restore then reports
 * ERR_TARGET_CONNECTION_LOST). So each file that restores is restored a second time over itself. (Redis 7.0 is covered file by file by test/cli/fixtures-restore.)
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, FIXTURES, parseCliError, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { serverBuilds } from '../helpers/versions.js';

const RDB = path.join(FIXTURES, 'rdb');
if (!existsSync(RDB)) console.warn(`skipping the fixture corpus across versions: ${RDB} not found`);

function rdbFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...rdbFiles(p));
    else if (e.endsWith('.rdb')) out.push(p);
  }
  return out.sort();
}

const files = existsSync(RDB) ? rdbFiles(RDB) : [];
const TARGETS = new Set(['redis-5.0', 'redis-6.2', 'valkey-9']);
const builds = serverBuilds().filter((b) => TARGETS.has(b.name));
if (builds.length < TARGETS.size)
  console.warn(
    `fixture corpus across versions: only ${builds.map((b) => b.name).join(', ') || 'no build'} found`,
  );

/** PONG, or why not (a dead server must fail the assertion that names the file, not throw first). */
const ping = (s: TestServer) => s.client.ping().catch((e: Error) => e.message);

/** Errors that mean "the target went away or we broke": never an acceptable outcome. */
const NEVER = new Set(['ERR_INTERNAL', 'ERR_TARGET_CONNECTION_LOST', 'ERR_CONNECT']);

describe.skipIf(!cliBuilt() || files.length === 0)('fixture corpus → older and other-family targets', () => {
  for (const build of builds) {
    describe(build.name, () => {
      let dst: TestServer;
      const outcomes = new Map<string, number>();
      beforeAll(async () => {
        dst = await startRedis({}, { binary: build.path });
      });
      afterAll(async () => {
        await dst?.stop();
        console.log(
          `${build.name}: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')} (of ${files.length} files)`,
        );
      });

      it('every file restores or stops with a typed error; the target answers PING after each', async () => {
        for (const file of files) {
          const name = path.relative(RDB, file);
          await dst.client.flushall();
          if (build.name !== 'redis-5.0' && build.name !== 'redis-6.2')
            await dst.client.call('FUNCTION', 'FLUSH');
          const r = await runCli(
            ['restore', '--rdb', file, '--target', dst.url, '--on-conflict', 'overwrite', '--no-progress'],
            { timeoutMs: 60_000 },
          );
          expect(r.signal, `${name}: the restore did not exit`).toBeNull();
          // The target is still there, whatever the file held.
          expect(await ping(dst), `${name}: the target died\n${r.stderr}`).toBe('PONG');
          if (r.code === 0) {
            // Again, over what the first one wrote: a value the target took but cannot hold (a corrupt
            // ziplist, stored without complaint by 5.0) kills it when REPLACE frees it.
            const again = await runCli(
              ['restore', '--rdb', file, '--target', dst.url, '--on-conflict', 'overwrite', '--no-progress'],
              { timeoutMs: 60_000 },
            );
            expect(await ping(dst), `${name}, restored twice: the target died\n${again.stderr}`).toBe('PONG');
            expect(again.code, `${name}, restored twice\n${again.stderr}`).toBe(0);
            outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
            continue;
          }
          expect(r.code, `${name}\n${r.stderr}`).toBe(2);
          const e = parseCliError(r.stderr);
          expect(e, `${name}\n${r.stderr}`).not.toBeNull();
          expect(NEVER.has(e!.code), `${name}: ${e!.code}: ${e!.message}`).toBe(false);
          expect(e!.hint, `${name}: no hint`).toBeTruthy();
          outcomes.set(e!.code, (outcomes.get(e!.code) ?? 0) + 1);
        }
      }, 900_000);
    });
  }
});
