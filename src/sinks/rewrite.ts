/**
 * The rewrite path (design §3): a key's decoded chunks → ordinary commands, in order, each bounded by
 * an element count and a byte budget so no command exceeds the target's limits however big the key.
 * The caller sends what `out` receives (or holds it until the key's path is decided) and sends the
 * closing PEXPIREAT itself, after the last chunk, so a key never carries its TTL before it is complete.
 *
 * Streams: entries by XADD with their IDs, then XSETID (last ID, entries-added, max-deleted ID),
 * groups by XGROUP CREATE … ENTRIESREAD, the PEL by XCLAIM … TIME t RETRYCOUNT n FORCE JUSTID under its
 * owner, consumers without pending entries by XGROUP CREATECONSUMER (before 6.2: XCLAIM of an ID
 * nobody holds, which creates the consumer and claims nothing).
 */
import { ReplicantError } from '../errors.js';
import type { CommandArg } from '../resp/index.js';
import { formatScore, type KeyMeta, type ValueChunk } from '../records.js';
import { copyTail } from './copy.js';
import { printableKey } from './errors.js';
import type { SinkStats } from './types.js';

export interface RewriteOptions {
  chunkElements: number;
  chunkBytes: number;
  /** Target has HPEXPIREAT (Redis 7.4+). */
  fieldTtl: boolean;
  hashFieldTtl: 'error' | 'strip' | 'drop' | 'skip-key';
  /** XSETID ENTRIESADDED/MAXDELETEDID and XGROUP CREATE ENTRIESREAD (7.0+). */
  streamV2: boolean;
  /** XGROUP CREATECONSUMER (6.2+). */
  createConsumer: boolean;
}

/** Bytes an argument adds to an encoded command: `$len\r\n` + data + `\r\n` (len ≤ 12 digits). */
const ARG_OVERHEAD = 16;

/** Temporary group that creates an empty stream (there is no other way to make one). */
const TMP_GROUP = '__replicant_mkstream__';

const EMPTY = Buffer.alloc(0);

export class Rewriter {
  private key: Buffer = Buffer.alloc(0);
  private cur: CommandArg[] | null = null;
  private curBytes = 0;
  private curCount = 0;
  /** Arguments of `cur` before this index are our own copies. */
  private curCopied = 0;
  private stringStarted = false;
  private streamEntries = 0;
  private group: Buffer | null = null;
  /** Current group's PEL: id → delivery time and count, until its consumers name the owners. */
  private pel = new Map<string, [number, number]>();

  constructor(
    private readonly out: (argv: CommandArg[]) => void,
    private readonly o: RewriteOptions,
    private readonly stats: SinkStats,
    private readonly now: () => number,
  ) {}

  begin(key: Buffer): void {
    this.key = key;
    this.cur = null;
    this.stringStarted = false;
    this.streamEntries = 0;
    this.group = null;
    this.pel.clear();
  }

  /** Turn one chunk into commands. Returns false when the key must be skipped (hash field TTL policy). */
  chunk(c: ValueChunk): boolean {
    const ok = this.convert(c);
    // The batch may outlive this call; its arguments are views into the producer's input, valid only now.
    if (this.cur !== null && this.curCopied < this.cur.length) {
      copyTail(this.cur, this.curCopied);
      this.curCopied = this.cur.length;
    }
    return ok;
  }

