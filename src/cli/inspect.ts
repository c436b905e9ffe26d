/**
 * `replicant rdb-inspect FILE [--json]`: what an RDB holds. Table mode prints per-DB key counts by
 * type, expiring keys, function libraries and aux fields (redis-ver, …). `--json` prints one line per
 * key — `{"db","key"(base64),"type","expireAtMs"}` — then one summary line. Keys never appear in the
 * table (they may be sensitive); in JSON they are base64 because they are binary.
 */
import type { Config } from '../config/index.js';
import { buildFilters, FilterStage } from '../filters/index.js';
import { formatBytes, table, VALUE_TYPES } from '../obs/index.js';
import type { SkipInfo } from '../rdb/index.js';
import type { KeyMeta, KeyVisitor, ValueType } from '../records.js';
import { type FlowControl, readRdbFile, statRdbFile } from '../sources/rdb-file.js';

interface DbCounts {
  keys: number;
  byType: Record<ValueType, number>;
  expiring: number;
}

export interface InspectSummary {
  summary: true;
  file: string;
  bytes: number;
  magic: string | null;
  version: number | null;
  checksum: string | null;
  keys: number;
  dbs: Record<string, DbCounts>;
  functions: number;
  skipped: { type: number; opcode: number; reasons: Record<string, number> };
  aux: Record<string, string>;
}

/** Output with backpressure: lines are batched into ~64 KiB writes; `needsDrain` pauses the reader. */
class LineOut implements FlowControl {
  private buf: string[] = [];
  private size = 0;
  private waiting = false;
  constructor(private readonly out: NodeJS.WritableStream) {}
  push(line: string): void {
    this.buf.push(line);
    this.size += line.length;
    if (this.size >= 65536) this.flush();
  }
  flush(): void {
    if (this.buf.length === 0) return;
    if (!this.out.write(this.buf.join(''))) this.waiting = true;
    this.buf = [];
    this.size = 0;
  }
  get needsDrain(): boolean {
    return this.waiting;
  }
  drain(): Promise<void> {
    return new Promise((r) =>
      this.out.once('drain', () => {
        this.waiting = false;
        r();
      }),
    );
  }
}

class Inspector implements KeyVisitor {
  readonly s: InspectSummary;
  constructor(
    file: string,
    private readonly json: LineOut | null,
  ) {
    this.s = {
      summary: true,
      file,
      bytes: 0,
      magic: null,
      version: null,
      checksum: null,
      keys: 0,
      dbs: {},
      functions: 0,
      skipped: { type: 0, opcode: 0, reasons: {} },
      aux: {},
    };
  }
  header(magic: string, version: number): void {
    this.s.magic = magic;
    this.s.version = version;
  }
  aux(key: Buffer, value: Buffer): void {
    this.s.aux[key.toString('latin1')] = value.toString('latin1');
  }
  keyStart(m: KeyMeta): void {
    this.s.keys++;
    let d = this.s.dbs[m.db];
    if (d === undefined) {
      d = {
        keys: 0,
        byType: { string: 0, list: 0, set: 0, zset: 0, hash: 0, stream: 0, module: 0 },
        expiring: 0,
      };
      this.s.dbs[m.db] = d;
    }
    d.keys++;
    d.byType[m.type]++;
    if (m.expireAtMs !== null) d.expiring++;
    this.json?.push(
      `{"db":${m.db},"key":"${m.key.toString('base64')}","type":"${m.type}","expireAtMs":${m.expireAtMs === null ? 'null' : m.expireAtMs}}\n`,
    );
  }
  keyRaw(): void {}
  keyElements(): void {}
  keyEnd(): void {}
  functionLibrary(): void {
    this.s.functions++;
  }
  skipped(info: SkipInfo): void {
    this.s.skipped[info.kind]++;
    this.s.skipped.reasons[info.reason] = (this.s.skipped.reasons[info.reason] ?? 0) + 1;
  }
}

export async function runInspect(c: Config, signal: AbortSignal): Promise<number> {
  const file = c.args[0]!;
  await statRdbFile(file);
  const out = c.json ? new LineOut(process.stdout) : null;
  const inspector = new Inspector(file, out);
  const filters = buildFilters(c);
  const stage = new FilterStage(inspector, { filters: filters.keys });
  // The decoder's optional callbacks go straight to the inspector; key calls go through the filters.
  const visitor = {
    keyStart: (m: KeyMeta) => stage.keyStart(m),
    keyRaw: () => {},
    keyElements: () => {},
    keyEnd: () => stage.keyEnd(),
    functionLibrary: (code: Buffer) => stage.functionLibrary(code),
    header: (magic: string, v: number) => inspector.header(magic, v),
    aux: (k: Buffer, v: Buffer) => inspector.aux(k, v),
    skipped: (info: SkipInfo) => inspector.skipped(info),
  };
  const r = await readRdbFile(file, visitor, {
    decoder: { onUnsupported: c.skipUnsupported ? 'skip' : 'error' },
    signal,
    ...(out ? { flow: out } : {}),
  });
  inspector.s.bytes = r.bytes;
  inspector.s.checksum = r.checksum;
  if (out) {
    out.push(`${JSON.stringify(inspector.s)}\n`);
    out.flush();
  } else {
    process.stdout.write(inspectTable(inspector.s));
  }
  return 0;
}

export function inspectTable(s: InspectSummary): string {
  const lines = [
    `${s.file}: ${s.magic ?? '?'} RDB version ${s.version ?? '?'}, ${formatBytes(s.bytes)}, checksum ${s.checksum ?? '?'}`,
  ];
  const aux = Object.entries(s.aux);
  if (aux.length > 0)
    lines.push(
      `aux: ${aux.map(([k, v]) => `${k}=${/^[\x20-\x7e]*$/.test(v) ? v : JSON.stringify(v)}`).join(' ')}`,
    );
  const used = VALUE_TYPES.filter((t) => Object.values(s.dbs).some((d) => d.byType[t] > 0));
  const rows: (string | number)[][] = [['db', 'keys', ...used, 'expiring']];
  for (const [db, d] of Object.entries(s.dbs).sort((a, b) => Number(a[0]) - Number(b[0]))) {
    rows.push([db, d.keys, ...used.map((t) => d.byType[t]), d.expiring]);
  }
  if (rows.length > 2) {
    const total: (string | number)[] = ['all', s.keys];
    for (const t of used) total.push(Object.values(s.dbs).reduce((n, d) => n + d.byType[t], 0));
    total.push(Object.values(s.dbs).reduce((n, d) => n + d.expiring, 0));
    rows.push(total);
  }
  lines.push(rows.length > 1 ? table(rows, '') : 'no keys');
  if (s.functions > 0) lines.push(`function libraries: ${s.functions}`);
  const skips = Object.entries(s.skipped.reasons);
  if (skips.length > 0) lines.push(`skipped: ${skips.map(([r, n]) => `${n} × ${r}`).join('; ')}`);
  return `${lines.join('\n')}\n`;
}
