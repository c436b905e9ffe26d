// Decode benchmark: a ≥ 200 MB mixed RDB (bench/gen-rdb.mjs, cached) fed in 1 MiB chunks to the
// streaming decoder with a null visitor: fully decoded, raw-only (decodeValues: false), and auto mode
// with nothing wanted and the default rawOnlyMaxBytes (the RESTORE fast path of a real sink).
// Run after `npm run build`. Prints one JSON line.
import { createReadStream, statSync } from 'node:fs';
import { RdbDecoder } from '../dist/rdb/index.js';
import { ensureRdb } from './gen-rdb.mjs';

const file = process.argv[2] ?? (await ensureRdb());
const bytes = statSync(file).size;

let keys = 0;
const nullVisitor = {
  keyStart() {
    keys++;
  },
  keyRaw() {},
  keyElements() {},
  keyEnd() {},
  functionLibrary() {},
};

async function decode(opts, after) {
  const d = new RdbDecoder(nullVisitor, { expectedSize: bytes, ...opts });
  const t0 = process.hrtime.bigint();
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) d.write(chunk);
  d.end();
  after?.(d);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// Full decode (every element as ValueChunks), raw-only, then auto with nothing wanted (RESTORE fast path).
const seconds = await decode({});
const total = keys;
const rawSeconds = await decode({ decodeValues: false });
let upgraded = 0;
const autoSeconds = await decode({ wantElements: () => false }, (d) => {
  upgraded = d.keysUpgraded;
});
keys = total;

console.log(
  JSON.stringify({
    bench: 'rdb-decode',
    bytes,
    keys,
    seconds: Number(seconds.toFixed(3)),
    mb_per_s: Number((bytes / 1e6 / seconds).toFixed(1)),
    keys_per_s: Math.round(keys / seconds),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    raw_only_seconds: Number(rawSeconds.toFixed(3)),
    raw_only_mb_per_s: Number((bytes / 1e6 / rawSeconds).toFixed(1)),
    auto_seconds: Number(autoSeconds.toFixed(3)),
    auto_mb_per_s: Number((bytes / 1e6 / autoSeconds).toFixed(1)),
    auto_keys_upgraded: upgraded,
  }),
);
