/**
 * Where a start continues from, given the checkpoint key on the target (authoritative: it is written
 * in the same transaction as the data it covers) and the copy in --state-dir (a lagging copy, kept to
 * notice a target that lost what it had acknowledged, and to say which migration a state dir is for).
 *
 * | target key        | state-dir copy            | decision                                        |
 * |-------------------|---------------------------|-------------------------------------------------|
 * | stream (replid,…) | none, or ≤ the key        | PSYNC replid offset+1 (FULLRESYNC → copy again)  |
 * | stream            | same run, seq > the key   | ERR_CHECKPOINT_TARGET_BEHIND (target lost writes) |
 * | snapshot          | any                       | a new full copy over our own partial one         |
 * | none              | present                   | ERR_CHECKPOINT_MISSING_ON_TARGET                 |
 * | none              | none                      | a fresh start (the conflict check applies)       |
 *
 * `ownTarget` says the target's keys are this migration's own (a key was found): the default
 * "report" conflict check must not refuse them. --flush-target discards both and starts over.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ReplicantError } from '../errors.js';
import { type CheckpointIdentity, checkpointPath } from './index.js';
import type { TargetCheckpoint } from './target-key.js';

export interface StateCopy {
  version: 2;
  source: string;
  target: string;
  dbs: readonly number[] | null;
  dbMap: readonly (readonly [number, number])[] | null;
  key: string;
  keyDb: number;
  /** The last checkpoint the target acknowledged when this copy was written. */
  checkpoint: TargetCheckpoint;
  writtenAt: string;
}

export interface ResumeDecision {
  resume: { replid: string; offset: number; db: number } | null;
  /** The target holds this migration's earlier writes: skip the "report" conflict check. */
  ownTarget: boolean;
  /** One line for the log. */
  reason: string;
}

/**
 * The --state-dir copy (null when absent); `name`: another file than the standalone one (a shard's).
 * A file of the clean-stop layout (version 1) is refused.
 */
export function readStateCopy(stateDir: string, name?: string): StateCopy | null {
  const file = checkpointPath(stateDir, name);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ReplicantError('ERR_CHECKPOINT', `cannot read ${file}: ${(err as Error).message}`, {
      hint: 'check the permissions of --state-dir',
    });
  }
  let c: StateCopy | null = null;
  try {
    c = JSON.parse(text) as StateCopy;
  } catch {}
  if (c === null || c.version !== 2 || typeof c.checkpoint?.seq !== 'number') {
    throw new ReplicantError('ERR_CHECKPOINT', `${file} is not a checkpoint this version reads`, {
      hint: 'remove the file and restart with --flush-target for a full copy',
    });
  }
  return c;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export function decideResume(
  key: TargetCheckpoint | null,
  copy: StateCopy | null,
  now: CheckpointIdentity,
  flushTarget: boolean,
): ResumeDecision {
  if (flushTarget) return { resume: null, ownTarget: false, reason: '--flush-target: starting over' };
  if (copy !== null) {
    // The source may change (a promoted replica, a new --source): the replid decides, not the address.
    for (const k of ['target', 'dbs', 'dbMap'] as const) {
      if (!same(copy[k], now[k]))
        throw new ReplicantError(
          'ERR_CHECKPOINT_MISMATCH',
          `the checkpoint in --state-dir was made with ${k} ${JSON.stringify(copy[k])}, this run has ${JSON.stringify(now[k])}`,
          {
            hint: 'use the same flags as the run that made it, another --state-dir for another migration, or --flush-target to start this one over',
          },
        );
    }
  }
  if (key === null) {
    if (copy === null) return { resume: null, ownTarget: false, reason: 'no checkpoint: a fresh start' };
    throw new ReplicantError(
      'ERR_CHECKPOINT_MISSING_ON_TARGET',
      `--state-dir has a checkpoint (offset ${copy.checkpoint.offset}, ${copy.writtenAt}) but the target has no checkpoint key "${copy.key}" in db ${copy.keyDb}: the target was emptied, replaced or restarted without persistence`,
      {
        hint: 'restart with --flush-target for a full copy (or remove the state dir if the target is meant to be fresh)',
      },
    );
  }
  if (copy !== null && copy.checkpoint.run === key.run && copy.checkpoint.seq > key.seq) {
    throw new ReplicantError(
      'ERR_CHECKPOINT_TARGET_BEHIND',
      `the target's checkpoint (transaction ${key.seq}) is older than one it had acknowledged (${copy.checkpoint.seq}): it lost acknowledged writes (a restart without persistence, or a failover to a lagging replica)`,
      { hint: 'restart with --flush-target for a full copy; resuming would leave the lost writes out' },
    );
  }
  if (key.phase === 'snapshot' || key.replid === null || key.offset === null) {
    return {
      resume: null,
      ownTarget: true,
      reason: 'the previous full copy did not finish: copying again over it (keys replace what they find)',
    };
  }
  const moved = key.source !== now.source ? ` (it was made with source ${key.source})` : '';
  return {
    resume: { replid: key.replid, offset: key.offset, db: key.db ?? 0 },
    ownTarget: true,
    reason: `resuming from the checkpoint on the target${moved}`,
  };
}

/**
 * The --state-dir copy, refreshed at most every `everyMs` from the writer's acknowledged checkpoints
 * (and at `flush()`), atomically (temp file + rename).
 */
export class StateCopyWriter {
  private pending: TargetCheckpoint | null = null;
  private last = 0;

  constructor(
    private readonly stateDir: string,
    private readonly id: CheckpointIdentity & { key: string; keyDb: number },
    private readonly everyMs = 1000,
    /** File name in the state dir (default: the standalone run's). */
    private readonly file?: string,
  ) {}

  update(cp: TargetCheckpoint): void {
    this.pending = cp;
    if (Date.now() - this.last >= this.everyMs) this.flush();
  }

  flush(): void {
    const cp = this.pending;
    if (cp === null) return;
    this.pending = null;
    this.last = Date.now();
    const doc: StateCopy = { version: 2, ...this.id, checkpoint: cp, writtenAt: new Date().toISOString() };
    mkdirSync(this.stateDir, { recursive: true });
    const file = checkpointPath(this.stateDir, this.file);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(doc, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
}
