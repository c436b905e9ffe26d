/**
 * Keys the snapshot left out on purpose (`--hash-field-ttl skip-key`: a hash with field TTLs the
 * target cannot hold), and what that means for the stream phase. Without this, an `HSET` to such a
 * key after the snapshot would create a partial hash on the target — a key the user asked us to skip,
 * holding only the fields written since.
 *
 * `decide()` looks at each stream command against the skipped set (per target DB):
 * - writes to a skipped key are dropped (counted), except those that replace its whole value (`SET`,
 *   `RESTORE`, the destination of a `*STORE`), after which the key is an ordinary key again;
 * - `DEL`/`UNLINK` end the skip (the key is gone on both sides) and go through;
 * - `RENAME`/`COPY`/`MOVE` carry the skip to the destination (which is deleted on the target: on the
 *   source it now holds the skipped hash);
 * - `FLUSHDB`/`FLUSHALL`/`SWAPDB` update the set;
 * - any other command that reads a skipped key to write another (`SUNIONSTORE dst skipped …`, a
 *   script naming it) can't be replayed faithfully: ERR_SKIPPED_KEY_READ stops the run and names it.
 * Memory: one entry per skipped key (names only), which is what the summary counts.
 */
import { ReplicantError } from '../errors.js';
import type { CommandArg } from '../resp/index.js';
import { commandName, KS, keySpec } from './cluster-keys.js';

export type SkipDecision =
  | { kind: 'send' }
  | { kind: 'drop' }
  /** Send `DEL dest` in db `db` instead of the command (the skip moved there). */
  | { kind: 'replace'; db: number; del: Buffer };

const SEND: SkipDecision = { kind: 'send' };
const DROP: SkipDecision = { kind: 'drop' };

/** Commands that replace their key's whole value, whatever its type. */
const REPLACING = new Set(['set', 'setex', 'psetex', 'restore', 'getset', 'getdel']);
/** Commands whose destination is argument 1 and is replaced (not read). */
const STORE_AT_1 = new Set([
  'sinterstore',
  'sunionstore',
  'sdiffstore',
  'zunionstore',
  'zinterstore',
  'zdiffstore',
  'zrangestore',
  'geosearchstore',
]);

const str = (a: CommandArg | undefined): string =>
  a === undefined ? '' : Buffer.isBuffer(a) ? a.toString('latin1') : String(a);

export class SkippedKeys {
  private readonly byDb = new Map<number, Set<string>>();
  /** Stream commands dropped because they wrote to a skipped key. */
  dropped = 0;

  get size(): number {
    let n = 0;
    for (const s of this.byDb.values()) n += s.size;
    return n;
  }

  add(db: number, key: Buffer): void {
    let s = this.byDb.get(db);
    if (s === undefined) this.byDb.set(db, (s = new Set()));
    s.add(key.toString('latin1'));
  }

  has(db: number, key: CommandArg): boolean {
    return this.byDb.get(db)?.has(str(key)) ?? false;
  }

  private remove(db: number, key: CommandArg): void {
    this.byDb.get(db)?.delete(str(key));
  }

  /** What to do with one stream command in target DB `db`. Throws ERR_SKIPPED_KEY_READ (see above). */
  decide(db: number, argv: CommandArg[]): SkipDecision {
    if (this.byDb.size === 0) return SEND;
    const n = commandName(argv[0]);
    if (n === 'flushall') {
      this.byDb.clear();
      return SEND;
    }
    if (n === 'flushdb') {
      this.byDb.delete(db);
      return SEND;
    }
    if (n === 'swapdb') {
      const a = Number(str(argv[1]));
      const b = Number(str(argv[2]));
      const sa = this.byDb.get(a);
      const sb = this.byDb.get(b);
      this.byDb.delete(a);
      this.byDb.delete(b);
      if (sa) this.byDb.set(b, sa);
      if (sb) this.byDb.set(a, sb);
      return SEND;
    }
    const set = this.byDb.get(db);
    if (set === undefined || set.size === 0) return SEND;
    const spec = keySpec(argv);
    if (spec.kind === KS.NONE || spec.kind === KS.ANY) return SEND;
    const keys: number[] =
      spec.kind === KS.EACH
        ? argv.map((_, i) => i).slice(1)
        : spec.kind === KS.PAIRS
          ? argv.map((_, i) => i).filter((i) => i % 2 === 1)
          : spec.keys;
    const hit = keys.filter((i) => set.has(str(argv[i])));
    if (hit.length === 0) return SEND;
    if (n === 'del' || n === 'unlink') {
      for (const i of hit) set.delete(str(argv[i]));
      return SEND;
    }
    if (spec.kind === KS.PAIRS) {
      // MSET replaces each of its keys: they are ordinary strings from now on.
      for (const i of hit) set.delete(str(argv[i]));
      return SEND;
    }
    if (n === 'rename' || n === 'renamenx' || n === 'copy') {
      const src = argv[1]!;
      const dst = argv[2]!;
      let dstDb = db;
      if (n === 'copy')
        for (let i = 3; i + 1 < argv.length; i++)
          if (commandName(argv[i]) === 'db') dstDb = Number(str(argv[i + 1]));
      if (!this.has(db, src)) {
        this.remove(dstDb, dst); // an ordinary key replaces the skipped one
        return SEND;
      }
      if (n !== 'copy') this.remove(db, src);
      this.add(dstDb, Buffer.isBuffer(dst) ? dst : Buffer.from(str(dst), 'latin1'));
      this.dropped++;
      return {
        kind: 'replace',
        db: dstDb,
        del: Buffer.isBuffer(dst) ? dst : Buffer.from(str(dst), 'latin1'),
      };
    }
    if (n === 'move') {
      this.remove(db, argv[1]!);
      this.add(
        Number(str(argv[2])),
        Buffer.isBuffer(argv[1]) ? argv[1] : Buffer.from(str(argv[1]), 'latin1'),
      );
      this.dropped++;
      return DROP;
    }
    if (spec.kind === KS.ONE) {
      if (REPLACING.has(n)) {
        set.delete(str(argv[1]));
        return SEND;
      }
      this.dropped++;
      return DROP; // HSET, HDEL, EXPIRE, HPEXPIRE … on the skipped hash
    }
    // Several keys: only a replaced destination is harmless.
    const dest = STORE_AT_1.has(n) ? 1 : -1;
    if (hit.length === 1 && hit[0] === dest) {
      set.delete(str(argv[dest]));
      return SEND;
    }
    const key = str(argv[hit[0]!]);
    throw new ReplicantError(
      'ERR_SKIPPED_KEY_READ',
      `stream command ${n.toUpperCase()} reads key '${key}' (db ${db}), which the snapshot skipped (--hash-field-ttl skip-key): its result on the target would differ from the source's`,
      {
        hint: 'use --hash-field-ttl strip (the hash is copied without its field TTLs), or migrate into Redis 7.4+ / Valkey 9+, which keep field TTLs',
      },
    );
  }
}
