/**
 * DB selection (`--dbs`) and remapping (`--db-map`) for snapshot keys and for replicated commands.
 * Built once; `key()` and `command()` are synchronous and pure (design §1 filter contract).
 *
 * Most commands act inside the record's DB and only need `db` remapped. A few name DBs in their
 * arguments — `MOVE key db`, `SWAPDB a b`, `COPY src dst DB n`, `FLUSHALL` — and are rewritten, turned
 * into their effect on the selected set (a MOVE out of it is a DEL), or refused with
 * ERR_FILTER_UNMAPPABLE when the target could not end up equal to the source.
 *
 * FLUSHALL under any mapping other than the identity becomes `FLUSHDB` in each target DB the run writes
 * to (one MULTI group, atomic as the FLUSHALL was): target DBs outside the migration keep their keys.
 *
 * Merged DBs (several selected source DBs written into one target DB, `--allow-db-merge`): a MOVE, or a
 * COPY under the same name, between two DBs merged together is a no-op on the target (the key is
 * already there); SWAPDB of two DBs merged together too. FLUSHDB of a merged DB, or SWAPDB touching
 * one, cannot be applied without deleting keys that came from the other source DBs — replicant does
 * not track every key's origin (unbounded memory) — so they stop the run, before anything of them is
 * written, with ERR_DB_MERGE_FLUSH. FLUSHALL empties every selected source DB, so it stays exact.
 */
import { ReplicantError } from '../errors.js';
import type { CommandRecord, KeyMeta } from '../records.js';

export interface DbFilterOptions {
  /** Selected source DBs; null/undefined = all. */
  dbs?: readonly number[] | null | undefined;
  /** Source → target pairs; unmapped DBs keep their number. */
  dbMap?: readonly (readonly [number, number])[] | null | undefined;
}

const DB_SLOTS = 256;
const SKIP = -1;

const upper = (b: Buffer): string => b.toString('latin1').toUpperCase();
const SELECT = Buffer.from('SELECT');
const FLUSHDB = Buffer.from('FLUSHDB');
/** argv() result for a FLUSHALL that becomes FLUSHDBs (compared by identity). */
const FLUSHALL_EXPANDED: Buffer[] = [];
const dbArg = (n: number): Buffer => Buffer.from(String(n));

export function unmappable(what: string, hint: string): ReplicantError {
  return new ReplicantError('ERR_FILTER_UNMAPPABLE', what, { hint });
}

/** A source command that would empty a target DB other source DBs were merged into. */
export function mergeFlushError(
  command: string,
  sourceDb: number,
  targetDb: number,
  with_: number[],
): ReplicantError {
  return new ReplicantError(
    'ERR_DB_MERGE_FLUSH',
    `the source ran ${command} in DB ${sourceDb}, whose keys are merged into target DB ${targetDb} with source DB${with_.length === 1 ? '' : 's'} ${with_.join(', ')} (--allow-db-merge): applying it would delete their keys too, so the run stopped before writing it`,
    {
      hint: `target DB ${targetDb} now holds keys source DB ${sourceDb} no longer has: restart with --flush-target for a new full copy, or map the DBs apart (no merge) so ${command} stays exact`,
    },
  );
}

export class DbFilter {
  /** target[sourceDb] = target DB, or SKIP. A table: one array read per record on the hot path. */
  private readonly target: Int16Array;
  /** Every DB is selected and keeps its number. */
  private readonly plain: boolean;
  /** True when some DBs are not selected (FLUSHALL must then not reach the target as is). */
  private readonly partial: boolean;
  /** sources[t] = how many selected source DBs write into target DB t (> 1: merged). */
  private readonly sources: Uint16Array;
  /** Some target DB receives several source DBs. */
  readonly merging: boolean;
  /** DB counts of the target and the source (set once known): FLUSHALL's FLUSHDBs stay below them. */
  private targetDbs = DB_SLOTS;
  private sourceDbs = DB_SLOTS;

