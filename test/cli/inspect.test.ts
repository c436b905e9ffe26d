/**
 * `rdb-inspect` through the built CLI: `--json` key lists checked against the HDT3213/rdb expected
 * outputs in the fixture corpus (db, key, type, expiry of every key), the table mode, and the error
 * paths (missing file, directory, not an RDB, truncated) — one line + hint, exit 2, no stack.
 */
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliBuilt, FIXTURES, parseCliError, runCli } from '../helpers/cli.js';

const RDB = path.join(FIXTURES, 'rdb');
const have = existsSync(RDB) && cliBuilt();
if (!existsSync(RDB)) console.warn(`skipping fixture tests: ${RDB} not found`);
if (!cliBuilt()) console.warn('skipping CLI tests: dist/replica.js missing (run npm run build)');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'replicant-inspect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The RDB an HDT3213 oracle describes: same base name, HDT3213's own copy first. */
function rdbFor(name: string): string | null {
  for (const dir of ['hdt3213', 'rdbtools', ...readdirSync(RDB)]) {
    const p = path.join(RDB, dir, `${name}.rdb`);
    if (existsSync(p)) return p;
  }
  return null;
}

interface Expected {
  db: number;
  key: string;
  type: string;
  expiration?: string;
}

describe.skipIf(!have)('rdb-inspect', () => {
  const oracles = have
    ? readdirSync(path.join(RDB, 'hdt3213/expected')).filter((f) => f.endsWith('.json'))
    : [];

  it.each(oracles)('--json matches the HDT3213 oracle %s', async (file) => {
    const name = file.slice(0, -5);
    const rdb = rdbFor(name);
    if (rdb === null || name === 'function') {
      console.warn(`${file}: no matching RDB in the corpus (or not a key list); skipped`);
      return;
    }
    const expected = (
      JSON.parse(readFileSync(path.join(RDB, 'hdt3213/expected', file), 'utf8')) as Expected[]
    )
      .filter((e) => ['string', 'list', 'set', 'zset', 'hash', 'stream'].includes(e.type))
      .map((e) => `${e.db} ${e.key} ${e.type} ${e.expiration ? Date.parse(e.expiration) : null}`)
      .sort();
    const r = await runCli(['rdb-inspect', rdb, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.pop()!;
    expect(summary.summary).toBe(true);
    expect(summary.keys).toBe(lines.length);
    const got = lines
      .map(
        (l) => `${l.db} ${Buffer.from(String(l.key), 'base64').toString('utf8')} ${l.type} ${l.expireAtMs}`,
      )
      .sort();
    expect(got).toEqual(expected);
  });

  it('prints a per-DB table by type with aux fields', async () => {
    const r = await runCli(['rdb-inspect', path.join(RDB, 'redis/encodings.rdb')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/REDIS RDB version 4/);
    expect(r.stdout).toMatch(/^db\s+keys\s+string\s+list\s+set\s+zset\s+hash\s+expiring$/m);
    expect(r.stdout).toMatch(/^0\s+13\s+3\s+2\s+4\s+2\s+2\s+0$/m);
    const multi = await runCli(['rdb-inspect', path.join(RDB, 'rdbtools/multiple_databases.rdb')]);
    expect(multi.stdout).toMatch(/^all\s+2\s+2\s+0$/m);
  });

  it('--dbs and --db-map apply to the listing', async () => {
    const f = path.join(RDB, 'rdbtools/multiple_databases.rdb');
    const all = await runCli(['rdb-inspect', f, '--json']);
    const dbs = all.stdout
      .trimEnd()
      .split('\n')
      .slice(0, -1)
      .map((l) => (JSON.parse(l) as { db: number }).db);
    expect(dbs.length).toBe(2);
    const one = await runCli([
      'rdb-inspect',
      f,
      '--json',
      '--dbs',
      String(dbs[0]),
      '--db-map',
      `${dbs[0]}:9`,
    ]);
    const lines = one.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(2);
    expect(JSON.parse(lines[0]!).db).toBe(9);
  });
});

describe.skipIf(!have)('rdb-inspect errors: one line, a hint, exit 2, no stack', () => {
  async function fails(args: string[], code: string, message: RegExp) {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const e = parseCliError(r.stderr);
    expect(e, r.stderr).not.toBeNull();
    expect(e!.code).toBe(code);
    expect(e!.message).toMatch(message);
    expect(e!.hint).toBeTruthy();
    expect(e!.hasStack).toBe(false);
    expect(r.stderr.trimEnd().split('\n').length).toBe(2);
    return r;
  }

  it('missing file', () =>
    fails(['rdb-inspect', path.join(tmp, 'nope.rdb')], 'ERR_RDB_FILE', /no such file/));
  it('a directory', () => fails(['rdb-inspect', tmp], 'ERR_RDB_FILE', /is a directory/));
  it('not an RDB', async () => {
    const f = path.join(tmp, 'text.rdb');
    writeFileSync(f, 'hello, this is not an RDB file\n');
    await fails(['rdb-inspect', f], 'ERR_RDB_VERSION', /not an RDB file.*at byte 0/);
  });
  it('truncated RDB names the byte offset', async () => {
    const src = path.join(RDB, 'redis/encodings.rdb');
    const f = path.join(tmp, 'cut.rdb');
    writeFileSync(f, readFileSync(src).subarray(0, 300));
    await fails(['rdb-inspect', f], 'ERR_RDB_TRUNCATED', /truncated.*\(at byte 300\)/);
  });
  it('corrupt RDB (checksum)', async () => {
    const src = path.join(RDB, 'rdbtools/rdb_version_5_with_checksum.rdb');
    const f = path.join(tmp, 'flip.rdb');
    copyFileSync(src, f);
    const b = readFileSync(f);
    b[b.length - 3]! ^= 0xff;
    writeFileSync(f, b);
    await fails(['rdb-inspect', f], 'ERR_RDB_CHECKSUM', /checksum/i);
  });
  it('--debug adds the stack', async () => {
    const r = await runCli(['rdb-inspect', path.join(tmp, 'nope.rdb'), '--debug']);
    expect(r.code).toBe(2);
    expect(parseCliError(r.stderr)!.hasStack).toBe(true);
  });
});

describe.skipIf(!cliBuilt())('command line', () => {
  it('unknown flags: all problems in one error, exit 2', async () => {
    const r = await runCli(['restore', '--rdb', 'x', '--targte', 'h:1', '--dbs', '999']);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toContain('unknown flag --targte (use --target instead)');
    expect(e.message).toContain("--dbs: '999' is not a DB number");
    expect(e.hint).toContain('replicant restore --help');
  });
  it('precheck / verify with nothing listening: exit 2, naming each side', async () => {
    const v = await runCli(['verify', '--source', 'redis://127.0.0.1:1', '--target', 'redis://127.0.0.1:2']);
    expect(v.code).toBe(2);
    expect(parseCliError(v.stderr)!.message).toContain('127.0.0.1:1');
    const p = await runCli([
      'precheck',
      '--source',
      'redis://127.0.0.1:1',
      '--target',
      'redis://127.0.0.1:2',
    ]);
    expect(p.code).toBe(2);
    expect(p.stdout).toMatch(/error +SOURCE_CONNECT: .*127\.0\.0\.1:1/);
    expect(p.stdout).toMatch(/error +TARGET_CONNECT: .*127\.0\.0\.1:2/);
  });
  it('--version and --help exit 0', async () => {
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^replicant \d+\.\d+\.\d+/);
    const h = await runCli(['restore', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('--on-conflict MODE');
  });
});
