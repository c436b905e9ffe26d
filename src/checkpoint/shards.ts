/**
 * Checkpoints of a cluster source into a standalone target (design §6, src/cli/sync-cluster.ts): one
 * checkpoint per source shard, each written by its own {@link CheckpointWriter} on that shard's own
 * target connection, in the same transactions as the shard's stream writes.
 *
 * - Identity: a shard is its slot ranges (sorted, adjacent ones merged): `0-5460`, `0-99,200-5460`.
 *   A failover changes a shard's master (and its replid) but not its slots; the key still holds the
 *   old replid and offset, which the promoted replica accepts by PSYNC (psync2 keeps the history).
 * - Names: key `replicant:checkpoint:<tag>` in target db 0, --state-dir copy
 *   `replicant-checkpoint-shard-<tag>.json`, where the tag is the ranges (or, past 64 characters,
 *   `first-last~<sha1 prefix>`).
 * - Layout check ({@link checkpointLayout}): a key or copy whose tag is no shard of the source now
 *   means the slots moved between runs (resharding, a shard added or removed). Its offsets belong to
 *   a stream that no longer carries those slots, so nothing is guessed: the start stops with
 *   ERR_CHECKPOINT_LAYOUT, and --flush-target starts the migration over.
 * - A shard that must copy again (FULLRESYNC, a snapshot-phase key, a link lost inside its copy) must
 *   not flush the target DB (the other shards' keys are there): {@link emptyShardSlots} first marks
 *   the shard's key "full copy in progress", then UNLINKs the target keys whose slot is the shard's.
 */
import { createHash } from 'node:crypto';
import { ReplicantError } from '../errors.js';
import { keySlot } from '../net/cluster.js';
import { type Caller, DEFAULT_CHECKPOINT_KEY } from './target-key.js';

/** Prefix of every shard checkpoint key (a SCAN MATCH pattern with `*`: no glob characters in it). */
export const SHARD_KEY_PREFIX = `${DEFAULT_CHECKPOINT_KEY}:`;
/** Prefix and suffix of a shard's --state-dir copy. */
export const SHARD_FILE_PREFIX = 'replicant-checkpoint-shard-';
const SHARD_FILE_SUFFIX = '.json';

export interface ShardCheckpoint {
  /** The shard's slot ranges, sorted and merged. */
  ranges: [number, number][];
  tag: string;
  /** Checkpoint key on the target (db 0). */
  key: string;
  /** File name of the copy in --state-dir. */
  file: string;
}

