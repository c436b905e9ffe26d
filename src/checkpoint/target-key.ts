/**
 * The checkpoint key on the target: its name, its value, and reading it back.
 *
 * The value is a small JSON document (a few hundred bytes) written by {@link CheckpointWriter} in the
 * same MULTI … EXEC as the commands it covers, so the target holds it iff it holds them:
 *
 *   {"v":1,"run":"9f2c…","seq":1042,"phase":"stream","replid":"…","offset":123456,"db":0,
 *    "source":"10.0.0.5:6379","at":1764000000000}
 *
 * - `phase: "stream"`: every source write up to `offset` (of history `replid`), and none after it, is
 *   on the target; the stream after it runs in source db `db`. Resume with `PSYNC replid offset+1`.
 * - `phase: "snapshot"`: a full copy was started and may be incomplete: nothing to resume from; the
 *   next start makes a new full copy (snapshot keys replace what they find, so nothing is doubled).
 * - `run` + `seq` name the transaction that wrote it: after a lost target connection the writer reads
 *   the key to learn which of its in-flight transactions were applied.
 */
import { ReplicantError } from '../errors.js';

/** Default name. Stable across source failovers (the source is in the value, not the name). */
export const DEFAULT_CHECKPOINT_KEY = 'replicant:checkpoint';

export interface TargetCheckpoint {
  v: 1;
  /** Random id of the process that wrote it. */
  run: string;
  /** Transaction number within `run` (monotonic). */
  seq: number;
  phase: 'stream' | 'snapshot';
  replid: string | null;
  offset: number | null;
  db: number | null;
  /** host:port of the source link the position belongs to. */
  source: string;
  /** Unix ms when it was queued. */
  at: number;
  /**
   * The target DBs this migration writes to held nothing else when it began (they were empty, or
   * --flush-target emptied them): a later full copy may empty them again first, so keys the source
   * deleted meanwhile do not stay behind. Absent in keys of older runs: false.
   */
  exclusive?: boolean;
}

export function encodeTargetCheckpoint(c: TargetCheckpoint): string {
  return JSON.stringify(c);
}

/** Parse the key's value; throws ERR_CHECKPOINT naming the key when it is not ours. */
export function decodeTargetCheckpoint(key: string, raw: Buffer | string): TargetCheckpoint {
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : raw;
  let c: TargetCheckpoint;
  try {
    c = JSON.parse(text) as TargetCheckpoint;
  } catch {
    c = null as unknown as TargetCheckpoint;
  }
  if (
    c === null ||
    typeof c !== 'object' ||
    c.v !== 1 ||
    typeof c.run !== 'string' ||
    typeof c.seq !== 'number' ||
    (c.phase !== 'stream' && c.phase !== 'snapshot')
  ) {
    throw new ReplicantError(
      'ERR_CHECKPOINT',
      `the target key "${key}" holds something that is not a replicant checkpoint (${JSON.stringify(text.slice(0, 80))})`,
      {
        hint: 'another program uses this key name: pick another checkpoint key, or delete the key if it is stale',
      },
    );
  }
  return c;
}

/** What a plain command call needs (RedisConnection.call fits). */
export type Caller = (argv: (string | number | Buffer)[]) => Promise<unknown>;

/**
 * Read the checkpoint key (null when absent). Leaves the connection in `db` — callers that share the
 * connection with a sink must say so (CheckpointWriter's `connDb`).
 */
export async function readTargetCheckpoint(
  call: Caller,
  key: string,
  db: number,
): Promise<TargetCheckpoint | null> {
  await call(['SELECT', db]);
  const raw = (await call(['GET', key])) as Buffer | string | null;
  return raw === null || raw === undefined ? null : decodeTargetCheckpoint(key, raw);
}
