/** Test helpers for the replica link: drain its spool, read INFO replication fields. */
import type { Redis } from 'ioredis';
import type { ReplicaLink } from '../../src/replication/link.js';
import { FRAME_RDB, FRAME_RDB_END, FRAME_STREAM } from '../../src/replication/spool.js';

export interface Drained {
  rdb: Buffer[];
  rdbEnded: boolean;
  stream: Buffer[];
  error: Error | null;
}

export function newDrained(): Drained {
  return { rdb: [], rdbEnded: false, stream: [], error: null };
}

/** Take frames from the link's spool into `d` until `until(d)` holds or the spool finishes. */
export async function drainUntil(
  link: ReplicaLink,
  d: Drained,
  until: (d: Drained) => boolean,
  timeoutMs = 10_000,
): Promise<Drained> {
  const deadline = Date.now() + timeoutMs;
  while (!until(d)) {
    const f = link.spool.shift();
    if (f) {
      if (f.kind === FRAME_RDB) {
        if (d.rdbEnded) throw new Error('RDB bytes after RDB end');
        d.rdb.push(Buffer.from(f.data));
      } else if (f.kind === FRAME_RDB_END) d.rdbEnded = true;
      else if (f.kind === FRAME_STREAM) {
        if (!d.rdbEnded && link.sync?.mode !== 'continue') throw new Error('stream bytes before RDB end');
        d.stream.push(Buffer.from(f.data));
      }
      continue;
    }
    if (link.spool.finished) {
      d.error = link.spool.error;
      return d;
    }
    if (Date.now() > deadline) throw new Error('drainUntil: timed out');
    await Promise.race([link.spool.readable(), new Promise((r) => setTimeout(r, 50))]);
  }
  return d;
}

export async function infoField(client: Redis, field: string): Promise<string | undefined> {
  const info = await client.info('replication');
  const m = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return m?.[1]?.trim();
}

/** `slave0:ip=…,port=…,state=online,offset=N,lag=…` → N. */
export async function replicaAckOffset(client: Redis): Promise<number | null> {
  const line = await infoField(client, 'slave0');
  const m = line ? /offset=(\d+)/.exec(line) : null;
  return m ? Number(m[1]) : null;
}

export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}