  constructor(opts: DbFilterOptions = {}) {
    this.target = new Int16Array(DB_SLOTS);
    const selected = opts.dbs ? new Set(opts.dbs) : null;
    for (let db = 0; db < DB_SLOTS; db++) this.target[db] = selected === null || selected.has(db) ? db : SKIP;
    let mapped = false;
    for (const [s, t] of opts.dbMap ?? []) {
      if (this.target[s] === SKIP) continue; // mapping an unselected DB changes nothing
      this.target[s] = t;
      if (s !== t) mapped = true;
    }
    this.partial = selected !== null;
    this.plain = !this.partial && !mapped;
    this.sources = new Uint16Array(DB_SLOTS);
    let merging = false;
    for (let db = 0; db < DB_SLOTS; db++) {
      const t = this.target[db]!;
      if (t !== SKIP && ++this.sources[t]! > 1) merging = true;
    }
    this.merging = merging;
  }

  /**
   * Target DBs that receive more than one selected source DB, each with those source DBs. `within`
   * limits the source DBs looked at (e.g. the source's DB count); default all 256.
   */
  merges(within: number = DB_SLOTS): [number, number[]][] {
    const by = new Map<number, number[]>();
    for (let db = 0; db < Math.min(within, DB_SLOTS); db++) {
      const t = this.target[db]!;
      if (t === SKIP || this.sources[t]! < 2) continue;
      const l = by.get(t);
      if (l) l.push(db);
      else by.set(t, [db]);
    }
    return [...by].filter(([, l]) => l.length > 1).sort((a, b) => a[0] - b[0]);
  }

  /**
   * The DB counts, once known (at start): FLUSHALL becomes FLUSHDBs only of target DBs the target has
   * and that a source DB the source has is written to (without --dbs "all DBs" means those).
   */
  setDatabases(n: { target?: number; source?: number }): void {
    const ok = (x: number | undefined): x is number => x !== undefined && Number.isInteger(x) && x > 0;
    if (ok(n.target)) this.targetDbs = Math.min(n.target, DB_SLOTS);
    if (ok(n.source)) this.sourceDbs = Math.min(n.source, DB_SLOTS);
  }

  /**
   * True when every DB passes unchanged (the filter can be left out of the pipeline): no selection,
   * no mapping, and (once the counts are known) a target with as many DBs as the source — otherwise
   * a FLUSHALL must be narrowed, and a write for a DB the target lacks stopped here.
   */
  get identity(): boolean {
    return this.plain && this.targetDbs === this.sourceDbs;
  }

  /** Target DB for a source DB, or null when the source DB is not selected. */
  map(db: number): number | null {
    const t = db >= 0 && db < DB_SLOTS ? this.target[db]! : SKIP;
    return t === SKIP ? null : t;
  }

  /** Target DBs that receive data, for the "target DB not empty" check: [source, target] pairs. */
  targets(sourceDbs: Iterable<number>): [number, number][] {
    const out: [number, number][] = [];
    for (const s of sourceDbs) {
      const t = this.map(s);
      if (t !== null) out.push([s, t]);
    }
    return out;
  }

  key(meta: KeyMeta): KeyMeta | null {
    const t = this.map(meta.db);
    if (t === null) return null;
    // The decoder owns `meta` (it may reuse the object): copy instead of changing it.
    return t === meta.db ? meta : { ...meta, db: t };
  }

  command(rec: CommandRecord): CommandRecord | null {
    if (this.identity) return rec;
    if (rec.multi !== undefined) return this.multi(rec);
    const db = this.map(rec.db);
    // A target DB the target does not have: stop before anything of it reaches the sink (a stream
    // write with a checkpoint after it must never be acknowledged without it).
    if (db !== null && db >= this.targetDbs) throw this.missing(rec.db, db);
    const argv = this.argv(rec.db, rec.argv);
    if (argv === null) return null;
    if (argv === FLUSHALL_EXPANDED) {
      const from = db ?? this.firstSelected();
      const cmds = this.flushdbs(from);
      if (cmds.length === 0) return null;
      if (cmds.length === 1) return { db: from, argv: cmds[0]!, offset: rec.offset };
      return { db: from, argv: cmds[0]!, offset: rec.offset, multi: cmds };
    }
    if (db === null) {
      // Only SWAPDB (which has no DB of its own) can survive from an unselected DB; it runs anywhere.
      if (argv === rec.argv) return null;
      return { db: this.firstSelected(), argv, offset: rec.offset };
    }
    return db === rec.db && argv === rec.argv ? rec : { db, argv, offset: rec.offset };
  }

