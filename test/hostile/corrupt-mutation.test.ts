/**
 * Issue #14 point 1, campaign: ≥ 1,000 damaged RDB files *restored* (not only decoded) into one real
 * redis-server 7.0 with `sanitize-dump-payload no`, flushed between files. Bases: a file a real 7.0
 * wrote with every compact encoding it has (hash/zset/set listpacks, intsets, quicklist nodes, a
 * stream with a group and a PEL) and the corpus' small ziplist/zipmap/intset/listpack/stream files.
 * Each is damaged (byte flips, extreme length bytes, inserted/deleted bytes, truncations), and its
 * CRC64 recomputed 80 % of the time so the damage reaches the decoder rather than the CRC pass. The
 * restore runs in-process (`main`, as the CLI does, without a process per file). After every file the
 * target must answer PING, and a failed run must end in a typed error (never ERR_INTERNAL).
 * RESTORE_MUTATION_SEED / RESTORE_MUTATION_N replay or lengthen a run; RESTORE_MUTATION_SHOW=CODE prints
 * the runs that ended with CODE (e.g. ERR_TARGET_WRITE: a value Redis refused that we let through).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { crc64 } from '../../src/rdb/index.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { FIXTURES, HAVE_FIXTURES } from '../rdb/helpers.js';
import { cases } from './crafted.js';

const N = Number(process.env.RESTORE_MUTATION_N ?? 1200);
const SEED = Number(process.env.RESTORE_MUTATION_SEED ?? 20261205);
const CORPUS = [
  'rdbtools/hash_as_ziplist.rdb',
  'rdbtools/intset_16.rdb',
  'rdbtools/intset_32.rdb',
  'rdbtools/intset_64.rdb',
  'rdbtools/listpack_multibyte_encodings_integer.rdb',
  'rdbtools/listpack_small_numbers.rdb',
  'rdbtools/listpack_tiny_strings.rdb',
  'rdbtools/set_as_listpack.rdb',
  'rdbtools/sorted_set_as_ziplist.rdb',
  'rdbtools/redis_50_with_streams.rdb',
  'rdbtools/streams.rdb',
  'rdbtools/ziplist_with_integers.rdb',
  'rdbtools/ziplist_that_doesnt_compress.rdb',
  'rdbtools/zipmap_that_doesnt_compress.rdb',
  'redis/encodings.rdb',
  'redis/hash-ziplist.rdb',
  'redis/list-quicklist.rdb',
  'redis/zset-ziplist.rdb',
];

let dst: TestServer;
let src: TestServer;
const bases: Buffer[] = [];

/** Deterministic PRNG (mulberry32): a failure replays from the printed seed and iteration. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(base: Buffer, r: () => number): Buffer {
  // Damage after the 9-byte header and before the EOF + CRC (the header is the decoder's own business).
  const body = base.subarray(0, base.length - 8);
  let b = Buffer.from(body);
  const at = 9 + Math.floor(r() * Math.max(1, b.length - 10));
  const kind = r();
  if (kind < 0.55) {
    const n = 1 + Math.floor(r() * 3);
    for (let i = 0; i < n; i++) b[Math.min(b.length - 2, at + Math.floor(r() * 8))] = Math.floor(r() * 256);
  } else if (kind < 0.75) {
    b[at] = [0x00, 0x01, 0x3f, 0x7f, 0x80, 0xbf, 0xc0, 0xf0, 0xf4, 0xf5, 0xfe, 0xff][Math.floor(r() * 12)]!;
  } else if (kind < 0.85) {
    const ins = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 4) }, () => Math.floor(r() * 256)));
    b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
  } else if (kind < 0.95) {
    b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length - 1, at + 1 + Math.floor(r() * 4)))]);
  } else {
    return b.subarray(0, at); // truncated, no EOF, no CRC
  }
  const crc = Buffer.alloc(8);
  crc.writeBigUInt64LE(r() < 0.8 ? crc64(b) : crc64(b) ^ 1n);
  return Buffer.concat([b, crc]);
}

/** Run `replicant restore` in-process; returns the exit code and the error code it printed (if any). */
async function restoreInProcess(file: string): Promise<{ exit: number; code: string | null; text: string }> {
  const out: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }) as typeof process.stderr.write;
  let exit: number;
  try {
    exit = await main([
      'restore',
      '--rdb',
      file,
      '--target',
      dst.url,
      '--no-progress',
      '--skip-precheck',
      '--log-level',
      'silent',
      '--on-conflict',
      'overwrite',
      '--hash-field-ttl',
      'strip',
    ]);
  } finally {
    process.stderr.write = write;
  }
  const text = out.join('');
  return { exit, code: /^error \[([A-Z0-9_]+)\]/m.exec(text)?.[1] ?? null, text };
}

