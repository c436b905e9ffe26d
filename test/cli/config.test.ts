import { describe, expect, it } from 'vitest';
import { ConfigProblems, helpText, parseConfig, parseSize } from '../../src/config/index.js';
import { FLAGS } from '../../src/config/schema.js';

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    parseConfig(argv, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigProblems);
    expect((e as ConfigProblems).code).toBe('ERR_CONFIG');
    expect((e as ConfigProblems).exitCode).toBe(2);
    return (e as ConfigProblems).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('parses a restore command line, converts values, freezes the result', () => {
    const c = parseConfig(
      [
        'restore',
        '--rdb',
        'dump.rdb',
        '--target',
        'redis://:pw@localhost:6380',
        '--dbs',
        '3,0,3',
        '--db-map',
        '3:1',
        '--big-key-bytes',
        '64mb',
        '--on-conflict',
        'skip',
        '--no-restore',
      ],
      {},
    );
    expect(c.command).toBe('restore');
    expect(c.rdb).toBe('dump.rdb');
    expect(c.dbs).toEqual([0, 3]);
    expect(c.dbMap).toEqual([[3, 1]]);
    expect(c.bigKeyBytes).toBe(64 * 1024 * 1024);
    expect(c.onConflict).toBe('skip');
    expect(c.noRestore).toBe(true);
    expect(c.statusHost).toBe('127.0.0.1');
    expect(c.logLevel).toBe('info');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.dbs)).toBe(true);
  });

  it('defaults: sync with source + target, on-conflict report', () => {
    const c = parseConfig(['--source', 'localhost:6379', '--target', 'redis://h:1'], {});
    expect(c.command).toBe('sync');
    expect(c.source).toBe('redis://localhost:6379');
    expect(c.onConflict).toBe('report');
    expect(c.statusPort).toBeNull();
  });

  it('reports every problem at once, with suggestions for near-misses and renamed flags', () => {
    const p = problems([
      'restore',
      '--targte=x',
      '--dbs',
      '1,300,a',
      '--db-map',
      '1:2,3:2',
      '--replace',
      '--on-conflict',
      'maybe',
      '--big-key-bytes',
      '12parsecs',
    ]);
    expect(p).toContain('unknown flag --targte (use --target instead)');
    expect(p).toContain('unknown flag --replace (use --on-conflict overwrite instead)');
    expect(p.some((s) => s.startsWith("--dbs: '300', 'a' are not DB numbers"))).toBe(true);
    expect(p.some((s) => s.includes('source DBs 1 and 3 both map to target DB 2'))).toBe(true);
    expect(p.some((s) => s.startsWith("--on-conflict: 'maybe' is not one of report, overwrite, skip"))).toBe(
      true,
    );
    expect(p.some((s) => s.startsWith('--big-key-bytes:'))).toBe(true);
    expect(p).toContain('--rdb FILE is required for restore');
    expect(p).toContain('--target URL is required for restore');
  });

  it('flags of another command, repeated flags, missing values', () => {
    const p = problems([
      'restore',
      '--rdb',
      'f',
      '--target',
      'localhost',
      '--json',
      '--target',
      'y',
      '--heartbeat-key',
    ]);
    expect(p).toContain("--json does not apply to 'restore' (use --json-logs for JSON logs)");
    expect(p).toContain('--target is given more than once');
    expect(p).toContain("--heartbeat-key does not apply to 'restore' (it is a flag of sync)");
  });

  it('a value that is a flag is not taken as the value', () => {
    const p = problems(['restore', '--target', '--rdb', 'x']);
    expect(p[0]).toBe('--target needs a value (URL), got the flag --rdb');
  });

  it('unknown commands suggest the nearest one', () => {
    expect(problems(['restor'])).toEqual(["unknown command 'restor' (use restore instead)"]);
  });

  it('never echoes a secret or a URL password', () => {
    const p = problems(['--source', 'ftp://u:hunter2@h', '--target', 'redis://h:1'], {
      REPLICANT_SOURCE_PASSWORD: '',
    });
    expect(p.join(' ')).not.toContain('hunter2');
    expect(p.join(' ')).toContain('***');
  });

  it('environment variables fill absent flags; flags win', () => {
    const env = { REPLICANT_TARGET: 'redis://envhost:1', REPLICANT_LOG_LEVEL: 'debug' };
    expect(parseConfig(['restore', '--rdb', 'x'], env).target).toBe('redis://envhost:1');
    expect(parseConfig(['restore', '--rdb', 'x', '--target', 'redis://a:2'], env).target).toBe('redis://a:2');
    expect(parseConfig(['restore', '--rdb', 'x'], env).logLevel).toBe('debug');
    expect(problems(['restore', '--rdb', 'x'], { ...env, REPLICANT_LOG_LEVEL: 'loud' })[0]).toMatch(
      /^\$REPLICANT_LOG_LEVEL: /,
    );
  });

  it('rdb-inspect takes one FILE; restore accepts FILE positionally too', () => {
    expect(parseConfig(['rdb-inspect', 'a.rdb', '--json'], {}).args).toEqual(['a.rdb']);
    expect(problems(['rdb-inspect'])).toEqual(['rdb-inspect needs a FILE argument']);
    expect(parseConfig(['restore', 'a.rdb', '--target', 'h:1'], {}).rdb).toBe('a.rdb');
  });

  it('--help and --version skip the required-flag checks; -h is --help', () => {
    expect(parseConfig(['restore', '-h'], {}).help).toBe(true);
    expect(parseConfig(['--version'], {}).version).toBe(true);
  });

  it('sizes', () => {
    expect(parseSize('1048576')).toEqual({ ok: true, value: 1048576 });
    expect(parseSize('512KB')).toEqual({ ok: true, value: 512 * 1024 });
    expect(parseSize('1.5g')).toEqual({ ok: true, value: 1.5 * 1024 ** 3 });
    expect(parseSize('0').ok).toBe(false);
  });

  it('help lists every flag of a command', () => {
    for (const cmd of ['sync', 'restore', 'rdb-inspect'] as const) {
      const text = helpText(cmd, cmd === 'sync');
      for (const f of FLAGS) {
        if (f.commands === 'all' || f.commands.includes(cmd)) expect(text).toContain(`--${f.name}`);
      }
    }
    expect(helpText('restore', false)).not.toContain('--heartbeat-key');
  });
});