  /**
   * Rewrite one command issued in source DB `db`. Returns `argv` itself when unchanged, a new argv
   * when DB arguments were remapped, null to drop. Throws when the effect cannot be expressed.
   */
  private argv(db: number, argv: Buffer[]): Buffer[] | null {
    const n = argv[0]!.length;
    // Cheap length gate: only 4-, 6-, 7- (FLUSHDB) and 8-letter names can be one of the DB-naming commands.
    if (n !== 4 && n !== 6 && n !== 8 && (n !== 7 || !this.merging))
      return this.map(db) === null ? null : argv;
    const name = upper(argv[0]!);
    switch (name) {
      case 'FLUSHDB': {
        const t = this.map(db);
        if (t === null) return null;
        if (this.sources[t]! > 1) throw this.mergeFlush('FLUSHDB', db, t);
        return argv;
      }
      case 'MOVE':
        return this.move(db, argv);
      case 'COPY':
        return this.copy(db, argv);
      case 'SWAPDB':
        return this.swapdb(argv);
      case 'FLUSHALL':
        return this.flushall(argv);
      default:
        return this.map(db) === null ? null : argv;
    }
  }

  private move(db: number, argv: Buffer[]): Buffer[] | null {
    const from = this.map(db);
    const destDb = Number(argv[2]?.toString('latin1'));
    const to = Number.isInteger(destDb) ? this.map(destDb) : null;
    if (from === null && to === null) return null;
    // The key leaves the migrated set: on the target it is simply gone.
    if (to === null) return [Buffer.from('DEL'), argv[1]!];
    // Both DBs merged into one target DB: the key is already where the MOVE puts it.
    if (to === from) return null;
    if (from === null)
      throw unmappable(
        `MOVE from unselected DB ${db} into selected DB ${destDb}: the key's value is not in the migrated data`,
        `add DB ${db} to --dbs (or leave --dbs out)`,
      );
    return to === destDb ? argv : [argv[0]!, argv[1]!, dbArg(to)];
  }

  private copy(db: number, argv: Buffer[]): Buffer[] | null {
    let at = -1;
    for (let i = 3; i < argv.length - 1; i++) if (upper(argv[i]!) === 'DB') at = i;
    const from = this.map(db);
    if (at === -1) return from === null ? null : argv; // same-DB copy
    const destDb = Number(argv[at + 1]!.toString('latin1'));
    const to = Number.isInteger(destDb) ? this.map(destDb) : null;
    if (to === null) return null; // a copy out of the migrated set changes nothing in it
    if (from === null)
      throw unmappable(
        `COPY from unselected DB ${db} into selected DB ${destDb}: the source value is not in the migrated data`,
        `add DB ${db} to --dbs (or leave --dbs out)`,
      );
    if (to === from) {
      // Merged into one target DB: a copy under the same name is the key itself; under another name it
      // is a same-DB COPY (the DB option dropped: it would name the DB the command already runs in).
      if (argv[1]!.equals(argv[2]!)) return null;
      return [...argv.slice(0, at), ...argv.slice(at + 2)];
    }
    const out = argv.slice();
    out[at + 1] = dbArg(to);
    return out;
  }

  private swapdb(argv: Buffer[]): Buffer[] | null {
    const a = Number(argv[1]?.toString('latin1'));
    const b = Number(argv[2]?.toString('latin1'));
    const ta = Number.isInteger(a) ? this.map(a) : null;
    const tb = Number.isInteger(b) ? this.map(b) : null;
    if (ta === null && tb === null) return null;
    if (ta === null || tb === null)
      throw unmappable(
        `SWAPDB ${a} ${b} swaps a selected DB with an unselected one`,
        `select both DBs (--dbs ${a},${b},…) or neither`,
      );
    // Both merged into one target DB: its contents are the same union either way.
    if (ta === tb) return null;
    if (this.sources[ta]! > 1) throw this.mergeFlush(`SWAPDB ${a} ${b}`, a, ta);
    if (this.sources[tb]! > 1) throw this.mergeFlush(`SWAPDB ${a} ${b}`, b, tb);
    return ta === a && tb === b ? argv : [argv[0]!, dbArg(ta), dbArg(tb)];
  }

