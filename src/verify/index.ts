/**
 * `replicant verify`: every key (or a random sample) of the selected source DBs compared with the
 * target, then re-checked in rounds so that writes still in flight during a live sync are not
 * reported; optionally repaired from the source.
 *
 * Rounds, as redis-full-check does them: round 1 compares every key and keeps the ones that differ;
 * each later round waits `roundDelayMs` and compares only those again. What still differs after the
 * last round is reported. A key that disappears from both sides meanwhile (expired, deleted) is not
 * a difference ("vanished"), nor is one that became equal ("in flight").
 *
 * DB selection, mapping and --match work as in sync/restore (src/filters): source DB s is compared
 * with target DB map(s); target keys in the mapped DBs that the source lacks are "extra" (not looked
 * for in --sample mode). The heartbeat keys live only on the source and the checkpoint key only on the
 * target: neither is compared.
 *
 * Repair copies a key from the source with DUMP and feeds it through the same StandaloneSink a sync
 * uses (RESTORE when the target takes the payload, else rewritten with commands, TTL kept), so it
 * works across versions. DUMP holds one key's payload in memory: a repair of a multi-GB key needs
 * that much memory (the comparison itself never does).
 */
import { ReplicantError } from '../errors.js';
import { DbFilter, KeyMatcher } from '../filters/index.js';
import { type ConnectOptions, probeServer, RedisConnection, type ServerInfo } from '../net/index.js';
import type { Logger } from '../obs/index.js';
import { decodeDumpPayload } from '../rdb/index.js';
import { SHARD_KEY_PREFIX } from '../checkpoint/shards.js';
import { DEFAULT_CHECKPOINT_KEY } from '../checkpoint/target-key.js';
import { DEFAULT_HEARTBEAT_KEY } from '../replication/heartbeat.js';
import type { CommandArg, RespValue } from '../resp/index.js';
import { StandaloneSink } from '../sinks/index.js';
import { ClusterWriter } from '../sinks/cluster.js';
import { ClusterReader } from './cluster.js';
import { compareKeys, type DiffKind, type KeyDiff } from './compare.js';
import { pipeline } from './pipe.js';

export { compareKeys, DIFF_KINDS, type DiffKind, type KeyDiff } from './compare.js';

export interface VerifyOptions {
  source: ConnectOptions;
  target: ConnectOptions;
  dbs: readonly number[] | null;
  dbMap: readonly (readonly [number, number])[] | null;
  match: string | null;
  /** About this many random source keys instead of all (no extra-key scan). */
  sample: number | null;
  rounds: number;
  roundDelayMs: number;
  ttlToleranceMs: number;
  repair: boolean;
  deleteExtra: boolean;
  /**
   * Key names never compared. Default: the heartbeat key, a cluster source's per-shard heartbeat keys
   * (`<heartbeat>{hbN}`) and the checkpoint key a `--state-dir` run keeps on the target.
   */
  ignoreKeys?: readonly Buffer[];
  /** Keys per pipelined batch. Default 512. */
  batchKeys?: number;
  signal?: AbortSignal;
  log: Logger;
}

/** A difference with where it is. */
export interface FoundDiff extends KeyDiff {
  db: number;
  targetDb: number;
  /** Set after --repair: whether the key is equal now. */
  repaired?: boolean;
}

export interface DbReport {
  db: number;
  targetDb: number;
  sourceKeys: number;
  targetKeys: number;
  /** Source keys compared in round 1. */
  checked: number;
  /** Target keys scanned for extra keys (0 in sample mode). */
  targetScanned: number;
  /** Differences remaining after the last round (and the repair), by kind. */
  diffs: Record<DiffKind, number>;
  /** --repair: differences the repair fixed, by kind (the table shows them beside what remains). */
  repaired: Record<DiffKind, number>;
}

export interface VerifyResult {
  source: string;
  target: string;
  sampled: boolean;
  dbs: DbReport[];
  totals: Record<DiffKind, number>;
  /** Differences after each round (round 1 first). */
  rounds: number[];
  /** Keys that differed in an earlier round and were equal later: writes in flight. */
  inFlight: number;
  /** Keys gone from both sides while being checked (expired or deleted meanwhile). */
  vanished: number;
  /** Benign reasons the key counts can differ, with the numbers seen during the check. */
  explained: {
    sourceExpired: number;
    targetExpired: number;
    targetEvicted: number;
    notes: string[];
  };
  repair: null | { attempted: number; fixed: number; deleted: number; leftExtra: number; remaining: number };
  /** Every difference remaining (after repair when --repair). */
  differences: FoundDiff[];
  durationMs: number;
}

