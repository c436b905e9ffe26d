/**
 * Shared test helpers for src/rdb: where the shared fixture corpus is, a visitor that records a
 * normalised event log (independent of how the input was chunked), and a model of the decoded data
 * for comparison with oracles and real servers.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyMeta, ValueChunk } from '../../src/records.js';
import type { RdbVisitor, SkipInfo } from '../../src/rdb/index.js';

export const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../shared/fixtures',
);
export const HAVE_FIXTURES = existsSync(path.join(FIXTURES, 'MANIFEST.md'));
if (!HAVE_FIXTURES)
  console.warn(`rdb tests: fixture corpus not found at ${FIXTURES}; fixture tests are skipped`);

export function listFiles(ext: string, dir = FIXTURES): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(ext)) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

export const rel = (p: string): string => path.relative(FIXTURES, p);

const hex = (b: Buffer): string => b.toString('hex');

/**
 * Records every visitor call as text lines, normalised so that the same file gives the same log
 * however it was split: raw chunks and string pieces are concatenated per key, element chunks are
 * flattened to one line per element.
 */
export class LogVisitor implements RdbVisitor {
  readonly log: string[] = [];
  private raw: Buffer[] = [];
  private str: Buffer[] = [];
  rawBodies: Buffer[] = [];

  header(magic: string, version: number): void {
    this.log.push(`header ${magic} ${version}`);
  }
  aux(k: Buffer, v: Buffer): void {
    this.log.push(`aux ${hex(k)} ${hex(v)}`);
  }
  selectDb(db: number): void {
    this.log.push(`select ${db}`);
  }
  resizeDb(a: number, b: number): void {
    this.log.push(`resize ${a} ${b}`);
  }
  slotInfo(a: number, b: number, c: number): void {
    this.log.push(`slot ${a} ${b} ${c}`);
  }
  slotImport(job: Buffer, ranges: number[]): void {
    this.log.push(`slotimport ${hex(job)} ${ranges.join(',')}`);
  }
  moduleAux(name: string, raw: Buffer): void {
    this.log.push(`moduleaux ${name} ${hex(raw)}`);
  }
  skipped(info: SkipInfo): void {
    this.log.push(`skipped ${info.kind} ${info.id} ${info.reason}`);
  }
  end(info: { crc: string }): void {
    this.log.push(`end ${info.crc}`);
  }
  functionLibrary(code: Buffer): void {
    this.log.push(`function ${hex(code)}`);
  }
  private meta: KeyMeta | null = null;
  private metaKey = '';
  keyStart(m: KeyMeta): void {
    // KeyMeta must stay valid until keyEnd (checked there), even when the caller reuses its chunks.
    this.meta = m;
    this.metaKey = hex(m.key);
    this.log.push(
      `key db=${m.db} ${hex(m.key)} ${m.type} t${m.rdbType} v${m.rdbVersion} ${m.family} exp=${m.expireAtMs} idle=${m.idleSeconds} freq=${m.freq} mod=${m.module ? `${m.module.name}/${m.module.encver}` : '-'}`,
    );
    this.raw = [];
    this.str = [];
  }
  keyRaw(b: Buffer): void {
    this.raw.push(Buffer.from(b));
  }
  keyElements(c: ValueChunk): void {
    const L = this.log;
    switch (c.kind) {
      case 'string':
        this.str.push(Buffer.from(c.data));
        break;
      case 'list':
        for (const i of c.items) L.push(`  item ${hex(i)}`);
        break;
      case 'set':
        for (const i of c.members) L.push(`  member ${hex(i)}`);
        break;
      case 'zset':
        for (let i = 0; i < c.members.length; i++) L.push(`  zmember ${hex(c.members[i]!)} ${c.scores[i]}`);
        break;
      case 'hash':
        for (let i = 0; i < c.fields.length; i++) {
          const ttl = c.fieldExpireAtMs ? ` ttl=${c.fieldExpireAtMs[i]}` : '';
          L.push(`  field ${hex(c.fields[i]!)} ${hex(c.values[i]!)}${ttl}`);
        }
        break;
      case 'stream-entries':
        for (let i = 0; i < c.ids.length; i++)
          L.push(`  entry ${c.ids[i]} ${c.fields[i]!.map(hex).join(',')}`);
        break;
      case 'stream-pel':
        for (let i = 0; i < c.ids.length; i++)
          L.push(`  pel ${c.ids[i]} ${c.deliveryTimeMs[i]} ${c.deliveryCount[i]}`);
        break;
      default: {
        const o: Record<string, unknown> = { ...c };
        if ('name' in c) o.name = hex(c.name);
        L.push(`  ${JSON.stringify(o)}`);
      }
    }
  }
  keyEnd(): void {
    if (this.meta && hex(this.meta.key) !== this.metaKey)
      this.log.push(`KEY CHANGED before keyEnd: ${this.metaKey}`);
    const raw = Buffer.concat(this.raw);
    this.rawBodies.push(raw);
    if (this.str.length > 0) this.log.push(`  string ${hex(Buffer.concat(this.str))}`);
    this.log.push(`  raw ${raw.length} ${raw.subarray(0, 64).toString('hex')}`, 'keyend');
  }
}

