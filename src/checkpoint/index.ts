/**
 * The resume checkpoint of a live sync, a small JSON file in --state-dir.
 *
 * What it guarantees today (the clean-stop subset of issue #6):
 * - Written `clean: false` as soon as a run starts writing, and `clean: true` with the resume point
 *   only after a clean stop (SIGTERM/SIGINT): the sink flushed, so every write up to `offset` was
 *   acknowledged by the target and none after it was sent. The next start then asks the source for
 *   `PSYNC replid offset+1`; +CONTINUE resumes with no full copy and no write applied twice.
 * - After a crash or kill -9 the file still says `clean: false`: which writes reached the target is
 *   unknown, so the next start refuses to guess (ERR_CHECKPOINT_UNCLEAN) and asks for --flush-target,
 *   which empties the target DBs and copies again. (Exactly-once across a crash needs the position
 *   written on the target with the data; not built yet.)
 * - The checkpoint names the source, the target and the DB selection/mapping it was made with; a start
 *   with other ones is refused (ERR_CHECKPOINT_MISMATCH) rather than resumed into the wrong place.
 *
 * Written atomically (temp file + rename), so a crash mid-write leaves the previous version.
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