/** Within one re-check round: looks at a still-differing key, and the gap between them. */
const QUICK_LOOKS = 4;
const QUICK_LOOK_GAP_MS = 100;

const zero = (): Record<DiffKind, number> => ({ missing: 0, extra: 0, type: 0, value: 0, ttl: 0 });

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

function statOf(info: string, name: string): number {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

export class Verifier {
  private src!: RedisConnection;
  private dst!: RedisConnection;
  private srcInfo!: ServerInfo;
  private dstInfo!: ServerInfo;
  private readonly filter: DbFilter;
  private readonly matcher: KeyMatcher | null;
  private readonly ignore: Buffer[];
  private readonly hbShard: Buffer | null;
  /** A cluster source's per-shard checkpoint keys `replicant:checkpoint:<slots>` (never extra, never deleted). */
  private readonly ckShard: Buffer | null;
  private readonly batch: number;

  constructor(private readonly o: VerifyOptions) {
    this.filter = new DbFilter({ dbs: o.dbs ?? null, dbMap: o.dbMap ?? null });
    const m = o.match ? new KeyMatcher(o.match) : null;
    this.matcher = m && !m.all ? m : null;
    this.ignore = [
      ...(o.ignoreKeys ?? [Buffer.from(DEFAULT_HEARTBEAT_KEY), Buffer.from(DEFAULT_CHECKPOINT_KEY)]),
    ];
    this.hbShard = o.ignoreKeys ? null : Buffer.from(`${DEFAULT_HEARTBEAT_KEY}{hb`);
    this.ckShard = o.ignoreKeys ? null : Buffer.from(SHARD_KEY_PREFIX);
    this.batch = o.batchKeys ?? 512;
  }

  private wanted(key: Buffer): boolean {
    if (this.matcher && !this.matcher.matches(key)) return false;
    for (const k of this.ignore) if (k.equals(key)) return false;
    // A cluster source's per-shard heartbeat keys: `<heartbeat>{hbN}` (src/cli/sync-cluster.ts).
    if (this.hbShard && key.length > this.hbShard.length && key[key.length - 1] === 0x7d) {
      if (key.subarray(0, this.hbShard.length).equals(this.hbShard)) return false;
    }
    if (
      this.ckShard &&
      key.length > this.ckShard.length &&
      key.subarray(0, this.ckShard.length).equals(this.ckShard)
    )
      return false;
    return true;
  }

  private aborted(): boolean {
    return this.o.signal?.aborted === true;
  }

  async run(): Promise<VerifyResult> {
    const started = Date.now();
    const log = this.o.log;
    this.src = await RedisConnection.connect({ ...this.o.source, name: 'replicant-verify' }, 'source');
    try {
      this.dst = await RedisConnection.connect({ ...this.o.target, name: 'replicant-verify' }, 'target');
    } catch (err) {
      this.src.destroy();
      throw err;
    }
    try {
      [this.srcInfo, this.dstInfo] = await Promise.all([probeServer(this.src), probeServer(this.dst)]);
      // A cluster side is read through one connection per master, key commands routed by slot.
      // Key counts then come from every master (the probe read the seed node's alone).
      if (this.srcInfo.clusterEnabled) {
        this.src = (await ClusterReader.open(this.o.source, this.src, 'source')).asConnection();
        this.srcInfo = { ...this.srcInfo, dbKeys: await keyCounts(this.src) };
      }
      if (this.dstInfo.clusterEnabled) {
        this.dst = (await ClusterReader.open(this.o.target, this.dst, 'target')).asConnection();
        this.dstInfo = { ...this.dstInfo, dbKeys: await keyCounts(this.dst) };
      }
      const before = await this.stats();
      const pairs = this.dbPairs();
      const result: VerifyResult = {
        source: `${this.srcInfo.family} ${this.srcInfo.version} ${describe(this.o.source)}`,
        target: `${this.dstInfo.family} ${this.dstInfo.version} ${describe(this.o.target)}`,
        sampled: this.o.sample !== null,
        dbs: [],
        totals: zero(),
        rounds: [],
        inFlight: 0,
        vanished: 0,
        explained: { sourceExpired: 0, targetExpired: 0, targetEvicted: 0, notes: [] },
        repair: null,
        differences: [],
        durationMs: 0,
      };

      // Round 1: everything.
      let diffs: FoundDiff[] = [];
      for (const [db, targetDb] of pairs) {
        if (this.aborted()) break;
        const rep: DbReport = {
          db,
          targetDb,
          sourceKeys: this.srcInfo.dbKeys.get(db) ?? 0,
          targetKeys: this.dstInfo.dbKeys.get(targetDb) ?? 0,
          checked: 0,
          targetScanned: 0,
          diffs: zero(),
          repaired: zero(),
        };
        result.dbs.push(rep);
        await this.select(db, targetDb);
        const found = await this.firstRound(rep, result);
        diffs.push(...found.map((d) => ({ ...d, db, targetDb })));
        log.info(
          { db, targetDb, checked: rep.checked, differing: found.length },
          `db ${db} → ${targetDb} compared`,
        );
      }
      result.rounds.push(diffs.length);
      const firstCount = diffs.length;

      // Later rounds: only what differed.
      for (let r = 2; r <= this.o.rounds && diffs.length > 0 && !this.aborted(); r++) {
        log.info(
          { round: r, keys: diffs.length, delayMs: this.o.roundDelayMs },
          're-checking differing keys after a delay',
        );
        await sleep(this.o.roundDelayMs, this.o.signal);
        diffs = await this.recheck(diffs, result);
        result.rounds.push(diffs.length);
      }

      // Keys that differed in round 1 and not after the last round: in flight, not wrong.
      result.inFlight = firstCount - diffs.length;
      if (this.o.repair && diffs.length > 0 && !this.aborted()) {
        diffs = await this.repair(diffs, result);
        await this.recountTarget(result);
      }

      const after = await this.stats();
      result.explained.sourceExpired = after.srcExpired - before.srcExpired;
      result.explained.targetExpired = after.dstExpired - before.dstExpired;
      result.explained.targetEvicted = after.dstEvicted - before.dstEvicted;
      explain(result, after.dstEvictedTotal, this.dstInfo);
      for (const d of diffs) {
        result.totals[d.kind]++;
        const rep = result.dbs.find((x) => x.db === d.db);
        if (rep) rep.diffs[d.kind]++;
      }
      result.differences = diffs;
      result.durationMs = Date.now() - started;
      if (this.aborted())
        throw new ReplicantError('ERR_INTERRUPTED', 'verify was interrupted before it finished');
      return result;
    } finally {
      await Promise.all([
        this.src.close().catch(() => this.src.destroy()),
        this.dst.close().catch(() => this.dst.destroy()),
      ]);
    }
  }

  /** Source DBs to compare, each with its target DB. */
  private dbPairs(): [number, number][] {
    const candidates = new Set<number>(this.o.dbs ?? []);
    if (this.o.dbs === null) {
      for (const db of this.srcInfo.dbKeys.keys()) candidates.add(db);
      // Target DBs holding keys that a source DB maps onto: compared for extra keys too.
      for (const t of this.dstInfo.dbKeys.keys()) {
        for (let s = 0; s < 256; s++)
          if (this.filter.map(s) === t && (s === t || this.o.dbMap)) candidates.add(s);
      }
    }
    const out: [number, number][] = [];
    for (const s of [...candidates].sort((a, b) => a - b)) {
      const t = this.filter.map(s);
      if (t !== null) out.push([s, t]);
    }
    return out;
  }

  private async select(db: number, targetDb: number): Promise<void> {
    await Promise.all([this.src.call(['SELECT', db]), this.dst.call(['SELECT', targetDb])]);
  }

  private async stats() {
    const [s, d] = await Promise.all([this.src.call(['INFO', 'stats']), this.dst.call(['INFO', 'stats'])]);
    const ss = String(s);
    const ds = String(d);
    return {
      srcExpired: statOf(ss, 'expired_keys'),
      dstExpired: statOf(ds, 'expired_keys'),
      dstEvicted: statOf(ds, 'evicted_keys'),
      dstEvictedTotal: statOf(ds, 'evicted_keys'),
    };
  }

  private cmp(keys: Buffer[]) {
    return compareKeys(this.src, this.dst, keys, { ttlToleranceMs: this.o.ttlToleranceMs });
  }

  private async firstRound(rep: DbReport, result: VerifyResult): Promise<KeyDiff[]> {
    const found: KeyDiff[] = [];
    const run = async (keys: Buffer[]) => {
      if (keys.length === 0) return;
      rep.checked += keys.length;
      const r = await this.cmp(keys);
      result.vanished += r.vanished;
      found.push(...r.diffs);
    };
    if (this.o.sample !== null) {
      await run(await this.sampleKeys(rep));
      return found;
    }
    // Every source key. SCAN may return a key twice (rehashing): dedupe within the DB only for
    // what differs (the common equal case costs nothing extra).
    let cursor = '0';
    let pending: Buffer[] = [];
    do {
      if (this.aborted()) return found;
      const r = (await this.src.call(['SCAN', cursor, 'COUNT', 1000])) as [Buffer, Buffer[]];
      cursor = String(r[0]);
      for (const k of r[1]) if (this.wanted(k)) pending.push(k);
      if (pending.length >= this.batch) {
        await run(pending);
        pending = [];
      }
    } while (cursor !== '0');
    await run(pending);

    // Extra keys: target keys in the mapped DB that the source does not have.
    cursor = '0';
    do {
      if (this.aborted()) return found;
      const r = (await this.dst.call(['SCAN', cursor, 'COUNT', 1000])) as [Buffer, Buffer[]];
      cursor = String(r[0]);
      const keys = r[1].filter((k) => this.wanted(k));
      rep.targetScanned += keys.length;
      if (keys.length === 0) continue;
      const ex = await pipeline(
        this.src,
        keys.map((k) => ['EXISTS', k]),
      );
      const extra = keys.filter((_, i) => Number(ex[i]) === 0);
      if (extra.length === 0) continue;
      const types = await pipeline(
        this.dst,
        extra.map((k) => ['TYPE', k]),
      );
      for (let i = 0; i < extra.length; i++) {
        found.push({
          key: extra[i]!,
          kind: 'extra',
          type: 'none',
          detail: `a ${String(types[i])} on the target, none on the source`,
        });
      }
    } while (cursor !== '0');
    return dedupe(found);
  }

  /** About `sample × (keys in this DB / keys in all selected DBs)` random keys of the current DB. */
  private async sampleKeys(rep: DbReport): Promise<Buffer[]> {
    const total = [...this.srcInfo.dbKeys]
      .filter(([db]) => this.filter.map(db) !== null)
      .reduce((a, [, n]) => a + n, 0);
    if (total === 0 || rep.sourceKeys === 0) return [];
    const n = Math.max(1, Math.round((this.o.sample! * rep.sourceKeys) / total));
    const cmds: CommandArg[][] = Array.from({ length: Math.min(n * 2, rep.sourceKeys * 4) }, () => [
      'RANDOMKEY',
    ]);
    const keys = await pipeline(this.src, cmds);
    const seen = new Map<string, Buffer>();
    for (const k of keys) {
      if (!Buffer.isBuffer(k) || !this.wanted(k)) continue;
      seen.set(k.toString('latin1'), k);
      if (seen.size >= n) break;
    }
    return [...seen.values()];
  }

  private async recheck(diffs: FoundDiff[], result: VerifyResult): Promise<FoundDiff[]> {
    const out: FoundDiff[] = [];
    const byDb = new Map<string, FoundDiff[]>();
    for (const d of diffs) {
      const k = `${d.db}:${d.targetDb}`;
      const l = byDb.get(k) ?? [];
      l.push(d);
      byDb.set(k, l);
    }
    for (const list of byDb.values()) {
      const { db, targetDb } = list[0]!;
      await this.select(db, targetDb);
      for (let i = 0; i < list.length; i += this.batch) {
        let keys = list.slice(i, i + this.batch).map((d) => d.key);
        let r = await this.cmp(keys);
        result.vanished += r.vanished;
        // A key written continuously can differ at any one instant while the target is milliseconds
        // behind; it is a difference only if it differs at every quick look.
        for (let look = 1; look < QUICK_LOOKS && r.diffs.length > 0; look++) {
          await sleep(QUICK_LOOK_GAP_MS, this.o.signal);
          keys = r.diffs.map((d) => d.key);
          r = await this.cmp(keys);
          result.vanished += r.vanished;
        }
        out.push(...r.diffs.map((d) => ({ ...d, db, targetDb })));
      }
    }
    return out;
  }

  /** After a repair the probe's key counts are stale: the table shows the target as it is now. */
  private async recountTarget(result: VerifyResult): Promise<void> {
    if (this.dstInfo.clusterEnabled) return; // counted per node by the probe; left as read
    const info = String(await this.dst.call(['INFO', 'keyspace']).catch(() => ''));
    const now = new Map<number, number>();
    for (const m of info.matchAll(/^db(\d+):keys=(\d+)/gm)) now.set(Number(m[1]), Number(m[2]));
    for (const r of result.dbs) r.targetKeys = now.get(r.targetDb) ?? 0;
  }

  private async repair(diffs: FoundDiff[], result: VerifyResult): Promise<FoundDiff[]> {
    const log = this.o.log;
    const rep = { attempted: 0, fixed: 0, deleted: 0, leftExtra: 0, remaining: 0 };
    result.repair = rep;
    // The sink gets its own connection: it tracks the DB it SELECTed itself.
    const conn = await RedisConnection.connect({ ...this.o.target, name: 'replicant-repair' }, 'target');
    // A cluster target: the repair writes are routed by slot, as a sync's are.
    const writer = this.dstInfo.clusterEnabled ? await ClusterWriter.open(this.o.target, conn) : conn;
    const toCheck: FoundDiff[] = [];
    const left: FoundDiff[] = [];
    try {
      const sink = new StandaloneSink(writer, this.dstInfo, { onConflict: 'overwrite' });
      const byDb = new Map<number, FoundDiff[]>();
      for (const d of diffs) byDb.set(d.db, [...(byDb.get(d.db) ?? []), d]);
      for (const [db, list] of byDb) {
        await this.src.call(['SELECT', db]);
        for (let i = 0; i < list.length; i += this.batch) {
          const part = list.slice(i, i + this.batch);
          const extra = part.filter((d) => d.kind === 'extra');
          const copy = part.filter((d) => d.kind !== 'extra');
          for (const d of extra) {
            if (!this.o.deleteExtra) {
              rep.leftExtra++;
              left.push(d);
              continue;
            }
            sink.command({ db: d.targetDb, argv: [Buffer.from('DEL'), d.key], offset: 0 });
            rep.deleted++;
            toCheck.push(d);
          }
          if (copy.length === 0) continue;
          const now = Date.now();
          const r = await pipeline(
            this.src,
            copy.flatMap((d) => [
              ['DUMP', d.key],
              ['PTTL', d.key],
            ]),
          );
          copy.forEach((d, j) => {
            rep.attempted++;
            const payload = r[2 * j] as RespValue;
            const pttl = Number(r[2 * j + 1]);
            if (!Buffer.isBuffer(payload)) {
              // Gone from the source since: the target must not keep it either.
              sink.command({ db: d.targetDb, argv: [Buffer.from('DEL'), d.key], offset: 0 });
            } else {
              decodeDumpPayload(
                payload,
                sink,
                { db: d.targetDb, key: d.key, expireAtMs: pttl >= 0 ? now + pttl : null },
                sink.decoderOptions(),
              );
            }
            toCheck.push(d);
          });
          if (sink.needsDrain) await sink.drain();
        }
      }
      await sink.flush();
      log.info(
        { repaired: rep.attempted, deleted: rep.deleted },
        'repair written; checking the repaired keys',
      );
    } finally {
      if (writer instanceof ClusterWriter) await writer.close();
      else await conn.close().catch(() => conn.destroy());
    }
    const still = await this.recheck(toCheck, result);
    const stillSet = new Set(still.map((d) => `${d.db}:${d.key.toString('latin1')}`));
    for (const d of toCheck) {
      const bad = stillSet.has(`${d.db}:${d.key.toString('latin1')}`);
      if (!bad && d.kind !== 'extra') rep.fixed++;
      if (!bad) {
        const r = result.dbs.find((x) => x.db === d.db);
        if (r) r.repaired[d.kind]++;
      }
    }
    rep.remaining = still.length;
    return [...left, ...still.map((d) => ({ ...d, repaired: false }))];
  }
}

function dedupe(diffs: KeyDiff[]): KeyDiff[] {
  const seen = new Set<string>();
  return diffs.filter((d) => {
    const k = d.key.toString('latin1');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function describe(o: ConnectOptions): string {
  return `${o.host}:${o.port}`;
}

/** The "data volume explained" notes: why key counts can differ without a key being wrong. */
function explain(r: VerifyResult, evictedTotal: number, target: ServerInfo): void {
  const n = r.explained.notes;
  if (r.explained.sourceExpired > 0 || r.vanished > 0)
    n.push(
      `${r.explained.sourceExpired} source keys expired during the check (${r.vanished} vanished from both sides while being compared); key counts read at different moments differ by such keys`,
    );
  if (evictedTotal > 0)
    n.push(
      `the target has evicted ${evictedTotal} keys since it started (maxmemory-policy ${target.maxmemoryPolicy}): evicted keys show as missing; set maxmemory-policy noeviction on a migration target`,
    );
  if (r.inFlight > 0)
    n.push(
      `${r.inFlight} keys differed at first and were equal on re-check: writes still in flight during a live sync`,
    );
  n.push(
    'replicant copies each list element exactly once (a restart with resume or --flush-target never appends twice), so list lengths are not expected to differ',
  );
}

/** Keys per DB from `INFO keyspace` (through a ClusterReader: summed over every master). */
async function keyCounts(conn: RedisConnection): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const m of String(await conn.call(['INFO', 'keyspace'])).matchAll(/^db(\d+):keys=(\d+)/gm))
    out.set(Number(m[1]), Number(m[2]));
  return out;
}