/** Decoded value of one key, in plain JS for deep comparison. */
export type ModelValue =
  | { type: 'string'; value: Buffer }
  | { type: 'list'; value: Buffer[] }
  | { type: 'set'; value: Buffer[] }
  | { type: 'zset'; value: Map<string, number> }
  | { type: 'hash'; value: Map<string, Buffer>; ttl: Map<string, number | null> }
  | { type: 'stream'; entries: { id: string; fields: Buffer[] }[]; chunks: ValueChunk[] }
  | { type: 'module'; value: null };

export interface ModelKey {
  meta: KeyMeta;
  value: ModelValue;
  raw: Buffer;
}

/** Builds `db:keyhex → ModelKey` (plus aux and functions) from visitor calls. */
export class ModelVisitor implements RdbVisitor {
  readonly keys = new Map<string, ModelKey>();
  readonly auxFields = new Map<string, Buffer>();
  readonly dbs = new Set<number>();
  crc: string | null = null;
  readonly functions: Buffer[] = [];
  readonly order: ModelKey[] = [];
  private cur: ModelKey | null = null;
  private raw: Buffer[] = [];
  private str: Buffer[] = [];

  readonly selected = new Set<number>();
  readonly resizes: [number, number][] = [];
  readonly slots: [number, number, number][] = [];
  selectDb(db: number): void {
    this.selected.add(db);
  }
  resizeDb(a: number, b: number): void {
    this.resizes.push([a, b]);
  }
  slotInfo(a: number, b: number, c: number): void {
    this.slots.push([a, b, c]);
  }
  aux(k: Buffer, v: Buffer): void {
    this.auxFields.set(k.toString('latin1'), Buffer.from(v));
  }
  end(info: { crc: string }): void {
    this.crc = info.crc;
  }
  functionLibrary(code: Buffer): void {
    this.functions.push(Buffer.from(code));
  }
  keyStart(meta: KeyMeta): void {
    const m = { ...meta, key: Buffer.from(meta.key) };
    let value: ModelValue;
    switch (meta.type) {
      case 'string':
        value = { type: 'string', value: Buffer.alloc(0) };
        break;
      case 'list':
      case 'set':
        value = { type: meta.type, value: [] };
        break;
      case 'zset':
        value = { type: 'zset', value: new Map() };
        break;
      case 'hash':
        value = { type: 'hash', value: new Map(), ttl: new Map() };
        break;
      case 'stream':
        value = { type: 'stream', entries: [], chunks: [] };
        break;
      default:
        value = { type: 'module', value: null };
    }
    this.cur = { meta: m, value, raw: Buffer.alloc(0) };
    this.raw = [];
    this.str = [];
  }
  keyRaw(b: Buffer): void {
    this.raw.push(Buffer.from(b));
  }
  keyElements(c: ValueChunk): void {
    const v = this.cur!.value;
    switch (c.kind) {
      case 'string':
        this.str.push(Buffer.from(c.data));
        break;
      case 'list':
        if (v.type === 'list') for (const i of c.items) v.value.push(Buffer.from(i));
        break;
      case 'set':
        if (v.type === 'set') for (const i of c.members) v.value.push(Buffer.from(i));
        break;
      case 'zset':
        if (v.type === 'zset')
          for (let i = 0; i < c.members.length; i++)
            v.value.set(c.members[i]!.toString('latin1'), c.scores[i]!);
        break;
      case 'hash':
        if (v.type === 'hash')
          c.fields.forEach((f, i) => {
            v.value.set(f.toString('latin1'), Buffer.from(c.values[i]!));
            if (c.fieldExpireAtMs) v.ttl.set(f.toString('latin1'), c.fieldExpireAtMs[i]!);
          });
        break;
      default:
        if (v.type === 'stream') {
          if (c.kind === 'stream-entries') {
            for (let i = 0; i < c.ids.length; i++) {
              v.entries.push({ id: c.ids[i]!, fields: c.fields[i]!.map((b) => Buffer.from(b)) });
            }
          } else
            v.chunks.push(
              'name' in c ? { ...structuredClone(c), name: Buffer.from(c.name) } : structuredClone(c),
            );
        }
    }
  }
  keyEnd(): void {
    const k = this.cur!;
    k.raw = Buffer.concat(this.raw);
    if (k.value.type === 'string') k.value.value = Buffer.concat(this.str);
    this.dbs.add(k.meta.db);
    this.keys.set(`${k.meta.db}:${k.meta.key.toString('hex')}`, k);
    this.order.push(k);
    this.cur = null;
  }
}