describe('parseConfig: one problem per flag', () => {
  it('an invalid required flag is not also reported as missing', () => {
    try {
      parseConfig(['--source', 'rediss://h:1', '--target', 'redis://h:2'], {});
      throw new Error('expected an error');
    } catch (e) {
      const p = (e as ConfigProblems).problems;
      expect(p.length).toBe(1);
      expect(p[0]).toMatch(/^--source: TLS is not supported yet/);
    }
  });
});

describe('flag kinds: choice, count, duration, host:port', () => {
  const S = ['--source', 'redis://a:1', '--target', 'redis://b:2'];
  it('converts valid values', () => {
    const c = parseConfig(
      [
        'verify',
        ...S,
        '--sample',
        '1000',
        '--round-delay',
        '500ms',
        '--ttl-tolerance',
        '3',
        '--repair',
        '--delete-extra',
      ],
      {},
    );
    expect([c.sample, c.roundDelay, c.ttlTolerance, c.repair, c.deleteExtra, c.rounds]).toEqual([
      1000,
      500,
      3000,
      true,
      true,
      3,
    ]);
    const s = parseConfig(
      [
        'sync',
        '--target',
        'redis://b:2',
        '--source-sentinel',
        '[::1]:26379',
        '--source-master-name',
        'm',
        '--hash-field-ttl',
        'strip',
      ],
      {},
    );
    expect(s.sourceSentinel).toEqual({ host: '::1', port: 26379 });
    expect(s.source).toBeNull();
    expect(s.hashFieldTtl).toBe('strip');
    expect(s.crossSlot).toBe('error');
  });
  it('collects every bad value, and pairs that go together', () => {
    const p = problems([
      'verify',
      ...S,
      '--sample',
      '0',
      '--round-delay',
      'soon',
      '--delete-extra',
      '--source-sentinel',
      'nohost',
    ]);
    expect(p.join('\n')).toMatch(/--sample: '0' is out of range/);
    expect(p.join('\n')).toMatch(/--round-delay: 'soon' is not a duration/);
    expect(p.join('\n')).toMatch(/--source-sentinel: 'nohost' is not host:port/);
    expect(p.join('\n')).toMatch(/--delete-extra needs --repair/);
    expect(problems(['sync', ...S, '--cross-slot', 'maybe']).join()).toMatch(
      /--cross-slot: 'maybe' is not one of error, split/,
    );
  });
});

describe('secrets, TLS flags, status access (#14)', () => {
  it('redactUrl masks passwords no parser accepts', async () => {
    const { redactUrl } = await import('../../src/net/url.js');
    expect(redactUrl('redis://:pa/ss@h:1')).toBe('redis://:***@h:1');
    expect(redactUrl('redis://bob:x/y@z@h:1')).toBe('redis://bob:***@h:1');
    expect(redactUrl('redis://legacy@h:1')).toBe('redis://***@h:1');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
  });

  it('error text is masked and escaped', async () => {
    const { registerSecret, safeText } = await import('../../src/obs/terminal.js');
    registerSecret('t0p/secret');
    expect(safeText('a t0p/secret b \x1b[31m \u009b x\ny')).toBe('a *** b \\x1b[31m \\x9b x\\ny');
    expect(safeText('line1\nline2', true)).toBe('line1\nline2');
  });

  it('status host off loopback needs a token; loopback does not', () => {
    const base = ['--source', 'redis://a:1', '--target', 'redis://b:2', '--status-port', '0'];
    expect(() => parseConfig([...base, '--status-host', '0.0.0.0'], {})).toThrow(/needs a token/);
    expect(
      parseConfig([...base, '--status-host', '0.0.0.0'], { REPLICANT_STATUS_TOKEN: 't' }).statusToken,
    ).toBe('t');
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost'])
      expect(parseConfig([...base, '--status-host', h], {}).statusToken).toBeNull();
  });

  it('defaults of the retry bounds', () => {
    const c = parseConfig(['--source', 'redis://a:1', '--target', 'redis://b:2'], {});
    expect(c.maxFullCopies).toBe(5);
    expect(c.reconnectTimeout).toBe(300_000);
  });
});