beforeAll(async () => {
  process.env.REPLICANT_YOUNG_GEN_CAP_MB = '0'; // no heap-tuning timer inside the test process
  [src, dst] = await Promise.all([startRedis(), startRedis({ 'sanitize-dump-payload': 'no' })]);
  // A base file from a real 7.0: every compact encoding it writes, a few keys each.
  const c = src.client;
  for (let i = 0; i < 3; i++) {
    await c.hset(`h${i}`, 'a', '1', 'b', 'two', 'c', String(1000 + i), 'd', '-7');
    await c.zadd(`z${i}`, 1, 'a', 2.5, 'b', -3, 'c');
    await c.sadd(`is${i}`, 1, 5, 70000, -3);
    await c.sadd(`sl${i}`, 'x', 'y', 'zz');
    await c.rpush(`l${i}`, 'a', '12', 'bcd', '-5000', 'e'.repeat(70));
    await c.xadd(`s${i}`, '1-1', 'f', 'v', 'g', '1');
    await c.xadd(`s${i}`, '2-1', 'f', 'w', 'g', '2');
    await c.xadd(`s${i}`, '3-1', 'other', 'x');
  }
  await c.xgroup('CREATE', 's0', 'g', '0');
  await c.call('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', '1', 'STREAMS', 's0', '>');
  await c.set('plain', 'value');
  await c.call('SAVE');
  bases.push(readFileSync(path.join(src.dir, 'dump.rdb')));
  if (HAVE_FIXTURES) for (const f of CORPUS) bases.push(readFileSync(path.join(FIXTURES, 'rdb', f)));
  for (const k of cases()) bases.push(k.file);
});
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
});

describe('restore mutation campaign into 7.0 (sanitize-dump-payload no)', () => {
  it(`${N} damaged files restored in-process: target alive after each, every failure typed`, async () => {
    expect(N).toBeGreaterThanOrEqual(1000);
    const r = rng(SEED);
    const file = path.join(os.tmpdir(), `replicant-mutation-${process.pid}.rdb`);
    const counts: Record<string, number> = {};
    const started = Date.now();
    for (let i = 0; i < N; i++) {
      const input = mutate(bases[i % bases.length]!, r);
      writeFileSync(file, input);
      await dst.client.flushall();
      const res = await restoreInProcess(file);
      const where = `seed ${SEED} iteration ${i} (base ${i % bases.length}; input kept at ${file})`;
      expect(dst.proc.exitCode, `target died: ${where}\n${res.text}`).toBeNull();
      expect(await dst.client.ping(), where).toBe('PONG');
      if (res.exit !== 0) {
        expect(res.code, `${where}: untyped failure\n${res.text}`).not.toBeNull();
        expect(res.code, `${where}\n${res.text}`).not.toBe('ERR_INTERNAL');
      }
      if (process.env.RESTORE_MUTATION_SHOW === res.code) console.log(where, res.text);
      const outcome = res.exit === 0 ? 'ok' : res.code!;
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
    console.log(`restore mutation: ${N} files in ${Date.now() - started} ms`, counts);
    // The damage reached the deep validation and the CRC pass, and some files still restored.
    expect(counts.ERR_RDB_CORRUPT).toBeGreaterThan(N / 10);
    expect(counts.ERR_RDB_CHECKSUM).toBeGreaterThan(0);
    expect(counts.ok).toBeGreaterThan(0);
  }, 600_000);
});