/** Sorted, adjacent or overlapping ranges merged: the same slots always give the same ranges. */
export function normalizeRanges(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = ranges.map(([a, b]) => [a, b] as [number, number]).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

/** The stable name of a shard: its ranges (`0-5460,10923-16383`), hashed past 64 characters. */
export function shardTag(ranges: readonly (readonly [number, number])[]): string {
  const n = normalizeRanges(ranges);
  const text = n.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
  if (text.length <= 64) return text;
  const h = createHash('sha1').update(text).digest('hex').slice(0, 12);
  return `${n[0]![0]}-${n[n.length - 1]![1]}~${h}`;
}

export function shardCheckpoint(ranges: readonly (readonly [number, number])[]): ShardCheckpoint {
  const tag = shardTag(ranges);
  return {
    ranges: normalizeRanges(ranges),
    tag,
    key: `${SHARD_KEY_PREFIX}${tag}`,
    file: `${SHARD_FILE_PREFIX}${tag}${SHARD_FILE_SUFFIX}`,
  };
}

export interface ShardCheckpointPlan {
  /** --state-dir files of shards that are gone (only with --flush-target: to be removed). */
  staleFiles: string[];
}

/**
 * Do the checkpoints found (key names on the target, file names in --state-dir; other names are
 * ignored) belong to the shards the source has now? One that names slots no shard has as a whole
 * throws ERR_CHECKPOINT_LAYOUT, unless --flush-target (everything is copied again: the stale files
 * are returned for removal). A shard without a checkpoint is fine: it had not begun its copy.
 */
export function checkpointLayout(
  shards: readonly ShardCheckpoint[],
  keys: readonly string[],
  files: readonly string[],
  flushTarget: boolean,
): ShardCheckpointPlan {
  const now = new Set(shards.map((s) => s.tag));
  const staleKeys = keys
    .filter((k) => k.startsWith(SHARD_KEY_PREFIX))
    .map((k) => k.slice(SHARD_KEY_PREFIX.length))
    .filter((t) => !now.has(t));
  const staleFiles = files.filter(
    (f) =>
      f.startsWith(SHARD_FILE_PREFIX) &&
      f.endsWith(SHARD_FILE_SUFFIX) &&
      !now.has(f.slice(SHARD_FILE_PREFIX.length, -SHARD_FILE_SUFFIX.length)),
  );
  if (flushTarget || (staleKeys.length === 0 && staleFiles.length === 0)) return { staleFiles };
  const old = [
    ...new Set([
      ...staleKeys,
      ...staleFiles.map((f) => f.slice(SHARD_FILE_PREFIX.length, -SHARD_FILE_SUFFIX.length)),
    ]),
  ].sort();
  throw new ReplicantError(
    'ERR_CHECKPOINT_LAYOUT',
    `the source cluster's slot layout changed since the checkpoints were written: they are for shards with slots ${old.join(' | ')}, the source's shards now have slots ${[...now].join(' | ')} (resharding, or a shard added or removed); a shard's checkpoint cannot be matched to a shard any more`,
    {
      hint: 'restart with --flush-target (the target DB is emptied and every shard copied again), or use another --state-dir and an empty target for a new migration',
    },
  );
}

/** Slot → 1 when it is one of `ranges`. */
function slotMask(ranges: readonly (readonly [number, number])[]): Uint8Array {
  const m = new Uint8Array(16384);
  for (const [a, b] of ranges) m.fill(1, a, b + 1);
  return m;
}

const PREFIX_BYTES = Buffer.from(SHARD_KEY_PREFIX);

/**
 * Before a new full copy of one shard over this migration's own earlier writes: set the shard's key
 * to `marker` (its "full copy in progress" value) in `keyDb`, then, in each of `dbs`, SCAN the target
 * and UNLINK (batches of ≤ `batch`) every key whose slot is one of the shard's ranges — the shard
 * checkpoint keys excepted. Marker first: a crash in between leaves a snapshot-phase key, so the
 * next start empties again. Other shards' keys are never touched (a key has one slot). Leaves the
 * connection in the last db of `dbs` (use a side connection). Returns how many keys were removed.
 */
export async function emptyShardSlots(
  call: Caller,
  o: {
    ranges: readonly (readonly [number, number])[];
    dbs: readonly number[];
    keyDb: number;
    key: string;
    marker: string;
    batch?: number;
  },
): Promise<number> {
  const mask = slotMask(o.ranges);
  const batch = o.batch ?? 500;
  await call(['SELECT', o.keyDb]);
  await call(['SET', o.key, o.marker]);
  let removed = 0;
  for (const db of o.dbs) {
    await call(['SELECT', db]);
    let cursor = '0';
    let pending: Buffer[] = [];
    const unlink = async () => {
      if (pending.length === 0) return;
      removed += Number(await call(['UNLINK', ...pending]));
      pending = [];
    };
    do {
      const r = (await call(['SCAN', cursor, 'COUNT', 1000])) as [Buffer | string, Buffer[]];
      cursor = String(r[0]);
      for (const k of r[1]) {
        const key = Buffer.isBuffer(k) ? k : Buffer.from(String(k));
        if (mask[keySlot(key)] !== 1) continue;
        if (key.length > PREFIX_BYTES.length && key.subarray(0, PREFIX_BYTES.length).equals(PREFIX_BYTES))
          continue;
        pending.push(key);
        if (pending.length >= batch) await unlink();
      }
    } while (cursor !== '0');
    await unlink();
  }
  return removed;
}