/** Text form of a score the way oracles print it. */
export function scoreText(s: number): string {
  return s === Number.POSITIVE_INFINITY ? 'inf' : s === Number.NEGATIVE_INFINITY ? '-inf' : String(s);
}

/** Our decoded value in the loose JSON shape oracles use (UTF-8 text, sets sorted, scores as numbers). */
export function plain(k: ModelKey, enc: BufferEncoding | 'auto' = 'utf8'): unknown {
  const v = k.value;
  const t = (b: Buffer): string => text(b, enc);
  switch (v.type) {
    case 'string':
      return t(v.value);
    case 'list':
      return v.value.map(t);
    case 'set':
      return v.value.map(t).sort();
    case 'zset':
      return Object.fromEntries([...v.value].map(([m, s]) => [text(Buffer.from(m, 'latin1'), enc), s]));
    case 'hash':
      return Object.fromEntries(
        [...v.value].map(([f, val]) => [text(Buffer.from(f, 'latin1'), enc), t(val)]),
      );
    case 'stream':
      return v.entries.map((e) => ({
        id: e.id,
        fields: Object.fromEntries(
          e.fields.flatMap((b, i) => (i % 2 === 0 ? [[t(b), t(e.fields[i + 1]!)]] : [])),
        ),
      }));
    default:
      return null;
  }
}

/** Parse a score as oracles print it ("inf", "-inf", "3.19", numbers). */
export function oracleScore(s: unknown): number {
  if (typeof s === 'number') return s;
  const x = String(s).toLowerCase();
  if (x === 'inf' || x === '+inf' || x === 'infinity') return Number.POSITIVE_INFINITY;
  if (x === '-inf' || x === '-infinity') return Number.NEGATIVE_INFINITY;
  return Number(x);
}

/** Bytes as text; 'auto' = UTF-8 when the bytes are valid UTF-8, else one char per byte. */
export function text(b: Buffer, enc: BufferEncoding | 'auto'): string {
  if (enc !== 'auto') return b.toString(enc);
  const u = b.toString('utf8');
  return Buffer.from(u, 'utf8').equals(b) ? u : b.toString('latin1');
}

/**
 * Feed `buf` cut at `cuts` (ascending offsets), each piece a fresh copy overwritten right after write():
 * the decoder must keep nothing but its own copies. Ends the decoder.
 */
export function feedPieces(d: { write(b: Buffer): void; end(): void }, buf: Buffer, cuts: number[]): void {
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    const piece = Buffer.from(buf.subarray(prev, c));
    d.write(piece);
    piece.fill(0xaa);
    prev = c;
  }
  d.end();
}
