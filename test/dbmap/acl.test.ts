/**
 * Issue #13 point 7, on a real source with ACL users: a user denied only PSYNC (`-psync +sync`) syncs
 * by SYNC and the run says so (log line, precheck warning); a user denied both gets
 * ERR_SOURCE_NOPERM whose hint names the ACL rules that fix it — and no mode that does not exist.
 */
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
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

function startSync(args: string[]): { child: Promise<ChildProcess>; done: Promise<CliResult> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => {
    resolveChild = r;
  });
  const done = runCli([...args, '--no-progress'], { onSpawn: resolveChild, timeoutMs: 120_000 });
  return { child, done };
}

async function waitFor(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const userUrl = (s: TestServer, user: string) => `redis://${user}:pw@${s.host}:${s.port}`;

describe.skipIf(!cliBuilt())('source ACL: PSYNC refused', () => {
  it('-psync +sync: the sync works by SYNC and says so (snapshot and stream)', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server();
    await src.client.call('ACL', 'SETUSER', 'nopsync', 'on', '>pw', '~*', '&*', '+@all', '-psync');
    await src.client.set('before', '1');
    const pre = await runCli(['precheck', '--source', userUrl(src, 'nopsync'), '--target', dst.url]);
    expect(pre.stdout).toMatch(/warn +SOURCE_NO_PSYNC: .*may run SYNC: the live sync falls back to SYNC/);
    expect(pre.stdout).toMatch(/ACL SETUSER nopsync \+psync \+replconf \+ping/);
    expect(pre.code, pre.stdout).toBe(0);

    const run = startSync(['--source', userUrl(src, 'nopsync'), '--target', dst.url]);
    await waitFor('the snapshot', async () => (await dst.client.get('before')) === '1');
    await src.client.set('after', '2');
    await waitFor('the stream', async () => (await dst.client.get('after')) === '2');
    (await run.child).kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/may not PSYNC; falling back to SYNC/);
  }, 120_000);

  it('-psync -sync: ERR_SOURCE_NOPERM with the ACL rules to add, nothing written', async () => {
    const src = await server();
    const dst = await server();
    await src.client.call('ACL', 'SETUSER', 'norepl', 'on', '>pw', '~*', '&*', '+@all', '-psync', '-sync');
    await src.client.set('k', 'v');
    const pre = await runCli(['precheck', '--source', userUrl(src, 'norepl'), '--target', dst.url]);
    expect(pre.code).toBe(2);
    expect(pre.stdout).toMatch(/error +SOURCE_NO_PSYNC: .*may not run PSYNC .* or SYNC/);
    expect(pre.stdout).not.toMatch(/SCAN/);

    const r = await runCli(['--source', userUrl(src, 'norepl'), '--target', dst.url, '--no-progress'], {
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(2);
    const e = parseCliError(r.stderr);
    expect(e?.code, r.stderr).toBe('ERR_SOURCE_NOPERM');
    expect(e?.hint).toMatch(/ACL SETUSER norepl \+psync \+replconf \+ping/);
    expect(e?.hint).toMatch(/\+sync \+replconf \+ping/);
    expect(e?.hint).not.toMatch(/SCAN/);
    expect(await dst.client.dbsize()).toBe(0);
  }, 120_000);
});
