/**
 * Public API of the filter chain (design §1): built once from the config, synchronous and pure.
 * `buildFilters` returns the key filters for a FilterStage and one command filter for the replica
 * source, leaving out whatever is the identity so the hot path pays nothing for unused flags.
 */
import type { CommandRecord, KeyMeta } from '../records.js';
import { DbFilter } from './db.js';
import { KeyMatcher } from './match.js';
import type { KeyFilter } from './stage.js';

export { DbFilter, type DbFilterOptions, unmappable } from './db.js';
export { KeyMatcher } from './match.js';
export {
  FilterStage,
  type FilterStageOptions,
  type FilterStats,
  type KeyFilter,
  newFilterStats,
} from './stage.js';

export interface FilterConfig {
  dbs?: readonly number[] | null;
  dbMap?: readonly (readonly [number, number])[] | null;
  match?: string | null;
}

export interface Filters {
  db: DbFilter;
  /** Key filters in order (empty when nothing filters). */
  keys: KeyFilter[];
  /** Both filters as one object, the shape ReplicaSource takes (`SourceFilter`). */
  source: { key(meta: KeyMeta): KeyMeta | null; command(rec: CommandRecord): CommandRecord | null };
}

export function buildFilters(c: FilterConfig): Filters {
  const db = new DbFilter({ dbs: c.dbs ?? null, dbMap: c.dbMap ?? null });
  const keys: KeyFilter[] = [];
  // Match on the source key before any DB mapping (order does not matter for names, but cheap first).
  if (c.match) {
    const m = new KeyMatcher(c.match);
    if (!m.all) keys.push(m);
  }
  if (!db.identity) keys.push(db);
  const source = {
    key(meta: KeyMeta): KeyMeta | null {
      let m: KeyMeta | null = meta;
      for (let i = 0; i < keys.length && m !== null; i++) m = keys[i]!.key(m);
      return m;
    },
    command: (rec: CommandRecord): CommandRecord | null => db.command(rec),
  };
  return { db, keys, source };
}
