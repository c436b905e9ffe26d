/**
 * Faults that need a human: the target refuses writes when queueing them (-OOM under maxmemory
 * noeviction, -NOPERM after an ACL change, -READONLY once it is made a replica of another server,
 * -MISCONF after a failed BGSAVE under stop-writes-on-bgsave-error), through the built CLI (`sync --state-dir`). The run stops with the server's reply and a hint, the
 * transaction it was in is applied not at all, the checkpoint key stays at the previous one; once
 * fixed, the next start continues by PSYNC and nothing is lost or doubled.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHECKPOINT_KEY } from '../../src/checkpoint/index.js';
import { cliBuilt, parseCliError } from '../helpers/cli.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';
import { killAll, startSync } from './cli.js';
import { counters, expectSameCounters, waitEqual } from './util.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe.skipIf(!cliBuilt())('faults that need a human', () => {
  const hints = {
    OOM: /maxmemory/,
    NOPERM: /ACL SETUSER/,
    READONLY: /REPLICAOF NO ONE/,
    MISCONF: /BGSAVE/,
  } as const;
  for (const fault of ['OOM', 'NOPERM', 'READONLY', 'MISCONF'] as const) {
    it(`-${fault} when queueing: stops with the reply and a hint, checkpoint intact, the next start continues`, async () => {
      const src = await startRedis({ 'repl-diskless-sync-delay': '0' });
      // MISCONF: CONFIG SET dir is a protected config since 7.0.
      const dst = await startRedis(fault === 'MISCONF' ? { 'enable-protected-configs': 'yes' } : {});
      servers.push(src, dst);
      const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
      dirs.push(state);
      await counters(src, 1);
      const a = startSync(src, dst, ['--state-dir', state]);
      await a.started();
      await waitEqual(src, dst);
      for (let i = 0; i < 100 && !/"stream"/.test((await dst.client.get(DEFAULT_CHECKPOINT_KEY)) ?? ''); i++)
        await new Promise((r) => setTimeout(r, 50));
      const ckBefore = await dst.client.get(DEFAULT_CHECKPOINT_KEY);
      if (fault === 'OOM') {
        const used = Number(/used_memory:(\d+)/.exec(await dst.client.info('memory'))![1]);
        await dst.client.config('SET', 'maxmemory-policy', 'noeviction');
        await dst.client.config('SET', 'maxmemory', String(used + 64 * 1024));
        for (let r = 2; r < 60; r++) await counters(src, r); // ~600 KB of list entries
      } else if (fault === 'NOPERM') {
        await dst.client.call('ACL', 'SETUSER', 'default', '-incr');
        await counters(src, 2);
      } else if (fault === 'READONLY') {
        // A replica of a server that is not there: read-only, its data kept (no sync ever happens).
        await dst.client.call('REPLICAOF', '127.0.0.1', String(await freePort()));
        await counters(src, 2);
      } else {
        // BGSAVE into a directory deleted under the server: it fails, and writes are refused after it.
        const gone = mkdtempSync(path.join(os.tmpdir(), 'replicant-gone-'));
        // Writes are refused only where save points are set (the test servers have none).
        await dst.client.config('SET', 'save', '3600 1');
        await dst.client.config('SET', 'stop-writes-on-bgsave-error', 'yes');
        await dst.client.config('SET', 'dir', gone);
        rmSync(gone, { recursive: true });
        await dst.client.bgsave();
        for (
          let i = 0;
          i < 200 && !/rdb_last_bgsave_status:err/.test(await dst.client.info('persistence'));
          i++
        )
          await new Promise((r) => setTimeout(r, 50));
        expect(await dst.client.info('persistence')).toMatch(/rdb_last_bgsave_status:err/);
        await counters(src, 2);
      }
      const ra = await a.exited;
      expect(ra.code).toBe(2);
      const err = parseCliError(ra.stderr)!;
      expect(err, ra.stderr.slice(-2000)).not.toBeNull();
      expect(err.hasStack).toBe(false);
      expect(err.message).toContain(fault);
      expect(err.message).toMatch(/none of it was applied/);
      expect(err.hint).toMatch(hints[fault]);
      const ck = JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!);
      expect(ck.phase).toBe('stream');
      expect(ck.offset).toBeGreaterThanOrEqual(JSON.parse(ckBefore!).offset);

      // Fixed by a human: the next start continues from the key.
      if (fault === 'OOM') await dst.client.config('SET', 'maxmemory', '0');
      else if (fault === 'NOPERM') await dst.client.call('ACL', 'SETUSER', 'default', '+@all');
      else if (fault === 'READONLY') await dst.client.call('REPLICAOF', 'NO', 'ONE');
      else {
        await dst.client.config('SET', 'dir', dst.dir);
        await dst.client.bgsave();
        for (
          let i = 0;
          i < 200 && !/rdb_last_bgsave_status:ok/.test(await dst.client.info('persistence'));
          i++
        )
          await new Promise((r) => setTimeout(r, 50));
      }
      await counters(src, 100);
      const b = startSync(src, dst, ['--state-dir', state]);
      expect(await b.started()).toBe('continue');
      await waitEqual(src, dst);
      const n = Number(await src.client.llen('seq'));
      await expectSameCounters(src, dst, n);
      expect((await b.stop()).code).toBe(0);
    });
  }
});
