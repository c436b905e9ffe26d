/**
 * Issue #13 point 8, what the user reads: restore's summary does not count a key that expired before
 * it was read in the type totals (it is a skipped key); `verify --repair` shows the target's key count
 * after the repair and what the repair fixed (not "target keys 0, missing 0"); the progress line is not
 * cut to 20 columns when the terminal reports no width.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lineWidth, Progress } from '../../src/obs/progress.js';
import { cliBuilt, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis(config);
  servers.push(s);
  return s;
}

describe('progress line width', () => {
  it('a TTY that reports 0 or no columns gets 79, not 20', () => {
    expect(lineWidth(0)).toBe(79);
    expect(lineWidth(undefined)).toBe(79);
    expect(lineWidth(120)).toBe(119);
    const out: string[] = [];
    const line = `snapshot · ${'x'.repeat(100)}`;
    const p = new Progress(() => line, {
      enabled: true,
      stream: { isTTY: true, columns: 0, write: (s: string) => out.push(s) },
    });
    p.tick();
    expect(out[0]!.replace('\r\x1b[K', '').length).toBe(79);
  });
});

describe.skipIf(!cliBuilt())('summaries after restore and verify --repair', () => {
  it('restore: a key expired before it was read is skipped, not in the total', async () => {
    const src = await server();
    const dst = await server();
    await src.client.set('live', 'v');
    await src.client.set('live2', 'v');
    await src.client.set('dying', 'v', 'PX', 1500);
    await src.client.save();
    await new Promise((r) => setTimeout(r, 1700));
    const rdb = path.join(src.dir, 'dump.rdb');
    const r = await runCli(['restore', '--rdb', rdb, '--target', dst.url, '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^\s*string\s+2\s/m);
    expect(r.stderr).toMatch(/^\s*total\s+2\s/m);
    expect(r.stderr).toMatch(/skipped: expired\s+1/);
    expect(await dst.client.dbsize()).toBe(2);
  }, 60_000);

  it('verify --repair: target keys counted after the repair, and the fixed ones shown', async () => {
    const src = await server();
    const dst = await server();
    const p = src.client.pipeline();
    for (let i = 0; i < 50; i++) p.set(`k${i}`, `v${i}`);
    await p.exec();
    const r = await runCli(['verify', '--source', src.url, '--target', dst.url, '--repair', '--rounds', '1']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const row = r.stdout.split('\n').find((l) => /^\s*0→0\s/.test(l));
    expect(row, r.stdout).toBeDefined();
    // db, source keys, target keys, checked, missing …
    expect(row).toMatch(/^\s*0→0\s+50\s+50\s+50\s+0 \(50 repaired\)/);
    expect(await dst.client.dbsize()).toBe(50);
  }, 60_000);
});
