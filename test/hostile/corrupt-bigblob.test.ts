/**
 * Issue #14 point 3b: one big compact blob must not take the process's memory. A ~1 GiB compact blob
 * used to be read whole before anything looked at it (2.2–3.3 GB RSS) — now its own size header is
 * checked against the RDB string length from its first bytes, and a compact blob over 64 MiB
 * (maxCompactBytes) is refused with ERR_RDB_TOO_BIG before it is read. A genuine blob just under the
 * limit is validated, decoded and rewritten in chunks. Each runs the CLI's main() in a child that
 * reports its own peak RSS (as test/bigkeys does); the bound is 300 MB for any single value.
 * The 1 GiB files are sparse (one 0xFF at the end): they cost no disk and read at memory speed.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, REPO } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { B, len, str } from '../rdb/build.js';

const MAIN = path.join(REPO, 'dist/cli/main.js');
const RSS_BOUND_MB = 300;
const GiB = 1024 * 1024 * 1024;
let dst: TestServer;
const files: string[] = [];

beforeAll(async () => {
  dst = await startRedis({ 'sanitize-dump-payload': 'no' });
});
afterAll(async () => {
  await dst?.stop();
  for (const f of files) rmSync(f, { force: true });
});

/** Run main() in a child that prints its peak RSS at exit. */
function restoreWithRss(args: string[]): Promise<{ code: number; stderr: string; rssMb: number }> {
  const code = `const { main } = await import(${JSON.stringify(MAIN)});
const rc = await main(${JSON.stringify(args)});
process.stderr.write('\\nPEAK_RSS_KB ' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = rc;`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (rc) =>
      resolve({
        code: rc ?? -1,
        stderr: err,
        rssMb: Math.round(Number(/PEAK_RSS_KB (\d+)/.exec(err)?.[1] ?? 0) / 1024),
      }),
    );
  });
}

/**
 * A file holding key "big" (type 16, hash listpack) whose RDB string is `blobLen` bytes starting
 * with `blobHead`, the rest of the blob a hole; then EOF and a zero CRC (= "no checksum", so the
 * first pass does not hash the GiB: the test is about the decoder).
 */
function sparseFile(name: string, blobLen: number, blobHead: Buffer): string {
  const f = path.join(os.tmpdir(), `replicant-bigblob-${process.pid}-${name}.rdb`);
  files.push(f);
  const head = B('REDIS0010', [0xfe, 0], [16], str('big'), len(blobLen, 32), blobHead);
  const fd = openSync(f, 'w');
  writeSync(fd, head, 0, head.length, 0);
  writeSync(fd, B([0xff], Buffer.alloc(8)), 0, 9, head.length + blobLen - blobHead.length);
  closeSync(fd);
  return f;
}

const args = (f: string) => [
  'restore',
  '--rdb',
  f,
  '--target',
  dst.url,
  '--no-progress',
  '--on-conflict',
  'overwrite',
];

describe.skipIf(!cliBuilt())('a big compact blob: bounded memory', () => {
  it('~1 GiB blob whose header disagrees: ERR_RDB_CORRUPT at once, peak RSS far under the bound', async () => {
    const h = Buffer.alloc(6);
    h.writeUInt32LE(100, 0); // the header says 100 bytes; the RDB string says 1 GiB - 64
    const r = await restoreWithRss(args(sparseFile('mismatch', GiB - 64, h)));
    console.log(`1 GiB blob, header mismatch: peak RSS ${r.rssMb} MB`);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /error \[ERR_RDB_CORRUPT\]: corrupt RDB: hash listpack: header declares 100 bytes, the RDB string has 1073741760 — in key "big" of db 0/,
    );
    expect(r.rssMb).toBeGreaterThan(0);
    expect(r.rssMb).toBeLessThan(RSS_BOUND_MB);
    expect(await dst.client.exists('big')).toBe(0);
  }, 120_000);

  it('~1 GiB blob with a consistent header: ERR_RDB_TOO_BIG before it is read', async () => {
    const h = Buffer.alloc(6);
    h.writeUInt32LE(GiB - 64, 0);
    h.writeUInt16LE(65535, 4);
    const r = await restoreWithRss(args(sparseFile('toobig', GiB - 64, h)));
    console.log(`1 GiB blob, consistent header: peak RSS ${r.rssMb} MB`);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /error \[ERR_RDB_TOO_BIG\]: hash listpack of 1073741760 bytes is over the 67108864-byte limit/,
    );
    expect(r.stderr).toMatch(/in key "big" of db 0/);
    expect(r.stderr).toMatch(/^hint: .*DEBUG RELOAD/m);
    expect(r.rssMb).toBeLessThan(RSS_BOUND_MB);
    expect(await dst.client.exists('big')).toBe(0);
  }, 120_000);

  it('a genuine 60 MiB hash listpack (under the limit): validated, rewritten whole, peak RSS under the bound', async () => {
    // 15,000 fields of 4,000 bytes: entries "f<i>" (6-bit strings) and 12-bit strings, Redis's backlens.
    const pairs = 15_000;
    const VAL = 4000;
    const fieldOf = (i: number) => Buffer.from(`f${i}`);
    let size = 6 + 1;
    for (let i = 0; i < pairs; i++) size += 1 + fieldOf(i).length + 1 + (2 + VAL) + 2;
    const lp = Buffer.alloc(size);
    lp.writeUInt32LE(size, 0);
    lp.writeUInt16LE(pairs * 2, 4);
    let p = 6;
    for (let i = 0; i < pairs; i++) {
      const f = fieldOf(i);
      lp[p++] = 0x80 | f.length;
      f.copy(lp, p);
      p += f.length;
      lp[p++] = 1 + f.length;
      lp[p++] = 0xe0 | (VAL >> 8);
      lp[p++] = VAL & 0xff;
      lp.fill(97 + (i % 26), p, p + VAL);
      p += VAL;
      const l = 2 + VAL; // backlen of 4002: two bytes, high group first
      lp[p++] = l >> 7;
      lp[p++] = (l & 127) | 128;
    }
    lp[p++] = 0xff;
    expect(p).toBe(size);
    const f = path.join(os.tmpdir(), `replicant-bigblob-${process.pid}-genuine.rdb`);
    files.push(f);
    const body = B('REDIS0010', [0xfe, 0], [16], str('big'), len(size, 32), lp, [0xff], Buffer.alloc(8));
    const fd = openSync(f, 'w');
    writeSync(fd, body);
    closeSync(fd);
    const r = await restoreWithRss(args(f));
    console.log(`genuine ${(size / 1048576).toFixed(1)} MiB hash listpack: peak RSS ${r.rssMb} MB`);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(await dst.client.hlen('big')).toBe(pairs);
    expect(await dst.client.hget('big', 'f14999')).toBe(String.fromCharCode(97 + (14999 % 26)).repeat(VAL));
    expect(r.rssMb).toBeLessThan(RSS_BOUND_MB);
  }, 300_000);
});
