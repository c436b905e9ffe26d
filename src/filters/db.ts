/**
 * DB selection (`--dbs`) and remapping (`--db-map`) for snapshot keys and for replicated commands.
 * Built once; `key()` and `command()` are synchronous and pure (design §1 filter contract).
 *
 * Most commands act inside the record's DB and only need `db` remapped. A few name DBs in their
 * arguments — `MOVE key db`, `SWAPDB a b`, `COPY src dst DB n`, `FLUSHALL` — and are rewritten, turned
 * into their effect on the selected set (a MOVE out of it is a DEL), or refused with
 * ERR_FILTER_UNMAPPABLE when the target could not end up equal to the source.
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
const dbArg = (n: number): Buffer => Buffer.from(String(n));

export function unmappable(what: string, hint: string): ReplicantError {
  return new ReplicantError('ERR_FILTER_UNMAPPABLE', what, { hint });
}

export class DbFilter {
  /** target[sourceDb] = target DB, or SKIP. A table: one array read per record on the hot path. */
  private readonly target: Int16Array;
  /** True when every DB passes unchanged (the filter can be left out of the pipeline). */
  readonly identity: boolean;
  /** True when some DBs are not selected (FLUSHALL must then not reach the target as is). */
  private readonly partial: boolean;

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
    this.identity = !this.partial && !mapped;
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
    const argv = this.argv(rec.db, rec.argv);
    if (argv === null) return null;
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
    // Cheap length gate: only 4-, 6- and 8-letter names can be one of the DB-naming commands.
    if (n !== 4 && n !== 6 && n !== 8) return this.map(db) === null ? null : argv;
    const name = upper(argv[0]!);
    switch (name) {
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
    return ta === a && tb === b ? argv : [argv[0]!, dbArg(ta), dbArg(tb)];
  }

  private flushall(argv: Buffer[]): Buffer[] | null {
    if (!this.partial) return argv; // every DB is migrated: flushing all of them is the source's effect
    throw unmappable(
      'FLUSHALL on the source while only some DBs (--dbs) are migrated: it would also empty target DBs outside the selection',
      'restart the migration (the source is now empty), or migrate all DBs',
    );
  }

  /**
   * MULTI…EXEC: filter each inner command. The replication stream already splits a group at every
   * SELECT inside it (src/replication/stream.ts), so all inner commands run in `rec.db`.
   */
  private multi(rec: CommandRecord): CommandRecord | null {
    const inner: Buffer[][] = [];
    let changed = false;
    for (const argv of rec.multi!) {
      const out = this.argv(rec.db, argv);
      if (out === null) {
        changed = true;
        continue;
      }
      if (out !== argv) changed = true;
      inner.push(out);
    }
    if (inner.length === 0) return null;
    const db = this.map(rec.db) ?? this.firstSelected();
    if (!changed && db === rec.db) return rec;
    return { db, argv: inner[0]!, offset: rec.offset, multi: inner };
  }

  private firstSelected(): number {
    for (let db = 0; db < DB_SLOTS; db++) if (this.target[db] !== SKIP) return this.target[db]!;
    return 0;
  }
}
