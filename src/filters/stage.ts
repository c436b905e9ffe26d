/**
 * FilterStage: the key filters in front of a Sink (or any KeyVisitor). `keyStart` asks each filter
 * once; when one says no, the rest of that key (raw bytes and element chunks) is dropped here, so the
 * sink never sees a half key. Also counts what passed, by type, for the summary and /metrics.
 */
import type { KeyMeta, KeyVisitor, ValueChunk, ValueType } from '../records.js';

/** A snapshot-key filter: the meta to pass on (possibly remapped), or null to drop the key. */
export interface KeyFilter {
  key(meta: KeyMeta): KeyMeta | null;
}

export interface FilterStats {
  /** Keys that reached the sink, by type. */
  byType: Record<ValueType, number>;
  keysPassed: number;
  keysFiltered: number;
  /** Keys already expired when read (`dropExpired`): skipped, not in `byType` nor `keysPassed`. */
  keysExpired: number;
  functions: number;
  functionsSkipped: number;
}

export function newFilterStats(): FilterStats {
  return {
    byType: { string: 0, list: 0, set: 0, zset: 0, hash: 0, stream: 0, module: 0 },
    keysPassed: 0,
    keysFiltered: 0,
    keysExpired: 0,
    functions: 0,
    functionsSkipped: 0,
  };
}

export interface FilterStageOptions {
  filters?: readonly KeyFilter[];
  /** Drop function libraries (`--skip-functions`). */
  skipFunctions?: boolean;
  stats?: FilterStats;
  /**
   * Drop keys whose TTL has passed by this clock (a restore from a file: the sink would skip them
   * anyway), so the key counts by type hold only keys the run wrote or skipped for another reason.
   */
  dropExpired?: () => number;
}

export class FilterStage implements KeyVisitor {
  readonly stats: FilterStats;
  private readonly next: KeyVisitor;
  private readonly filters: readonly KeyFilter[];
  private readonly skipFunctions: boolean;
  private readonly now: (() => number) | null;
  /** True between keyStart and keyEnd of a key a filter refused. */
  private dropping = false;
  private readonly nextWant: ((meta: KeyMeta) => boolean) | null;
  private readonly nextUpgraded: (() => void) | null;

  constructor(next: KeyVisitor, opts: FilterStageOptions = {}) {
    this.next = next;
    this.filters = opts.filters ?? [];
    this.skipFunctions = opts.skipFunctions ?? false;
    this.stats = opts.stats ?? newFilterStats();
    this.now = opts.dropExpired ?? null;
    // Optional hooks of an auto-mode decoder (src/rdb types RdbVisitor), passed on when the next stage has them.
    const n = next as KeyVisitor & { wantElements?(m: KeyMeta): boolean; keyUpgraded?(): void };
    this.nextWant = n.wantElements ? n.wantElements.bind(next) : null;
    this.nextUpgraded = n.keyUpgraded ? n.keyUpgraded.bind(next) : null;
  }

  /**
   * For a decoder in auto mode (`wantElements` option): a dropped key needs no decoding at all;
   * otherwise the next stage decides (a sink that can RESTORE the key wants raw bytes only).
   */
  wantElements(meta: KeyMeta): boolean {
    if (this.dropping) return false;
    return this.nextWant === null ? true : this.nextWant(meta);
  }

  /** Auto-mode decoder: the current raw-only key switched to decoded elements. */
  keyUpgraded(): void {
    if (!this.dropping) this.nextUpgraded?.();
  }

  keyStart(meta: KeyMeta): void {
    let m: KeyMeta | null = meta;
    for (let i = 0; i < this.filters.length && m !== null; i++) m = this.filters[i]!.key(m);
    if (m === null) {
      this.dropping = true;
      this.stats.keysFiltered++;
      return;
    }
    if (this.now !== null && m.expireAtMs !== null && m.expireAtMs <= this.now()) {
      this.dropping = true;
      this.stats.keysExpired++;
      return;
    }
    this.stats.keysPassed++;
    this.stats.byType[m.type]++;
    this.next.keyStart(m);
  }

  keyRaw(chunk: Buffer): void {
    if (!this.dropping) this.next.keyRaw(chunk);
  }

  keyElements(chunk: ValueChunk): void {
    if (!this.dropping) this.next.keyElements(chunk);
  }

  keyEnd(): void {
    if (this.dropping) this.dropping = false;
    else this.next.keyEnd();
  }

  functionLibrary(code: Buffer): void {
    if (this.skipFunctions) {
      this.stats.functionsSkipped++;
      return;
    }
    this.stats.functions++;
    this.next.functionLibrary(code);
  }
}
