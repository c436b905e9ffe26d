/**
 * The RESTORE fast path (design §3): when the target will accept a key's raw payload, and the RESTORE
 * command for it. The size check happens at `keyEnd` (bytes are known only then); everything else is
 * decided at `keyStart` so a key that can't be restored never has its raw bytes buffered.
 */
import type { CommandArg } from '../resp/index.js';
import type { KeyMeta } from '../records.js';
import type { TargetCaps } from './types.js';

/**
 * The first Redis-family RDB version that knows each object type (docs/protocol.md §2.4). A payload
 * of version ≤ target max may still carry a newer type (Dragonfly writes v9 payloads with listpack
 * types), so both checks are made.
 */
function redisTypeMinVersion(t: number): number {
  if (t <= 4) return 1;
  if (t === 5 || t === 7) return 8;
  if (t >= 9 && t <= 13) return t === 13 ? 4 : 2;
  if (t === 14) return 7;
  if (t === 15) return 9;
  if (t >= 16 && t <= 19) return 10;
  if (t === 20 || t === 21) return 11;
  if (t >= 22 && t <= 25) return 12;
  if (t === 26) return 13;
  if (t === 27 || t === 28) return 14;
  if (t >= 29 && t <= 32) return 15;
  return Number.POSITIVE_INFINITY; // 6 (module pre-GA, refused by every Redis), 8, 33+ (vendor types)
}

/** Why a key cannot go through RESTORE, or null when it can (size aside). */
export function restoreRefusal(meta: KeyMeta, caps: TargetCaps): string | null {
  if (meta.family !== caps.family) {
    // Valkey ≥ 80 payloads only load into Valkey 9+; a Redis-family payload of version ≤ 11 loads into Valkey.
    if (meta.family === 'valkey' || meta.rdbVersion > 11) return 'family';
  }
  if (meta.rdbVersion > caps.maxRdbVersion) return 'version';
  // Zipmap hashes (type 9, RDB ≤ 3): Redis 7.0's RESTORE rejects some that its RDB loader accepts
  // (a zipmap whose entry count is the 254 "count it yourself" marker: "Bad data format"). Rare and
  // small: always rewritten.
  if (meta.rdbType === 9) return 'legacy-encoding';
  if (meta.family === 'valkey') {
    // Valkey 80: types ≤ 21 as in RDB 11, 22 = HASH_2 (docs/protocol.md §2.4).
    if (meta.rdbType > 22 || meta.rdbType === 6) return 'type';
  } else if (
    redisTypeMinVersion(meta.rdbType) > Math.min(caps.maxRdbVersion, caps.family === 'valkey' ? 11 : 99)
  ) {
    return 'type';
  }
  return null;
}

/** Encoded payload size: type byte + body + 2-byte version + 8-byte CRC. */
export function payloadSize(bodyBytes: number): number {
  return bodyBytes + 11;
}

/**
 * `RESTORE key ttl payload [ABSTTL] [REPLACE] [IDLETIME s | FREQ f]`. TTL is absolute (ABSTTL, 5.0+);
 * older targets get the remaining time, computed as late as possible.
 */
export function restoreArgv(
  meta: KeyMeta,
  payload: Buffer,
  replace: boolean,
  caps: TargetCaps,
  now: number,
): CommandArg[] {
  const abs = caps.versionNum >= 50000;
  let ttl = 0;
  if (meta.expireAtMs !== null) ttl = abs ? meta.expireAtMs : Math.max(1, meta.expireAtMs - now);
  const argv: CommandArg[] = ['RESTORE', meta.key, ttl, payload];
  if (abs && meta.expireAtMs !== null) argv.push('ABSTTL');
  if (replace) argv.push('REPLACE');
  // IDLETIME and FREQ are mutually exclusive (5.0+); a key carries at most one of them in an RDB.
  if (abs && meta.idleSeconds !== null) argv.push('IDLETIME', meta.idleSeconds);
  else if (abs && meta.freq !== null) argv.push('FREQ', meta.freq);
  return argv;
}
