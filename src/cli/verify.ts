/**
 * `replicant verify --source URL --target URL`: compare (src/verify), print counts per DB and kind,
 * write the differing keys as JSON lines, optionally repair. Exit 0 equal, 1 differences remain,
 * 2 error (thrown, formatted by main).
 *
 * Report lines: `{"db","targetDb","key","keyBase64"?,"kind","type","detail","repaired"?}` — `key` is
 * the name as UTF-8 when it is valid UTF-8, else `keyBase64` carries the exact bytes.
 */
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { table } from '../obs/index.js';
import { DIFF_KINDS, type FoundDiff, type VerifyResult, Verifier } from '../verify/index.js';
import type { RunContext } from './main.js';
import { endpointOf } from './target.js';

export async function runVerify(ctx: RunContext): Promise<number> {
  const c = ctx.config;
  const log = ctx.log.child({ component: 'verify' });
  const s = endpointOf(c.source!, c.sourceUser, c.sourcePassword);
  const t = endpointOf(c.target!, c.targetUser, c.targetPassword);
  const opt = (e: typeof s) => ({
    host: e.host,
    port: e.port,
    ...(e.username !== undefined ? { username: e.username } : {}),
    ...(e.password !== undefined ? { password: e.password } : {}),
  });
  const v = new Verifier({
    source: opt(s),
    target: opt(t),
    dbs: c.dbs,
    dbMap: c.dbMap,
    match: c.match,
    sample: c.sample,
    rounds: c.rounds,
    roundDelayMs: c.roundDelay,
    ttlToleranceMs: c.ttlTolerance,
    repair: c.repair,
    deleteExtra: c.deleteExtra,
    signal: ctx.signal,
    log,
  });
  const r = await v.run();
  let reportPath: string | null = null;
  if (r.differences.length > 0 || c.report !== null) {
    reportPath = c.report ?? path.resolve(`replicant-verify-${stamp()}.jsonl`);
    await writeReport(reportPath, r.differences);
  }
  if (c.json) process.stdout.write(`${JSON.stringify(jsonOf(r, reportPath))}\n`);
  else process.stdout.write(humanOf(r, reportPath));
  return r.differences.length > 0 ? 1 : 0;
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

export function diffLine(d: FoundDiff): Record<string, unknown> {
  const utf8 = d.key.toString('utf8');
  const exact = Buffer.from(utf8, 'utf8').equals(d.key);
  return {
    db: d.db,
    targetDb: d.targetDb,
    ...(exact ? { key: utf8 } : { keyBase64: d.key.toString('base64') }),
    kind: d.kind,
    type: d.type,
    detail: d.detail,
    ...(d.repaired !== undefined ? { repaired: d.repaired } : {}),
  };
}

async function writeReport(file: string, diffs: FoundDiff[]): Promise<void> {
  const out = createWriteStream(file);
  for (const d of diffs) {
    if (!out.write(`${JSON.stringify(diffLine(d))}\n`))
      await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

function jsonOf(r: VerifyResult, report: string | null): Record<string, unknown> {
  const { differences, ...rest } = r;
  return { ...rest, equal: differences.length === 0, differencesCount: differences.length, report };
}

function humanOf(r: VerifyResult, report: string | null): string {
  const lines: string[] = [];
  lines.push(`verify: ${r.source} → ${r.target}${r.sampled ? ' (sample)' : ''}`);
  const rows: string[][] = [['db', 'source keys', 'target keys', 'checked', ...DIFF_KINDS]];
  for (const d of r.dbs)
    rows.push([
      `${d.db}→${d.targetDb}`,
      String(d.sourceKeys),
      String(d.targetKeys),
      String(d.checked),
      // After --repair: what remains, and what the repair fixed (otherwise a repaired DB shows all 0s).
      ...DIFF_KINDS.map((k) =>
        d.repaired?.[k] ? `${d.diffs[k]} (${d.repaired[k]} repaired)` : String(d.diffs[k]),
      ),
    ]);
  lines.push(table(rows));
  lines.push(`rounds: ${r.rounds.length} (differing keys after each: ${r.rounds.join(', ')})`);
  if (r.inFlight > 0)
    lines.push(`in flight: ${r.inFlight} keys differed at first and were equal on re-check`);
  if (r.repair) {
    const p = r.repair;
    lines.push(
      `repair: ${p.fixed} keys rewritten from the source, ${p.deleted} extra keys deleted, ${p.leftExtra} extra keys left (use --delete-extra), ${p.remaining} still differ`,
    );
  }
  for (const n of r.explained.notes) lines.push(`note: ${n}`);
  const total = r.differences.length;
  if (report) lines.push(`report: ${report}`);
  lines.push(
    total === 0
      ? `result: equal (${r.dbs.reduce((a, d) => a + d.checked, 0)} keys checked in ${(r.durationMs / 1000).toFixed(1)} s)`
      : `result: ${total} keys differ (${DIFF_KINDS.filter((k) => r.totals[k] > 0)
          .map((k) => `${k} ${r.totals[k]}`)
          .join(', ')})`,
  );
  return `${lines.join('\n')}\n`;
}
