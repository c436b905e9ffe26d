/**
 * `replicant precheck` on real servers, through the built CLI: a target too small and evicting
 * (both problems named with their fixes, exit 2), an occupied target DB in report mode, a source user
 * without +psync, a clean pair (exit 0), the --json shape, the file mode, and sync/restore stopping
 * on precheck errors before writing anything (and going on with --skip-precheck).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { seedAllTypes } from '../helpers/seed.js';
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

/** ~6 MB of string values on the source. */
async function fill(s: TestServer, n = 3000, size = 2000): Promise<void> {
  const p = s.client.pipeline();
  for (let i = 0; i < n; i++) p.set(`fill:${i}`, 'x'.repeat(size));
  await p.exec();
}

interface Json {
  ok: boolean;
  errors: number;
  warnings: number;
  findings: { level: string; code: string; message: string; fix?: string }[];
}

describe.skipIf(!cliBuilt())('replicant precheck', () => {
  it('a clean pair: exit 0, every type listed with its path, --json shape', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0, 2], functions: true });
    const r = await runCli(['precheck', '--source', src.url, '--target', dst.url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^result: ok/m);
    for (const t of ['list', 'set', 'zset', 'hash', 'stream'])
      expect(r.stdout).toMatch(new RegExp(`info +TYPE_PATH: ${t} \\(.*\\): \\d+ keys sampled → RESTORE`));
    // Strings go by SET / MSET (src/sinks/standalone.ts), not RESTORE (issue #13 point 8).
    expect(r.stdout).toMatch(/info +TYPE_PATH: string \(.*\): \d+ keys sampled → SET \(MSET batches/);
    expect(r.stdout).toMatch(/FUNCTIONS: 1 function library will be copied/);

    const j = await runCli(['precheck', '--source', src.url, '--target', dst.url, '--json']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout) as Json;
    expect(doc).toMatchObject({ ok: true, errors: 0 });
    for (const f of doc.findings) {
      expect(['error', 'warn', 'info']).toContain(f.level);
      expect(f.code).toMatch(/^[A-Z_]+$/);
      expect(f.message.length).toBeGreaterThan(5);
    }
  });

  it('target smaller than the source and allkeys-lru: exit 2 naming both problems and their fixes', async () => {
    const src = await server();
    const dst = await server({ maxmemory: '3mb', 'maxmemory-policy': 'allkeys-lru' });
    await fill(src);
    const r = await runCli(['precheck', '--source', src.url, '--target', dst.url]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(
      /error +TARGET_MEMORY: target maxmemory 3mb is below 1\.1 × the source's used_memory/,
    );
    expect(r.stdout).toMatch(/fix: give the target more memory: CONFIG SET maxmemory \d+mb/);
    expect(r.stdout).toMatch(/error +TARGET_EVICTION: target maxmemory-policy is allkeys-lru/);
    expect(r.stdout).toMatch(
      /fix: CONFIG SET maxmemory-policy noeviction on the target \(or pass --allow-eviction/,
    );
    expect(r.stdout).toMatch(/^result: 2 errors/m);

    // --allow-eviction turns the policy into a warning; the memory error stays.
    const a = await runCli([
      'precheck',
      '--source',
      src.url,
      '--target',
      dst.url,
      '--allow-eviction',
      '--json',
    ]);
    const doc = JSON.parse(a.stdout) as Json;
    expect(doc.findings.find((f) => f.code === 'TARGET_EVICTION')?.level).toBe('warn');
    expect(doc.errors).toBe(1);
    expect(a.code).toBe(2);
  });

  it('an occupied target DB in report mode is an error naming the DB; overwrite makes it information', async () => {
    const src = await server();
    const dst = await server();
    await src.client.set('k', 'v');
    await dst.client.select(3);
    await dst.client.set('old1', '1');
    await dst.client.set('old2', '2');
    const r = await runCli(['precheck', '--source', src.url, '--target', dst.url]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/error +TARGET_NOT_EMPTY: target already holds keys in db 3 \(2 keys\)/);
    expect(r.stdout).toMatch(/fix: pass --on-conflict overwrite .*--flush-target/);
    const o = await runCli([
      'precheck',
      '--source',
      src.url,
      '--target',
      dst.url,
      '--on-conflict',
      'overwrite',
    ]);
    expect(o.code).toBe(0);
    expect(o.stdout).toMatch(/info +TARGET_NOT_EMPTY: .*db 3/);
    // Mapped elsewhere: db 3 is not written, no finding at all.
    const m = await runCli(['precheck', '--source', src.url, '--target', dst.url, '--dbs', '0']);
    expect(m.code).toBe(0);
    expect(m.stdout).not.toMatch(/TARGET_NOT_EMPTY/);
  });

  it('a source user without +psync and +sync: error naming the user and what to grant', async () => {
    const src = await server();
    const dst = await server();
    // -psync alone is a warning now (the sync falls back to SYNC: test/dbmap/acl.test.ts).
    await src.client.call('ACL', 'SETUSER', 'mig', 'on', '>pw', '~*', '&*', '+@all', '-psync', '-sync');
    const url = src.url.replace('redis://', 'redis://mig:pw@');
    const r = await runCli(['precheck', '--source', url, '--target', dst.url]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/error +SOURCE_NO_PSYNC: the source user 'mig' may not run PSYNC/);
    expect(r.stdout).toMatch(/fix: grant them on the source: ACL SETUSER mig \+psync \+replconf/);
    // A wrong password is a connection finding, not an exception.
    const bad = await runCli([
      'precheck',
      '--source',
      src.url.replace('redis://', 'redis://mig:nope@'),
      '--target',
      dst.url,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/error +SOURCE_CONNECT: /);
  });

  it('file mode: the RDB version and the target; a file that is not an RDB is an error', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0] });
    await src.client.save();
    const rdb = path.join(src.dir, 'dump.rdb');
    const r = await runCli(['precheck', '--rdb', rdb, '--target', dst.url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/info +TYPE_PATH: RDB version 10 → RESTORE; strings → SET/);
    const junk = path.join(os.tmpdir(), `replicant-not-rdb-${process.pid}.aof`);
    writeFileSync(junk, '*1\r\n$4\r\nPING\r\n');
    const j = await runCli(['precheck', '--rdb', junk, '--target', dst.url]);
    expect(j.code).toBe(2);
    expect(j.stdout).toMatch(/error +RDB_NOT_RDB: .* does not start with an RDB header/);
  });

  it('sync and restore stop on precheck errors before writing; --skip-precheck goes on', async () => {
    const src = await server();
    const dst = await server({ 'maxmemory-policy': 'allkeys-lru' });
    await src.client.set('k', 'v');
    await src.client.save();
    const rdb = path.join(src.dir, 'dump.rdb');
    const r = await runCli(['restore', '--rdb', rdb, '--target', dst.url, '--no-progress']);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_PRECHECK');
    expect(e.message).toMatch(/maxmemory-policy is allkeys-lru/);
    expect(e.hint).toMatch(/--skip-precheck/);
    const s = await runCli(['sync', '--source', src.url, '--target', dst.url, '--no-progress']);
    expect(s.code).toBe(2);
    expect(parseCliError(s.stderr)!.code).toBe('ERR_PRECHECK');
    expect(await dst.client.dbsize()).toBe(0);
    const ok = await runCli([
      'restore',
      '--rdb',
      rdb,
      '--target',
      dst.url,
      '--no-progress',
      '--skip-precheck',
    ]);
    expect(ok.code).toBe(0);
    expect(await dst.client.get('k')).toBe('v');
  });
});
