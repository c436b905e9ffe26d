/**
 * Checkpoint and resume (issue #6, design §6). Two layers:
 *
 * 1. Exactly-once (writer.ts, sink.ts, target-key.ts, resume.ts) — the design to wire:
 *    - The checkpoint `(replid, offset, db)` lives in a key on the target (`replicant:checkpoint`, in
 *      a fixed target db), written by {@link CheckpointWriter} inside the same `MULTI … EXEC` as the
 *      stream commands it covers. Atomic on the target, so after a crash, kill -9, or a lost target
 *      connection the key says exactly which source writes were applied — none twice, none lost.
 *    - Snapshot phase: plain writes (snapshot keys replace, so a repeated copy doubles nothing); the
 *      key says `phase: "snapshot"` from the first snapshot write, and the first stream position once
 *      the whole snapshot is acknowledged.
 *    - Start: {@link decideResume} reads the key (authoritative) and the --state-dir copy (lagging,
 *      refreshed once a second by {@link StateCopyWriter}: it tells a target that lost acknowledged
 *      writes or its key). A stream key → `PSYNC replid offset+1`: +CONTINUE resumes with no full
 *      copy; +FULLRESYNC → a new full copy (marked, then a new stream position).
 *    - Guarantees: every source write up to the key's offset is on the target exactly once; a refused
 *      transaction (OOM, READONLY, MISCONF, NOPERM when queueing) applies nothing and leaves the key.
 *      Not covered: a command that fails at run time inside EXEC (WRONGTYPE on a diverged target)
 *      stops the run but counts as applied; a target that loses data without noticing (no
 *      persistence, failover to a lagging replica) is caught only with the --state-dir copy; source
 *      commands that touch the key's name or SWAPDB its db.
 *    - Cost: 2–4 extra commands per transaction (≤ 512 commands / 256 KiB each) and a copy of each
 *      stream command kept until its EXEC is answered.
 *
 * 2. The clean-stop file (below; what `replicant sync` uses until the writer is wired): written
 *    `clean: false` when a run starts writing and `clean: true` with the acknowledged resume point
 *    after a clean stop; after a crash the next start refuses to guess (ERR_CHECKPOINT_UNCLEAN).
 *
 * Files are written atomically (temp file + rename), so a crash mid-write leaves the previous version.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ReplicantError } from '../errors.js';

export const CHECKPOINT_FILE = 'replicant-checkpoint.json';

export interface Checkpoint {
  version: 1;
  /** host:port of the source and target this migration runs between. */
  source: string;
  target: string;
  /** --dbs / --db-map as given (null when absent). */
  dbs: readonly number[] | null;
  dbMap: readonly (readonly [number, number])[] | null;
  /** True only after a clean stop; then replid/offset/db are the resume point. */
  clean: boolean;
  replid: string | null;
  offset: number | null;
  db: number | null;
  writtenAt: string;
}

export type CheckpointIdentity = Pick<Checkpoint, 'source' | 'target' | 'dbs' | 'dbMap'>;

export function checkpointPath(stateDir: string): string {
  return path.join(stateDir, CHECKPOINT_FILE);
}

export function readCheckpoint(stateDir: string): Checkpoint | null {
  const file = checkpointPath(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ReplicantError('ERR_CHECKPOINT', `cannot read ${file}: ${(err as Error).message}`, {
      hint: 'check the permissions of --state-dir',
    });
  }
  try {
    const c = JSON.parse(text) as Checkpoint;
    if (c.version !== 1 || typeof c.clean !== 'boolean') throw new Error('unknown layout');
    return c;
  } catch (err) {
    throw new ReplicantError(
      'ERR_CHECKPOINT',
      `${file} is not a checkpoint this version reads (${(err as Error).message})`,
      {
        hint: 'remove the file and restart with --flush-target for a full copy',
      },
    );
  }
}

export function writeCheckpoint(stateDir: string, c: Omit<Checkpoint, 'version' | 'writtenAt'>): void {
  mkdirSync(stateDir, { recursive: true });
  const file = checkpointPath(stateDir);
  const tmp = `${file}.tmp`;
  writeFileSync(
    tmp,
    `${JSON.stringify({ version: 1, ...c, writtenAt: new Date().toISOString() }, null, 2)}\n`,
  );
  renameSync(tmp, file);
}

export function removeCheckpoint(stateDir: string): void {
  rmSync(checkpointPath(stateDir), { force: true });
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * What to do with the checkpoint found at start: null (none, or --flush-target discards it), or the
 * resume point. Throws when it cannot be used safely.
 */
export function resumePoint(
  c: Checkpoint | null,
  now: CheckpointIdentity,
  flushTarget: boolean,
): { replid: string; offset: number; db: number } | null {
  if (c === null || flushTarget) return null;
  for (const k of ['source', 'target', 'dbs', 'dbMap'] as const) {
    if (!same(c[k], now[k]))
      throw new ReplicantError(
        'ERR_CHECKPOINT_MISMATCH',
        `the checkpoint in --state-dir was made with ${k} ${JSON.stringify(c[k])}, this run has ${JSON.stringify(now[k])}`,
        {
          hint: 'use the same flags as the run that made it, another --state-dir for another migration, or --flush-target to start this one over',
        },
      );
  }
  if (!c.clean || c.replid === null || c.offset === null)
    throw new ReplicantError(
      'ERR_CHECKPOINT_UNCLEAN',
      `the previous run with this --state-dir did not stop cleanly (started ${c.writtenAt}): which of its writes reached the target is unknown`,
      {
        hint: 'restart with --flush-target: the target DBs this migration writes to are emptied and copied again',
      },
    );
  return { replid: c.replid, offset: c.offset, db: c.db ?? 0 };
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
  decideResume,
  type ResumeDecision,
  readStateCopy,
  type StateCopy,
  StateCopyWriter,
} from './resume.js';