  private convert(c: ValueChunk): boolean {
    switch (c.kind) {
      case 'string':
        this.string(c.data);
        return true;
      case 'list':
        for (const it of c.items) this.add('RPUSH', it);
        return true;
      case 'set':
        for (const m of c.members) this.add('SADD', m);
        return true;
      case 'zset':
        for (let i = 0; i < c.members.length; i++)
          this.add2('ZADD', formatScore(c.scores[i]!), c.members[i]!);
        return true;
      case 'hash':
        return this.hash(c.fields, c.values, c.fieldExpireAtMs);
      case 'stream-entries':
        this.flush();
        for (let i = 0; i < c.ids.length; i++) {
          this.out(['XADD', this.key, c.ids[i]!, ...c.fields[i]!]);
          this.streamEntries++;
        }
        return true;
      case 'stream-meta':
        this.flush();
        if (this.streamEntries === 0) {
          this.out(['XGROUP', 'CREATE', this.key, TMP_GROUP, '0', 'MKSTREAM']);
          this.out(['XGROUP', 'DESTROY', this.key, TMP_GROUP]);
        }
        if (this.o.streamV2 && c.entriesAdded !== null && c.maxDeletedId !== null) {
          this.out([
            'XSETID',
            this.key,
            c.lastId,
            'ENTRIESADDED',
            c.entriesAdded,
            'MAXDELETEDID',
            c.maxDeletedId,
          ]);
        } else {
          this.out(['XSETID', this.key, c.lastId]);
        }
        return true;
      case 'stream-group': {
        this.pel.clear();
        this.group = Buffer.from(c.name); // a view into the producer's chunk: keep a copy
        const argv: CommandArg[] = ['XGROUP', 'CREATE', this.key, this.group, c.lastId];
        if (this.o.streamV2 && c.entriesRead !== null) argv.push('ENTRIESREAD', c.entriesRead);
        this.out(argv);
        return true;
      }
      case 'stream-pel':
        for (let i = 0; i < c.ids.length; i++)
          this.pel.set(c.ids[i]!, [c.deliveryTimeMs[i]!, c.deliveryCount[i]!]);
        return true;
      case 'stream-consumer':
        this.consumer(c.name, c.pending);
        return true;
      case 'stream-idmp':
        return true; // no command carries it: the sink counts what is dropped
    }
  }

  /** End of the value: send what is still batched. An empty string has no chunk at all: SET it here. */
  finish(meta: KeyMeta): void {
    this.flush();
    if (meta.type === 'string' && !this.stringStarted) this.out(['SET', this.key, EMPTY]);
  }

  /** Send the batched command now (before a command that depends on it, or when the budget is reached). */
  flush(): void {
    if (this.cur !== null) {
      this.out(this.cur);
      this.cur = null;
    }
  }

  private string(data: Buffer): void {
    // SET for the first piece replaces any old value (and its TTL); APPEND for the rest, each within budget.
    const step = Math.max(1, this.o.chunkBytes - this.key.length - 64);
    if (data.length === 0 && !this.stringStarted) {
      this.out(['SET', this.key, data]);
      this.stringStarted = true;
      return;
    }
    for (let off = 0; off < data.length; off += step) {
      const piece = data.subarray(off, Math.min(data.length, off + step));
      this.out([this.stringStarted ? 'APPEND' : 'SET', this.key, piece]);
      this.stringStarted = true;
    }
  }

  /** Append one argument to the current `name key …` command, starting a new command when the budget is reached. */
  private add(name: string, a: Buffer): void {
    const n = a.length + ARG_OVERHEAD;
    if (this.cur !== null && (this.curCount >= this.o.chunkElements || this.curBytes + n > this.o.chunkBytes))
      this.flush();
    if (this.cur === null) this.start(name);
    this.cur!.push(a);
    this.curBytes += n;
    this.curCount++;
  }

  private add2(name: string, a: CommandArg, b: Buffer): void {
    const n = (typeof a === 'number' ? 24 : a.length) + b.length + 2 * ARG_OVERHEAD; // scores are short ASCII
    if (this.cur !== null && (this.curCount >= this.o.chunkElements || this.curBytes + n > this.o.chunkBytes))
      this.flush();
    if (this.cur === null) this.start(name);
    this.cur!.push(a, b);
    this.curBytes += n;
    this.curCount++;
  }