  private missing(sourceDb: number, t: number): ReplicantError {
    const n = this.targetDbs;
    return new ReplicantError(
      'ERR_TARGET_DB',
      `the source wrote to DB ${sourceDb}, which goes to target DB ${t}, but the target has ${n === 1 ? 'only DB 0' : `${n} DBs (0-${n - 1})`}: the run stopped before writing it`,
      {
        hint:
          n === 1
            ? `map it into DB 0: --db-map ${sourceDb}:0 (with --allow-db-merge when DB 0 is migrated too), or leave it out with --dbs`
            : `map source DB ${sourceDb} into a DB the target has (--db-map ${sourceDb}:N with N below ${n}), or raise \`databases\` in the target's config (needs a restart)`,
      },
    );
  }

  private mergeFlush(command: string, db: number, t: number): ReplicantError {
    const others: number[] = [];
    for (let s = 0; s < DB_SLOTS; s++) if (s !== db && this.target[s] === t) others.push(s);
    return mergeFlushError(command, db, t, others);
  }

  /**
   * FLUSHALL: as is when every DB passes unchanged; otherwise it becomes FLUSHDB in each target DB
   * the selected source DBs are written to (and that the target has), so target DBs outside the
   * migration keep their keys. Returns FLUSHALL_EXPANDED; the caller builds the commands (flushdbs()).
   */
  private flushall(argv: Buffer[]): Buffer[] | null {
    if (this.identity) return argv; // every DB, as is, on both sides: the source's effect exactly
    return FLUSHALL_EXPANDED;
  }

  /** FLUSHDB in each target DB of the migration, run from DB `from`, ending back in `from`. */
  private flushdbs(from: number): Buffer[][] {
    const out: Buffer[][] = [];
    const want = new Uint8Array(DB_SLOTS);
    for (let s = 0; s < this.sourceDbs; s++) {
      const t = this.target[s]!;
      if (t !== SKIP && t < this.targetDbs) want[t] = 1;
    }
    let cur = from;
    for (let t = 0; t < this.targetDbs; t++) {
      if (want[t] === 0) continue;
      if (t !== cur) out.push([SELECT, dbArg(t)]);
      out.push([FLUSHDB]);
      cur = t;
    }
    if (cur !== from) out.push([SELECT, dbArg(from)]);
    return out;
  }

  /**
   * MULTI…EXEC: filter each inner command. The replication stream already splits a group at every
   * SELECT inside it (src/replication/stream.ts), so all inner commands run in `rec.db`.
   */
  private multi(rec: CommandRecord): CommandRecord | null {
    const inner: Buffer[][] = [];
    let changed = false;
    const db = this.map(rec.db) ?? this.firstSelected();
    if (db >= this.targetDbs) throw this.missing(rec.db, db);
    for (const argv of rec.multi!) {
      const out = this.argv(rec.db, argv);
      if (out === null) {
        changed = true;
        continue;
      }
      if (out === FLUSHALL_EXPANDED) {
        changed = true;
        inner.push(...this.flushdbs(db));
        continue;
      }
      if (out !== argv) changed = true;
      inner.push(out);
    }
    if (inner.length === 0) return null;
    if (!changed && db === rec.db) return rec;
    const out: CommandRecord = { db, argv: inner[0]!, offset: rec.offset, multi: inner };
    // A part of a transaction forwarded in parts stays one: the sink keeps its MULTI open across them.
    if (rec.groupMore) out.groupMore = true;
    if (rec.groupCont) out.groupCont = true;
    return out;
  }

  private firstSelected(): number {
    for (let db = 0; db < DB_SLOTS; db++) if (this.target[db] !== SKIP) return this.target[db]!;
    return 0;
  }
}
