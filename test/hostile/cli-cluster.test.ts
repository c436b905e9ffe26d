/**
 * Issue #14 point 6 for a cluster source (src/cli/sync-cluster.ts, the second reconnect loop): SIGTERM
 * while the shards are still copying ends with exit 3, ERR_INTERRUPTED naming how many shards were
 * incomplete, the partial-copy line, and a target holding fewer keys than the source.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { startRedis, type TestServer } from '../helpers/server.js';

let cluster: TestCluster;
let dst: TestServer;

beforeAll(async () => {
  cluster = await startCluster(2, {
    config: { 'enable-debug-command': 'yes', 'repl-diskless-sync-delay': '0' },
  });
  dst = await startRedis();
  // Big enough that a SIGTERM lands inside the copies (names differ per shard: no collision).
  for (const [i, m] of cluster.masters.entries())
    await m.client.call('DEBUG', 'POPULATE', '250000', `shard${i}`, '64');
}, 180_000);
afterAll(async () => {
  await Promise.all([cluster?.stop(), dst?.stop()]);
});

describe.skipIf(!cliBuilt())('cluster source: SIGTERM inside the copies', () => {
  it('exit 3, ERR_INTERRUPTED, the partial-copy line, target < source', async () => {
    let child: ChildProcess | null = null;
    let url = '';
    const run = runCli(
      ['--source', cluster.url, '--target', dst.url, '--no-progress', '--status-port', '0'],
      {
        timeoutMs: 170_000,
        onSpawn: (c) => {
          child = c;
          c.stderr?.on('data', (d: Buffer) => {
            const m = /url=(http:\/\/[\d.:]+)/.exec(d.toString());
            if (m) url = m[1]!;
          });
        },
      },
    );
    let sent = false;
    const end = Date.now() + 150_000;
    while (Date.now() < end) {
      if (url !== '') {
        const s = (await (await fetch(`${url}/status`).catch(() => null))?.json().catch(() => null)) as {
          phase?: string;
          keysWritten?: number;
        } | null;
        if (s?.phase === 'snapshot' && (s.keysWritten ?? 0) > 1000) {
          // The target takes no writes for a while, so the copies cannot finish before the signal
          // is handled (they took ~1 s here: a stop could land just after the last key).
          await dst.client.call('CLIENT', 'PAUSE', '3000', 'WRITE');
          (child as ChildProcess | null)?.kill('SIGTERM');
          sent = true;
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await run;
    expect(sent, r.stderr).toBe(true);
    expect(r.code, r.stderr).toBe(3);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_INTERRUPTED');
    expect(e.message).toMatch(/of 2 shards was complete: the copy is incomplete/);
    expect(e.hint).toMatch(/--flush-target/);
    const m = /^the target holds a partial copy: (\d+) keys written$/m.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const have = await dst.client.dbsize();
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(500_000);
    expect(Number(m![1])).toBe(have);
  });
});
