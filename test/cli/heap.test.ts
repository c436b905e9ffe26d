/**
 * src/cli/heap.ts: the CLI holds V8's new space at its cap under a high allocation rate, and leaves
 * it alone when turned off (REPLICANT_YOUNG_GEN_CAP_MB=0) — the off run shows the check can fail.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBuilt, REPO } from '../helpers/cli.js';

const HEAP = path.join(REPO, 'dist/cli/heap.js');

/**
 * Largest new-space size seen (MiB) while a child allocates short-lived objects for ~1.5 s, in turns of
 * ~0.3 MB (a data-path-like turn of the event loop: the cap is checked between turns, see CHECK_MS).
 */
function peakNewSpaceMb(env: Record<string, string>): number {
  const code = `import v8 from 'node:v8';
const { capYoungGeneration } = await import(${JSON.stringify(HEAP)});
capYoungGeneration();
let peak = 0, keep = [];
const end = Date.now() + 1500;
while (Date.now() < end) {
  for (let i = 0; i < 2000; i++) keep.push({ i, s: 'x' + i, b: Buffer.allocUnsafe(64) });
  if (keep.length > 200000) keep = []; // survivors for a while, then garbage: what makes V8 grow it
  const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  peak = Math.max(peak, ns.space_size);
  await new Promise((r) => setImmediate(r)); // the cap's timer runs between batches
}
process.stdout.write(String(peak / 1048576));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout);
}

describe.skipIf(!cliBuilt())('young generation cap', () => {
  it('holds the new space at the cap; off, V8 grows it past', () => {
    const off = peakNewSpaceMb({ REPLICANT_YOUNG_GEN_CAP_MB: '0' });
    const capped = peakNewSpaceMb({ REPLICANT_YOUNG_GEN_CAP_MB: '4' });
    expect(off).toBeGreaterThan(4);
    expect(capped).toBeLessThanOrEqual(4);
  }, 30_000);
});
