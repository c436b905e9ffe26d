/**
 * The target's DB count (issue #13 point 4) when CONFIG is denied: SELECT probes find it; the precheck
 * and the run still name a DB the target lacks. And the string path TYPE_PATH reports (point 8).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RedisConnection } from '../../src/net/index.js';
import { targetDatabases } from '../../src/precheck/dbs.js';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
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

describe('target DB count', () => {
  it('CONFIG GET databases, or SELECT probes when CONFIG is denied', async () => {
    const s = await server({ databases: '7' });
    await s.client.call('ACL', 'SETUSER', 'noconfig', 'on', '>pw', '~*', '&*', '+@all', '-config');
    await s.client.call('ACL', 'SETUSER', 'noselect', 'on', '>pw', '~*', '&*', '+@all', '-config', '-select');
    for (const [user, want] of [
      [undefined, 7],
      ['noconfig', 7],
      ['noselect', null],
    ] as const) {
      const conn = await RedisConnection.connect(
        { host: s.host, port: s.port, ...(user ? { username: user, password: 'pw' } : {}) },
        'target',
      );
      try {
        expect(await targetDatabases(conn, false)).toBe(want);
      } finally {
        await conn.close();
      }
    }
    for (const n of ['1', '16', '256']) {
      const t = await server({ databases: n });
      const conn = await RedisConnection.connect({ host: t.host, port: t.port }, 'target');
      try {
        await conn.call(['ACL', 'SETUSER', 'default', '-config']);
        expect(await targetDatabases(conn, false)).toBe(Number(n));
      } finally {
        await conn.close();
      }
    }
  }, 60_000);
});

describe.skipIf(!cliBuilt())('a target user without CONFIG', () => {
  it('precheck and restore still name the missing DB (found by SELECT probes)', async () => {
    const src = await server();
    const dst = await server({ databases: '4' });
    await dst.client.call('ACL', 'SETUSER', 'w', 'on', '>pw', '~*', '&*', '+@all', '-config');
    const url = `redis://w:pw@${dst.host}:${dst.port}`;
    await src.client.select(2);
    await src.client.set('k', 'v');
    await src.client.select(0);
    const p = await runCli([
      'precheck',
      '--source',
      src.url,
      '--target',
      url,
      '--dbs',
      '2',
      '--db-map',
      '2:9',
    ]);
    expect(p.code, p.stdout).toBe(2);
    expect(p.stdout).toMatch(
      /error +TARGET_DBS: the target has 4 DBs \(0-3\), but this run writes source DB 2 → target DB 9/,
    );
    const r = await runCli(
      [
        '--source',
        src.url,
        '--target',
        url,
        '--dbs',
        '2',
        '--db-map',
        '2:9',
        '--skip-precheck',
        '--no-progress',
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(2);
    expect(parseCliError(r.stderr)?.code).toBe('ERR_TARGET_DB');
    expect(await dst.client.dbsize()).toBe(0);
  }, 60_000);
});
