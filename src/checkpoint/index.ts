/**
 * Checkpoint and resume (issue #6, design §6) — what `replicant sync --state-dir DIR` runs:
 *
 *   ReplicaSource ─▶ CheckpointSink ─▶ (translate, count) ─▶ StandaloneSink ─▶ CheckpointWriter ─▶ target
 *
 * - The checkpoint `(replid, offset, db)` lives in a key on the target (`replicant:checkpoint`, target
 *   db 0), written by {@link CheckpointWriter} inside the same `MULTI … EXEC` as the stream commands it
 *   covers. Atomic on the target, so after a crash, kill -9 or a lost target connection the key says
 *   exactly which source writes were applied — none twice, none lost.
 * - Snapshot phase: plain writes (snapshot keys replace, so a repeated copy doubles nothing); the key
 *   says `phase: "snapshot"` from the first snapshot write, and the first stream position once the
 *   whole snapshot is acknowledged ({@link CheckpointSink}).
 * - Start (src/cli/sync.ts): {@link decideResume} reads the key (authoritative) and the --state-dir
 *   copy (lagging, refreshed at most once a second by {@link StateCopyWriter}: it tells a target that
 *   lost acknowledged writes or its key). A stream key → `PSYNC replid offset+1`: +CONTINUE resumes
 *   with no full copy; +FULLRESYNC (or a snapshot-phase key) → a new full copy. When the key says
 *   `exclusive` (the target DBs held only this migration's data) the DBs are emptied first, the key's
 *   db in one transaction with the snapshot marker, so keys the source deleted meanwhile do not stay.
 * - Guarantees: every source write up to the key's offset is on the target exactly once; a refused
 *   transaction (OOM, READONLY, MISCONF, NOPERM when queueing) applies nothing and leaves the key.
 *   Not covered: a command that fails at run time inside EXEC (WRONGTYPE on a diverged target) stops
 *   the run but counts as applied; a target that loses data without noticing (no persistence,
 *   failover to a lagging replica) is caught only with the --state-dir copy, and only when it lost
 *   more than a second of acknowledged writes; source commands that touch the key's name or SWAPDB
 *   its db; a target lost during the snapshot phase stops the run (the next start copies again). A
 *   source link lost during it starts a new full copy in-process (src/cli/sync.ts), emptied first
 *   when `exclusive`, like a FULLRESYNC after streaming began.
 * - Cost: 3–5 extra commands per transaction (≤ 512 commands / 256 KiB each) and a copy of each
 *   stream command kept until its EXEC is answered (≤ 64 MiB, then backpressure).
 *
 * The --state-dir file is written atomically (temp file + rename), so a crash mid-write leaves the
 * previous version.
 */
import path from 'node:path';

export const CHECKPOINT_FILE = 'replicant-checkpoint.json';

/** What a checkpoint belongs to: host:port of the source and target, --dbs / --db-map as given. */
export interface CheckpointIdentity {
  source: string;
  target: string;
  dbs: readonly number[] | null;
  dbMap: readonly (readonly [number, number])[] | null;
}

/** The --state-dir copy's path; `file` names another copy (one per source shard: src/checkpoint/shards.ts). */
export function checkpointPath(stateDir: string, file: string = CHECKPOINT_FILE): string {
  return path.join(stateDir, file);
}

export { CheckpointSink } from './sink.js';
export {
  type Caller,
  DEFAULT_CHECKPOINT_KEY,
  decodeTargetCheckpoint,
  encodeTargetCheckpoint,
  readTargetCheckpoint,
  type TargetCheckpoint,
} from './target-key.js';
export {
  type CheckpointLog,
  CheckpointWriter,
  type CheckpointWriterOptions,
  type CheckpointWriterStats,
  type TargetLink,
} from './writer.js';
export {
  checkpointLayout,
  emptyShardSlots,
  normalizeRanges,
  SHARD_FILE_PREFIX,
  SHARD_KEY_PREFIX,
  type ShardCheckpoint,
  type ShardCheckpointPlan,
  shardCheckpoint,
  shardTag,
} from './shards.js';
export {
  decideResume,
  type ResumeDecision,
  readStateCopy,
  type StateCopy,
  StateCopyWriter,
} from './resume.js';
