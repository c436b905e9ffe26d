import { describe, expect, it } from 'vitest';
import {
  compactLine,
  createLogger,
  createMetrics,
  countSkip,
  formatBytes,
  formatCount,
  formatDuration,
  newRunStats,
  Progress,
  progressRenderer,
  startStatusServer,
  statusJson,
  summaryText,
} from '../../src/obs/index.js';

function sink() {
  const lines: string[] = [];
  return { lines, write: (s: string) => lines.push(s) };
}

describe('logger', () => {
  it('compact lines: time, level, component, message, fields; JSON mode is pino JSON', () => {
    const out = sink();
    const log = createLogger({ level: 'info', json: false, stream: out }).child({ component: 'restore' });
    log.info({ keys: 3, file: '/tmp/a b.rdb' }, 'loaded');
    log.debug('hidden');
    expect(out.lines.length).toBe(1);
    expect(out.lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}restore: loaded keys=3 file="\/tmp\/a b.rdb"\n$/,
    );
    const js = sink();
    createLogger({ level: 'debug', json: true, stream: js }).child({ component: 'x' }).debug({ n: 1 }, 'm');
    const rec = JSON.parse(js.lines[0]!);
    expect(rec).toMatchObject({ level: 20, component: 'x', n: 1, msg: 'm' });
    expect(rec.pid).toBeUndefined();
  });
  it('errors show code and message only', () => {
    const line = compactLine(
      JSON.stringify({
        level: 50,
        time: 0,
        msg: 'failed',
        err: { code: 'E_X', message: 'boom', stack: 'at …' },
      }),
    );
    expect(line).toContain('ERROR failed err="[E_X] boom"');
    expect(line).not.toContain('at …');
  });
  it('beforeWrite lets the progress line erase itself', () => {
    const out = sink();
    let cleared = 0;
    createLogger({ level: 'info', json: false, stream: out, beforeWrite: () => cleared++ }).info('x');
    expect(cleared).toBe(1);
  });
});

describe('progress and summary', () => {
  it('TTY: rewrites one line; clear erases it; non-TTY: plain lines', () => {
    const tty = { ...sink(), isTTY: true, columns: 40 };
    const p = new Progress(() => 'x'.repeat(100), { enabled: true, stream: tty });
    p.tick();
    p.clear();
    p.clear();
    expect(tty.lines).toEqual([`\r\x1b[K${'x'.repeat(39)}`, '\r\x1b[K']);
    const plain = sink();
    new Progress(() => 'line', { enabled: true, stream: plain }).tick();
    expect(plain.lines).toEqual(['line\n']);
    const off = sink();
    new Progress(() => 'line', { enabled: false, stream: off }).tick();
    expect(off.lines).toEqual([]);
  });

  it('snapshot line: bytes, percent, keys, rate, ETA; stream line: lag and ops/s', () => {
    const s = newRunStats('restore');
    s.phase = 'snapshot';
    s.rdbBytesTotal = 100 * 1024 * 1024;
    const render = progressRenderer(s);
    render();
    s.rdbBytesRead = 50 * 1024 * 1024;
    s.keysByType.string = 1500;
    const line = render();
    expect(line).toMatch(/^snapshot 50\.0 MiB \/ 100\.0 MiB \(50\.0%\) · 1,500 keys · /);
    s.phase = 'stream';
    s.lagMs = 1500;
    expect(render()).toMatch(/^stream · lag 1\.5s · \d+ ops\/s/);
  });

  it('summary table: keys by type, RESTORE vs rewrite, skipped by reason', () => {
    const s = newRunStats('restore');
    s.keysByType.string = 1234;
    s.keysByType.hash = 2;
    s.writesRestore = 1230;
    s.writesRewrite = 6;
    s.writesByType.string = { restore: 1230, set: 0, rewrite: 4 };
    s.writesByType.hash = { restore: 0, set: 0, rewrite: 2 };
    countSkip(s, 'expired', 3);
    s.finishedAtMs = s.startedAtMs + 2500;
    const t = summaryText(s, 'restored');
    expect(t).toMatch(/^restored in 2\.5s/);
    expect(t).toMatch(/type\s+keys\s+RESTORE\s+SET\/MSET\s+rewritten/);
    expect(t).toMatch(/string\s+1,234\s+1,230\s+0\s+4/);
    expect(t).toMatch(/hash\s+2\s+0\s+0\s+2/);
    expect(t).toMatch(/total\s+1,236\s+1,230\s+0\s+6/);
    expect((statusJson(s).writesByType as Record<string, unknown>).hash).toEqual({
      restore: 0,
      set: 0,
      rewrite: 2,
    });
    expect(t).toMatch(/written with RESTORE\s+1,230/);
    expect(t).toMatch(/skipped: expired\s+3/);
  });

  it('formatting helpers', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatDuration(3725)).toBe('1:02:05');
  });
});

describe('metrics and status server', () => {
  it('serves /status JSON and replicant_* metrics from the same stats object', async () => {
    const s = newRunStats('sync');
    s.phase = 'stream';
    s.keysByType.list = 7;
    s.writesRewrite = 2;
    countSkip(s, 'unsupported-type');
    s.lagMs = 250;
    const reg = createMetrics(() => s, { processMetrics: false });
    const srv = await startStatusServer({
      host: '127.0.0.1',
      port: 0,
      registry: reg,
      status: () => statusJson(s),
    });
    try {
      const st = (await (await fetch(`${srv.url}/status`)).json()) as Record<string, unknown>;
      expect(st.phase).toBe('stream');
      expect(st.keysPassed).toBe(7);
      const m = await (await fetch(`${srv.url}/metrics`)).text();
      expect(m).toContain('replicant_keys_total{type="list"} 7');
      expect(m).toContain('replicant_values_written_total{path="rewrite"} 2');
      expect(m).toContain('replicant_keys_skipped_total{reason="unsupported-type"} 1');
      expect(m).toContain('replicant_lag_seconds 0.25');
      expect(m).toContain('replicant_phase{phase="stream"} 1');
      s.keysByType.list = 9; // counters follow the stats object on the next scrape
      expect(await (await fetch(`${srv.url}/metrics`)).text()).toContain(
        'replicant_keys_total{type="list"} 9',
      );
      expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
      expect((await fetch(`${srv.url}/`)).status).toBe(200);
    } finally {
      await srv.close();
    }
  });
  it('a busy port is a ReplicantError with a hint', async () => {
    const reg = createMetrics(() => newRunStats('x'), { processMetrics: false });
    const a = await startStatusServer({ host: '127.0.0.1', port: 0, registry: reg, status: () => ({}) });
    try {
      await expect(
        startStatusServer({ host: '127.0.0.1', port: a.port, registry: reg, status: () => ({}) }),
      ).rejects.toMatchObject({
        code: 'ERR_STATUS_LISTEN',
      });
    } finally {
      await a.close();
    }
  });
});
