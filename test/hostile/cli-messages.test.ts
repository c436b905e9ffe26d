/**
 * Issue #14 point 8 (CLI parts): no secret in any message or log line (a password with an unescaped
 * `/` used to be printed whole, twice with --debug); bytes from files reach the terminal escaped (an
 * ESC sequence in a corrupt double); --source with --source-sentinel is refused; --tls is answered
 * about TLS, not with an unrelated did-you-mean.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';

let dst: TestServer;
let dir: string;

beforeAll(async () => {
  dst = await startRedis();
  dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-msg-'));
});
afterAll(async () => {
  await dst?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** No control byte but the line breaks between lines of output. */
function expectNoControlBytes(s: string): void {
  expect(s).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]/);
}

describe.skipIf(!cliBuilt())('secrets are never printed', () => {
  const cases: [string, string, string][] = [
    ['unescaped / in the password', 'redis://:pa/ss-word@127.0.0.1:6379', 'pa/ss-word'],
    ['user and a password with / and @', 'redis://bob:x/y@z-secret@127.0.0.1:6379', 'x/y@z-secret'],
    [
      'legacy form redis://PASSWORD@host with a bad port',
      'redis://hunter2-legacy@127.0.0.1:99999',
      'hunter2-legacy',
    ],
    ['a password with / and a bad port', 'redis://:ab/cd-pw@127.0.0.1:notaport', 'ab/cd-pw'],
  ];
  for (const [what, url, secret] of cases) {
    for (const debug of [false, true]) {
      it(`${what}${debug ? ' (--debug)' : ''}: ERR_CONFIG, the password masked`, async () => {
        const args = ['restore', '--rdb', path.join(dir, 'none.rdb'), '--target', url];
        if (debug) args.push('--debug');
        const r = await runCli(args);
        expect(r.code).toBe(2);
        expect(parseCliError(r.stderr)?.code).toBe('ERR_CONFIG');
        expect(r.stderr).toContain('***');
        for (const piece of [secret, ...secret.split(/[/@]/).filter((p) => p.length >= 3)])
          expect(r.stderr).not.toContain(piece);
      });
    }
  }

  it('the same URL in the environment (REPLICANT_SOURCE) for sync', async () => {
    const r = await runCli(['--target', dst.url], {
      env: { REPLICANT_SOURCE: 'redis://:pa/ss-env@127.0.0.1:6379' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('pa/ss-env');
    expect(r.stderr).not.toContain('ss-env');
  });

  it('a percent-encoded / is accepted (the hint says how)', async () => {
    const r = await runCli([
      'restore',
      '--rdb',
      path.join(dir, 'none.rdb'),
      '--target',
      'redis://:pa/ss@127.0.0.1:6379',
    ]);
    expect(parseCliError(r.stderr)?.message).toMatch(/%2F/);
    // What the hint says works: the URL is valid, and the run goes on to the (missing) file.
    const ok = await runCli([
      'restore',
      '--rdb',
      path.join(dir, 'none.rdb'),
      '--target',
      'redis://:pa%2Fss@127.0.0.1:6379',
    ]);
    expect(parseCliError(ok.stderr)?.code).toBe('ERR_RDB_FILE');
  });
});

describe.skipIf(!cliBuilt())('control bytes from files are escaped', () => {
  /** A type-3 (legacy zset) key whose score text holds an ANSI escape sequence. */
  function evilRdb(): string {
    const score = Buffer.from('\x1b[31mEVIL\x07\x1b]0;title\x07', 'latin1');
    const body = Buffer.concat([
      Buffer.from('REDIS0009', 'latin1'),
      Buffer.from([0xfe, 0x00]), // SELECTDB 0
      Buffer.from([0x03, 0x01]), // type 3 zset, key length 1
      Buffer.from('k'),
      Buffer.from([0x01, 0x01]), // 1 member, length 1
      Buffer.from('m'),
      Buffer.from([score.length]),
      score,
      Buffer.from([0xff]),
      Buffer.alloc(8), // checksum 0: not checked
    ]);
    const f = path.join(dir, 'evil.rdb');
    writeFileSync(f, body);
    return f;
  }

  it('restore: ERR_RDB_CORRUPT shows \\x1b, not the byte', async () => {
    await dst.client.flushall();
    const r = await runCli(['restore', '--rdb', evilRdb(), '--target', dst.url, '--no-progress']);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_RDB_CORRUPT');
    expect(e.message).toContain('\\x1b[31mEVIL\\x07');
    expectNoControlBytes(r.stderr.replace(/\n/g, ''));
  });

  it('rdb-inspect, and with --debug (stack and cause too)', async () => {
    for (const extra of [[], ['--debug']]) {
      const r = await runCli(['rdb-inspect', evilRdb(), ...extra]);
      expect(r.code).toBe(2);
      expect(parseCliError(r.stderr)?.code).toBe('ERR_RDB_CORRUPT');
      expectNoControlBytes(r.stderr.replace(/\n/g, ''));
    }
  });

  it('--json-logs: log lines stay JSON with the bytes escaped', async () => {
    const r = await runCli([
      'restore',
      '--rdb',
      evilRdb(),
      '--target',
      dst.url,
      '--no-progress',
      '--json-logs',
    ]);
    expect(r.code).toBe(2);
    expectNoControlBytes(r.stderr.replace(/\n/g, ''));
    for (const line of r.stderr.split('\n'))
      if (line.startsWith('{')) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe.skipIf(!cliBuilt())('command-line checks', () => {
  it('--source with --source-sentinel is refused (ERR_CONFIG)', async () => {
    const port = await freePort();
    const r = await runCli([
      '--source',
      dst.url,
      '--source-sentinel',
      `127.0.0.1:${port}`,
      '--source-master-name',
      'mymaster',
      '--target',
      dst.url,
    ]);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/--source and --source-sentinel/);
  });

  it('the same for precheck and verify', async () => {
    for (const cmd of ['precheck', 'verify']) {
      const r = await runCli([
        cmd,
        '--source',
        dst.url,
        '--source-sentinel',
        '127.0.0.1:26379',
        '--source-master-name',
        'm',
        '--target',
        dst.url,
      ]);
      expect(r.code).toBe(2);
      expect(parseCliError(r.stderr)?.message).toMatch(/--source and --source-sentinel/);
    }
  });

  it('--tls: TLS is not supported yet, not "use --dbs"', async () => {
    for (const flag of ['--tls', '--ssl', '--tls-ca-cert', '--tls-cert']) {
      const r = await runCli(['restore', '--rdb', 'x.rdb', '--target', dst.url, flag]);
      expect(r.code).toBe(2);
      const e = parseCliError(r.stderr)!;
      expect(e.code).toBe('ERR_CONFIG');
      expect(e.message).toContain(`unknown flag ${flag}`);
      expect(e.message).toMatch(/TLS is not supported yet/);
      expect(e.message).not.toMatch(/use --dbs/);
    }
  });

  it('short unknown flags get no far-fetched suggestion; real typos still do', async () => {
    const r = await runCli(['restore', '--rdb', 'x.rdb', '--target', dst.url, '--abc', '--targte', 'x']);
    const e = parseCliError(r.stderr)!;
    expect(e.message).toContain('unknown flag --abc;');
    expect(e.message).not.toMatch(/--abc \(use/);
    expect(e.message).toContain('unknown flag --targte (use --target instead)');
  });
});
