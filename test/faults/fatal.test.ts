/**
 * Faults that need a human: the target refuses writes when queueing them (-OOM under maxmemory
 * noeviction, -NOPERM after an ACL change). The run stops with the server's reply and a hint, the
 * transaction it was in is applied not at all, the checkpoint key stays at the previous one; once
 * fixed, the next start continues by PSYNC and nothing is lost or doubled.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHECKPOINT_KEY } from '../../src/checkpoint/index.js';
import { ReplicantError } from '../../src/errors.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { type Pipeline, startPipeline } from './compose.js';
import { counters, expectSameCounters, waitEqual } from './util.js';

const servers: TestServer[] = [];
const pipes: Pipeline[] = [];
afterEach(async () => {
  await Promise.all(pipes.splice(0).map((p) => p.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function stopsWith(p: Pipeline): Promise<ReplicantError> {
  const err = await p.done.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ReplicantError);
  return err as ReplicantError;
}

describe('faults that need a human', () => {
  for (const fault of ['OOM', 'NOPERM'] as const) {
    it(`-${fault} when queueing: stops with the reply and a hint, checkpoint intact, the next start continues`, async () => {
      const src = await startRedis({ 'repl-diskless-sync-delay': '0' });
      const dst = await startRedis();
      servers.push(src, dst);
      await counters(src, 1);
      const a = startPipeline({ source: src, target: dst });
      pipes.push(a);
      await a.started;
      await waitEqual(src, dst);
      const ckBefore = await dst.client.get(DEFAULT_CHECKPOINT_KEY);
      if (fault === 'OOM') {
        const used = Number(/used_memory:(\d+)/.exec(await dst.client.info('memory'))![1]);
        await dst.client.config('SET', 'maxmemory-policy', 'noeviction');
        await dst.client.config('SET', 'maxmemory', String(used + 64 * 1024));
        for (let r = 2; r < 60; r++) await counters(src, r); // ~600 KB of list entries
      } else {
        await dst.client.call('ACL', 'SETUSER', 'default', '-incr');
        await counters(src, 2);
      }
      const err = await stopsWith(a);
      pipes.splice(pipes.indexOf(a), 1);
      expect(err.message).toContain(fault);
      expect(err.message).toMatch(/none of it was applied/);
      expect(err.hint).toMatch(fault === 'OOM' ? /maxmemory/ : /ACL SETUSER/);
      const ck = JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!);
      expect(ck.phase).toBe('stream');
      expect(ck.offset).toBeGreaterThanOrEqual(JSON.parse(ckBefore!).offset);

      // Fixed by a human: the next start continues from the key.
      if (fault === 'OOM') await dst.client.config('SET', 'maxmemory', '0');
      else await dst.client.call('ACL', 'SETUSER', 'default', '+@all');
      await counters(src, 100);
      const b = startPipeline({ source: src, target: dst });
      pipes.push(b);
      expect((await b.started).mode).toBe('continue');
      await waitEqual(src, dst);
      const n = Number(await src.client.llen('seq'));
      await expectSameCounters(src, dst, n);
    });
  }
});