  private start(name: string): void {
    this.cur = [name, this.key];
    this.curCopied = 2;
    this.curBytes = 32 + this.key.length;
    this.curCount = 0;
  }

  private hash(fields: Buffer[], values: Buffer[], ttls: (number | null)[] | undefined): boolean {
    if (ttls === undefined) {
      for (let i = 0; i < fields.length; i++) this.add2('HSET', fields[i]!, values[i]!);
      return true;
    }
    const now = this.now();
    let byTtl: Map<number, Buffer[]> | null = null;
    for (let i = 0; i < fields.length; i++) {
      const t = ttls[i] ?? null;
      if (t !== null) {
        if (t <= now) {
          this.stats.fieldsDropped++; // expired already: the source would never return it
          continue;
        }
        if (!this.o.fieldTtl) {
          if (this.o.hashFieldTtl === 'error')
            throw new ReplicantError(
              'ERR_TARGET_UNSUPPORTED',
              `hash ${printableKey(this.key)} has fields with their own TTL; the target has no HPEXPIREAT (Redis 7.4+, Valkey 9+)`,
              {
                hint: 'choose --hash-field-ttl strip (write those fields without TTL) or --hash-field-ttl skip-key (skip such hashes, counted), or migrate into Redis 7.4+',
              },
            );
          if (this.o.hashFieldTtl === 'skip-key') return false;
          if (this.o.hashFieldTtl === 'drop') {
            this.stats.fieldsDropped++;
            continue;
          }
        } else {
          byTtl ??= new Map();
          const list = byTtl.get(t);
          if (list === undefined) byTtl.set(t, [fields[i]!]);
          else list.push(fields[i]!);
        }
      }
      this.add2('HSET', fields[i]!, values[i]!);
    }
    if (byTtl !== null) {
      this.flush(); // HPEXPIREAT needs the fields to exist
      for (const [t, fs] of byTtl) this.fieldTtls(t, fs);
    }
    return true;
  }

  /** `HPEXPIREAT key t FIELDS n f…`, split by count and bytes like any other command. */
  private fieldTtls(t: number, fs: Buffer[]): void {
    let i = 0;
    while (i < fs.length) {
      let bytes = 64 + this.key.length;
      let j = i;
      while (
        j < fs.length &&
        j - i < this.o.chunkElements &&
        (j === i || bytes + fs[j]!.length + ARG_OVERHEAD <= this.o.chunkBytes)
      ) {
        bytes += fs[j]!.length + ARG_OVERHEAD;
        j++;
      }
      this.out(['HPEXPIREAT', this.key, t, 'FIELDS', j - i, ...fs.slice(i, j)]);
      i = j;
    }
  }

  private consumer(name: Buffer, pending: string[]): void {
    const g = this.group;
    if (g === null) return;
    const owner = Buffer.from(name);
    if (pending.length === 0) {
      if (this.o.createConsumer) this.out(['XGROUP', 'CREATECONSUMER', this.key, g, owner]);
      // Before 6.2: XCLAIM of an ID nobody holds creates the consumer and claims nothing.
      else this.out(['XCLAIM', this.key, g, owner, 0, '0-0', 'JUSTID']);
      return;
    }
    // One XCLAIM per run of IDs sharing delivery time and count (TIME is absolute: no clock skew).
    let i = 0;
    while (i < pending.length) {
      const first = this.pel.get(pending[i]!) ?? [this.now(), 1];
      let j = i + 1;
      while (j < pending.length && j - i < this.o.chunkElements) {
        const e = this.pel.get(pending[j]!);
        if (e === undefined || e[0] !== first[0] || e[1] !== first[1]) break;
        j++;
      }
      this.out([
        'XCLAIM',
        this.key,
        g,
        owner,
        0,
        ...pending.slice(i, j),
        'TIME',
        first[0],
        'RETRYCOUNT',
        first[1],
        'FORCE',
        'JUSTID',
      ]);
      i = j;
    }
  }
}
