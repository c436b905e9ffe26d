/**
 * Stream values (types 15, 19, 21, 26; docs/protocol.md §2.9): node listpacks → `stream-entries`,
 * then `stream-meta`, groups, PEL, consumers, and the v4 IDMP block. Ours because no kept npm package
 * decodes RDB (`rdb-parser` does not exist on the registry).
 */
import type { StreamId } from '../records.js';
import { K_STREAM, KeyCollector, S } from './collector.js';
import { corrupt } from './errors.js';
import { HDR, validateStreamListpack } from './validate.js';

const TWO32 = 4294967296;
/** Marker: the node's master ID was stepped over (raw-only mode), it is known to be 16 bytes. */
const MASTER_ID_UNREAD = Buffer.alloc(16);

type Id = number | bigint;

function idText(ms: Id, seq: Id): StreamId {
  return `${ms}-${seq}`;
}

function u64be(b: Buffer, at: number): Id {
  const hi = b.readUInt32BE(at);
  const lo = b.readUInt32BE(at + 4);
  if (hi < 0x200000) return hi * TWO32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function addId(base: Id, delta: number): Id {
  if (typeof base === 'number') {
    const r = base + delta;
    if (Number.isSafeInteger(r)) return r;
  }
  return BigInt(base) + BigInt(delta);
}

export abstract class StreamDecoder extends KeyCollector {
  // Streams.
  protected streamVer = 1;
  protected groupsLeft = 0;
  protected group: { name: Buffer; lastId: StreamId; entriesRead: number | null; pelSize: number } | null =
    null;
  protected pelIds: StreamId[] = [];
  protected pelTimes: number[] = [];
  protected pelCounts: number[] = [];
  protected consLeft = 0;
  protected cons: { name: Buffer; seenTimeMs: number; activeTimeMs: number | null } | null = null;
  protected cpel: StreamId[] = [];
  /** The current group's PEL IDs → claimed by a consumer yet (checked at the group's end). */
  protected readonly pelOwner = new Map<StreamId, boolean>();

  /** Value start of a stream key: the node count. */
  protected startStream(t: number): boolean {
    this.streamVer = t === 15 ? 1 : t === 19 ? 2 : t === 21 ? 3 : 4;
    this.begin(K_STREAM);
    this.remaining = this.count('stream node count');
    this.state = this.remaining === 0 ? S.ST_META : S.ST_NODES;
    return true;
  }

  // ---- streams -------------------------------------------------------------------------------

  protected stepStream(): boolean {
    switch (this.state) {
      case S.ST_NODES: {
        // Validated raw-only too: the key's raw bytes may go by RESTORE.
        const mAt = this.abs;
        let master: Buffer = MASTER_ID_UNREAD;
        // Raw-only: a 16-byte master ID (length byte 0x10) is stepped over, no view made.
        if (this.skip && this.u8() === 16) {
          if (this.pos + 16 > this.buf.length) this.short(this.pos, 16);
          this.pos += 16;
        } else {
          this.pos = this.stepStart;
          master = this.str('stream node master ID');
        }
        const at = this.abs;
        this.compactStr('stream node listpack', HDR.LISTPACK, this.skip);
        if (master !== MASTER_ID_UNREAD && master.length !== 16)
          throw corrupt(mAt, `stream node master ID of ${master.length} bytes (expected 16)`);
        const { blobBuf: b, blobStart: s, blobEnd: e, blobBase: bb, blobLzf: z } = this;
        validateStreamListpack(b, s, e, bb, 'stream node listpack', z);
        if (!this.skip) this.decodeStreamNode(u64be(master, 0), u64be(master, 8), this.blobView(), at);
        if (--this.remaining <= 0) this.state = S.ST_META;
        return true;
      }
      case S.ST_META: {
        const length = this.count('stream length');
        const lastId = idText(this.u64len('stream last ID'), this.u64len('stream last ID'));
        let firstId: StreamId | null = null;
        let maxDeletedId: StreamId | null = null;
        let entriesAdded: number | null = null;
        if (this.streamVer >= 2) {
          firstId = idText(this.u64len('stream first ID'), this.u64len('stream first ID'));
          maxDeletedId = idText(this.u64len('stream max deleted ID'), this.u64len('stream max deleted ID'));
          entriesAdded = this.count('stream entries added');
        }
        const groupCount = this.count('stream group count');
        this.flushElements();
        this.emit({
          kind: 'stream-meta',
          length,
          lastId,
          firstId,
          maxDeletedId,
          entriesAdded,
          groupCount,
        });
        this.groupsLeft = groupCount;
        if (groupCount > 0) this.state = S.ST_GROUP;
        else this.afterGroups();
        return true;
      }
      case S.ST_GROUP: {
        const name = this.str('consumer group name');
        const lastId = idText(this.u64len('group last ID'), this.u64len('group last ID'));
        let entriesRead: number | null = null;
        if (this.streamVer >= 2) {
          const n = this.len('group entries read');
          // -1 (unknown) is saved as a 64-bit all-ones length.
          entriesRead = this.lenHi === 0xffffffff && this.lenLo === 0xffffffff ? null : n;
        }
        const pelSize = this.count('group PEL size');
        // Copied: emitted only after the PEL, possibly after this input chunk is gone.
        this.group = { name: Buffer.from(name), lastId, entriesRead, pelSize };
        this.pelOwner.clear();
        this.pelIds = [];
        this.pelTimes = [];
        this.pelCounts = [];
        this.remaining = pelSize;
        this.state = pelSize > 0 ? S.ST_PEL : S.ST_NCONS;
        return true;
      }
      case S.ST_PEL: {
        const at = this.abs;
        const id = this.bytes(16, 'PEL entry ID');
        const t = this.i64le();
        const c = this.count('PEL delivery count');
        const sid = idText(u64be(id, 0), u64be(id, 8));
        if (this.pelOwner.has(sid)) throw corrupt(at, `consumer group PEL lists ${sid} twice`);
        this.pelOwner.set(sid, false);
        this.pelIds.push(sid);
        this.pelTimes.push(t);
        this.pelCounts.push(c);
        if (--this.remaining <= 0) this.state = S.ST_NCONS;
        return true;
      }
      case S.ST_NCONS: {
        const n = this.count('consumer count');
        const g = this.group!;
        this.emit({
          kind: 'stream-group',
          name: g.name,
          lastId: g.lastId,
          entriesRead: g.entriesRead,
          pelSize: g.pelSize,
          consumerCount: n,
        });
        // The group record needs the consumer count, stored after the PEL: the PEL waited until now.
        for (let i = 0; i < this.pelIds.length; i += this.maxEl) {
          this.emit({
            kind: 'stream-pel',
            ids: this.pelIds.slice(i, i + this.maxEl),
            deliveryTimeMs: this.pelTimes.slice(i, i + this.maxEl),
            deliveryCount: this.pelCounts.slice(i, i + this.maxEl),
          });
        }
        this.pelIds = [];
        this.pelTimes = [];
        this.pelCounts = [];
        this.consLeft = n;
        if (n > 0) this.state = S.ST_CONS;
        else this.nextGroup();
        return true;
      }
      case S.ST_CONS: {
        const name = this.str('consumer name');
        const seen = this.i64le();
        const active = this.streamVer >= 3 ? this.i64le() : null;
        const n = this.count('consumer PEL size');
        // Copied: emitted only after the consumer's PEL, possibly after this input chunk is gone.
        this.cons = { name: Buffer.from(name), seenTimeMs: seen, activeTimeMs: active };
        this.cpel = [];
        this.remaining = n;
        if (n > 0) this.state = S.ST_CPEL;
        else this.endConsumer();
        return true;
      }
      case S.ST_CPEL: {
        const at = this.abs;
        const id = this.bytes(16, 'consumer PEL ID');
        const sid = idText(u64be(id, 0), u64be(id, 8));
        // Redis checks these two itself; the third (below, in nextGroup) only with deep sanitization.
        const owned = this.pelOwner.get(sid);
        if (owned === undefined) throw corrupt(at, `consumer PEL entry ${sid} is not in its group's PEL`);
        if (owned) throw corrupt(at, `PEL entry ${sid} is owned by two consumers`);
        this.pelOwner.set(sid, true);
        this.cpel.push(sid);
        if (--this.remaining <= 0) this.endConsumer();
        return true;
      }
      default:
        return this.stepIdmp();
    }
  }

  protected endConsumer(): void {
    const c = this.cons!;
    this.emit({
      kind: 'stream-consumer',
      name: c.name,
      seenTimeMs: c.seenTimeMs,
      activeTimeMs: c.activeTimeMs,
      pending: this.cpel,
    });
    this.cpel = [];
    if (--this.consLeft > 0) this.state = S.ST_CONS;
    else this.nextGroup();
  }

  /**
   * End of a group: every entry of its PEL must belong to a consumer. Redis checks this only with deep
   * sanitization (rdb.c "Stream CG PEL entry without consumer"); without it an owner-less entry is
   * stored and XPENDING/XCLAIM then dereference its missing consumer.
   */
  private checkPelOwners(): void {
    for (const [sid, owned] of this.pelOwner)
      if (!owned) throw corrupt(this.abs, `consumer group PEL entry ${sid} has no consumer`);
    this.pelOwner.clear();
  }

  protected nextGroup(): void {
    this.checkPelOwners();
    if (--this.groupsLeft > 0) this.state = S.ST_GROUP;
    else this.afterGroups();
  }

  protected afterGroups(): void {
    if (this.streamVer >= 4) this.state = S.IDMP_HDR;
    else this.finishKey();
  }

  /** IDMP block of the current v4 stream, delivered as one `stream-idmp` chunk at its end. */
  private idmpDuration = 0;
  private idmpMaxSize = 0;
  private idmpProducers = 0;
  private idmpIds = 0;

  /**
   * Stream v4 (type 26, Redis 8.6) idempotent-producer block: walked element by element, delivered as
   * a summary (`stream-idmp`); the raw body, for RESTORE, carries it whole.
   */
  protected stepIdmp(): boolean {
    switch (this.state) {
      case S.IDMP_HDR: {
        const duration = this.count('IDMP duration');
        const maxSize = this.count('IDMP max size');
        const n = this.count('IDMP producer count');
        this.idmpDuration = duration;
        this.idmpMaxSize = maxSize;
        this.idmpProducers = n;
        this.idmpIds = 0;
        this.groupsLeft = n; // reused as "producers left"
        this.state = n > 0 ? S.IDMP_PROD : S.IDMP_TAIL;
        return true;
      }
      case S.IDMP_PROD: {
        this.str('IDMP producer id');
        const n = this.count('IDMP entry count');
        this.remaining = n;
        if (n > 0) this.state = S.IDMP_IID;
        else this.nextProducer();
        return true;
      }
      case S.IDMP_IID: {
        this.str('IDMP entry id');
        this.u64len('IDMP stream ID');
        this.u64len('IDMP stream ID');
        this.idmpIds++;
        if (--this.remaining <= 0) this.nextProducer();
        return true;
      }
      case S.IDMP_TAIL:
        this.count('IDMP ids added');
        this.count('IDMP duplicates');
        this.emit({
          kind: 'stream-idmp',
          durationSec: this.idmpDuration,
          maxSize: this.idmpMaxSize,
          producers: this.idmpProducers,
          ids: this.idmpIds,
        });
        this.finishKey();
        return true;
      default:
        throw corrupt(this.abs, `internal decoder state ${this.state}`);
    }
  }

  protected nextProducer(): void {
    this.state = --this.groupsLeft > 0 ? S.IDMP_PROD : S.IDMP_TAIL;
  }

  /** One stream node: master entry (count, deleted, fields…, 0) then entries (docs/protocol.md §2.9). */
  protected decodeStreamNode(ms: Id, seq: Id, blob: Buffer, at: number): void {
    const lp = this.lp;
    lp.reset(blob, at);
    lp.nextInt('master entry count');
    lp.nextInt('master entry deleted count');
    const nf = lp.nextInt('master field count');
    const master: Buffer[] = [];
    for (let i = 0; i < nf; i++) {
      lp.nextElement('master field');
      master.push(lp.asBuffer());
    }
    if (lp.nextInt('master entry terminator') !== 0)
      throw corrupt(at, 'stream master entry not terminated by 0');
    while (lp.next()) {
      if (!lp.isInt) throw corrupt(at, 'stream entry flags are not an integer');
      const flags = lp.int;
      const msd = lp.nextInt('entry ID ms delta');
      const seqd = lp.nextInt('entry ID seq delta');
      const fields: Buffer[] = [];
      let bytes = 0;
      if (flags & 2) {
        for (let i = 0; i < nf; i++) {
          lp.nextElement('entry value');
          const v = lp.asBuffer();
          fields.push(master[i]!, v);
          bytes += master[i]!.length + v.length;
        }
      } else {
        const n = lp.nextInt('entry field count');
        for (let i = 0; i < n; i++) {
          lp.nextElement('entry field');
          const f = lp.asBuffer();
          lp.nextElement('entry value');
          const v = lp.asBuffer();
          fields.push(f, v);
          bytes += f.length + v.length;
        }
      }
      lp.nextInt('entry lp-count');
      if (flags & 1) continue; // deleted entry
      this.sIds.push(idText(addId(ms, msd), addId(seq, seqd)));
      this.sFields.push(fields);
      this.bump(bytes + 16);
    }
  }
}
