/**
 * Value decoding for every RDB object type but streams (streams.ts): plain encodings element by
 * element, compact blobs through the cursors of compact.ts, module values / MODULE_AUX / KEY_META
 * walked opcode by opcode. Ours because no kept npm package decodes RDB.
 *
 * Each state is one resumable step (see reader.ts): read first, then act.
 */
import type { KeyMeta } from '../records.js';
import { K_HASH, K_LIST, K_SET, K_ZSET, S } from './collector.js';
import { corrupt, unsupported } from './errors.js';
import { StreamDecoder } from './streams.js';
import { HDR, SHAPE, validateIntset, validateListpack, validateZiplist, validateZipmap } from './validate.js';

export { S } from './collector.js';

const MOD_VALUE = 0;
const MOD_AUX = 1;
const MOD_KEYMETA = 2;

/** Types whose whole value is one compact blob (validated in every mode, decoded unless raw-only). */
const BLOB_TYPES = new Set([9, 10, 11, 12, 13, 16, 17, 20, 23]);

/** Per blob type: its name in messages, its header kind and how its elements group. */
const BLOB_SPECS: Record<number, { what: string; hdr: number; shape: number }> = {
  9: { what: 'zipmap', hdr: HDR.NONE, shape: SHAPE.PAIRS },
  10: { what: 'list ziplist', hdr: HDR.ZIPLIST, shape: SHAPE.LIST },
  11: { what: 'intset', hdr: HDR.INTSET, shape: SHAPE.SET },
  12: { what: 'zset ziplist', hdr: HDR.ZIPLIST, shape: SHAPE.PAIRS },
  13: { what: 'hash ziplist', hdr: HDR.ZIPLIST, shape: SHAPE.PAIRS },
  16: { what: 'hash listpack', hdr: HDR.LISTPACK, shape: SHAPE.PAIRS },
  17: { what: 'zset listpack', hdr: HDR.LISTPACK, shape: SHAPE.PAIRS },
  20: { what: 'set listpack', hdr: HDR.LISTPACK, shape: SHAPE.SET },
  23: { what: 'hash listpack with TTLs', hdr: HDR.LISTPACK, shape: SHAPE.TRIPLETS },
  25: { what: 'hash listpack with TTLs', hdr: HDR.LISTPACK, shape: SHAPE.TRIPLETS },
};

export abstract class ValueDecoder extends StreamDecoder {
  /** Module values (type 7) are walked opcode by opcode from the start. */
  protected override beginKey(meta: KeyMeta, bodyStart: number): void {
    super.beginKey(meta, bodyStart);
    if (meta.rdbType === 7) {
      this.modTarget = MOD_VALUE;
      this.state = S.MODULE;
    }
  }

  // Module opcode walker.
  protected modTarget = MOD_VALUE;
  protected modName = '';
  protected auxParts: Buffer[] = [];
  protected auxBytes = 0;
  protected keyMetaLeft = 0;

  // ---- value steps ---------------------------------------------------------------------------

  protected stepValue(): boolean {
    switch (this.state) {
      case S.VALUE:
        return this.stepValueStart();
      case S.STR_BODY: {
        const avail = this.buf.length - this.pos;
        if (avail === 0) this.short(this.pos, 1);
        const n = Math.min(avail, this.remaining, this.maxBytes);
        const piece = this.buf.subarray(this.pos, this.pos + n);
        this.pos += n;
        this.emit({ kind: 'string', data: piece });
        if ((this.remaining -= n) === 0) this.finishKey();
        return true;
      }
      case S.LIST: {
        const s = this.el('element');
        this.addItem(s);
        return this.countDown();
      }
      case S.ZSET: {
        const m = this.el('zset member');
        const score = this.legacyDouble();
        this.addScored(m, score);
        return this.countDown();
      }
      case S.ZSET2: {
        const m = this.el('zset member');
        const score = this.f64le();
        this.addScored(m, score);
        return this.countDown();
      }
      case S.HASH: {
        const f = this.el('hash field');
        const v = this.el('hash value');
        this.addPair(f, v, null);
        return this.countDown();
      }
      case S.HASH_TTL: {
        const ttl = this.len('hash field TTL');
        const f = this.el('hash field');
        const v = this.el('hash value');
        this.addPair(f, v, ttl === 0 ? null : this.ttlGa ? ttl + this.minExpire - 1 : ttl);
        return this.countDown();
      }
      case S.HASH2: {
        const f = this.el('hash field');
        const v = this.el('hash value');
        const e = this.i64le();
        this.addPair(f, v, e === -1 ? null : e);
        return this.countDown();
      }
      case S.QL: {
        // Every node is validated, raw-only too: the key's raw bytes may go by RESTORE.
        const at = this.abs;
        this.compactStr('quicklist ziplist node', HDR.ZIPLIST, this.skip);
        const { blobBuf: b, blobStart: s, blobEnd: e, blobBase: bb, blobLzf: z } = this;
        validateZiplist(b, s, e, bb, 'quicklist ziplist node', SHAPE.LIST, z);
        if (!this.skip) {
          this.zl.reset(this.blobView(), at);
          this.feedSingles(this.zl);
        }
        return this.countDown();
      }
      case S.QL2: {
        const container = this.count('quicklist node container');
        const at = this.abs;
        if (container === 1) {
          // A PLAIN node is one element, not a compact blob.
          if (this.skip) this.skipStr('quicklist plain node');
          else this.addItem(this.str('quicklist plain node'));
        } else if (container === 2) {
          this.compactStr('quicklist listpack node', HDR.LISTPACK, this.skip);
          const { blobBuf: b, blobStart: s, blobEnd: e, blobBase: bb, blobLzf: z } = this;
          validateListpack(b, s, e, bb, 'quicklist listpack node', SHAPE.LIST, z);
          if (!this.skip) {
            this.lp.reset(this.blobView(), at);
            this.feedSingles(this.lp);
          }
        } else throw corrupt(at, `quicklist node container ${container} (expected 1 PLAIN or 2 PACKED)`);
        return this.countDown();
      }
      case S.MODULE:
        return this.stepModule();
      case S.KEYMETA:
        return this.stepKeyMeta();
      default:
        return this.stepStream();
    }
  }

  protected stepValueStart(): boolean {
    const t = this.rdbType;
    if (BLOB_TYPES.has(t) || t === 25) return this.stepBlob(t);
    switch (t) {
      case 0: {
        const at = this.pos;
        const first = this.u8();
        this.pos = at;
        let s: Buffer;
        if (first >= 0xc0 && this.skip) {
          this.skipStr('string value');
          this.finishKey();
          return true;
        }
        if (first < 0xc0) {
          const n = this.len('string length');
          if (n > this.maxBytes || this.skip) {
            if (this.abs + n > this.expectedSize)
              throw corrupt(this.abs, `string of ${n} bytes runs past the end`);
            // Big plain string: stream it out in pieces instead of holding it whole.
            this.remaining = n;
            this.state = S.STR_BODY;
            return true;
          }
          s = this.bytes(n, 'string value');
        } else s = this.str('string value');
        if (s.length > 0) this.emit({ kind: 'string', data: s });
        this.finishKey();
        return true;
      }
      case 1:
        this.begin(K_LIST);
        return this.loop(S.LIST, this.count('list length'));
      case 2:
        this.begin(K_SET);
        return this.loop(S.LIST, this.count('set size'));
      case 3:
        this.begin(K_ZSET);
        return this.loop(S.ZSET, this.count('zset size'));
      case 5:
        this.begin(K_ZSET);
        return this.loop(S.ZSET2, this.count('zset size'));
      case 4:
        this.begin(K_HASH);
        return this.loop(S.HASH, this.count('hash size'));
      case 14:
        this.begin(K_LIST);
        return this.loop(S.QL, this.count('quicklist node count'));
      case 18:
        this.begin(K_LIST);
        return this.loop(S.QL2, this.count('quicklist node count'));
      case 22:
        if (this.family === 'valkey') {
          const n = this.count('hash size');
          this.begin(K_HASH);
          this.hasTtl = true;
          return this.loop(S.HASH2, n);
        } else {
          const n = this.count('hash size');
          this.begin(K_HASH);
          this.hasTtl = true;
          this.ttlGa = false;
          return this.loop(S.HASH_TTL, n);
        }
      case 24: {
        const min = this.i64le();
        const n = this.count('hash size');
        this.begin(K_HASH);
        this.hasTtl = true;
        this.ttlGa = true;
        this.minExpire = min;
        return this.loop(S.HASH_TTL, n);
      }
      case 15:
      case 19:
      case 21:
      case 26:
        return this.startStream(t);
      default:
        throw unsupported(`unsupported type ${t} in RDB version ${this.version}`, this.abs);
    }
  }

  /**
   * A value that is one compact blob: read it (header checked first, see compactStr), validate it
   * deeply — also in raw-only mode, since its raw bytes may go to a target by RESTORE — then decode it.
   */
  protected stepBlob(t: number): boolean {
    if (t === 25) this.i64le(); // minExpire: derivable from the TTLs, only an optimisation for Redis.
    const at = this.abs;
    const spec = BLOB_SPECS[t]!;
    this.compactStr(spec.what, spec.hdr, this.skip);
    const { blobBuf: b, blobStart: s, blobEnd: e, blobBase: bb, blobLzf: z } = this;
    switch (spec.hdr) {
      case HDR.ZIPLIST:
        validateZiplist(b, s, e, bb, spec.what, spec.shape, z);
        break;
      case HDR.LISTPACK:
        validateListpack(b, s, e, bb, spec.what, spec.shape, z);
        break;
      case HDR.INTSET:
        validateIntset(b, s, e, bb, spec.what, z);
        break;
      default:
        validateZipmap(b, s, e, bb, spec.what, z);
    }
    if (this.skip) {
      this.finishKey();
      return true;
    }
    const blob = this.blobView();
    switch (t) {
      case 9:
        this.begin(K_HASH);
        this.zm.reset(blob, at);
        this.feedPairs(this.zm, at);
        break;
      case 10:
        this.begin(K_LIST);
        this.zl.reset(blob, at);
        this.feedSingles(this.zl);
        break;
      case 11:
        this.begin(K_SET);
        this.is.reset(blob, at);
        this.feedSingles(this.is);
        break;
      case 12:
      case 17: {
        this.begin(K_ZSET);
        const cur = t === 12 ? this.zl : this.lp;
        cur.reset(blob, at);
        this.feedScored(cur, at);
        break;
      }
      case 13:
      case 16: {
        this.begin(K_HASH);
        const cur = t === 13 ? this.zl : this.lp;
        cur.reset(blob, at);
        this.feedPairs(cur, at);
        break;
      }
      case 20:
        this.begin(K_SET);
        this.lp.reset(blob, at);
        this.feedSingles(this.lp);
        break;
      default: // 23, 25
        this.begin(K_HASH);
        this.hasTtl = true;
        this.lp.reset(blob, at);
        this.feedTriplets(this.lp, at);
    }
    this.finishKey();
    return true;
  }

  // ---- module values, MODULE_AUX, KEY_META ---------------------------------------------------

  protected startModuleAux(name: string, head: Buffer): void {
    this.modTarget = MOD_AUX;
    this.modName = name;
    this.auxParts = [Buffer.from(head)];
    this.auxBytes = head.length;
    this.state = S.MODULE;
  }

  protected startKeyMeta(n: number): void {
    this.keyMetaLeft = n;
    this.state = n > 0 ? S.KEYMETA : S.OP;
  }

  protected stepKeyMeta(): boolean {
    const at = this.abs;
    const spec = this.bytes(4, 'KEY_META class').readUInt32LE(0);
    if ((spec & 1) === 0) {
      let name = '';
      for (let i = 3; i >= 0; i--) name += MODULE_CHARS[(spec >>> (8 + i * 6)) & 63];
      const reason = `KEY_META class "${name}" v${(spec >>> 3) & 31} is not known and may not be ignored`;
      if (this.opts.onUnsupported !== 'skip') {
        throw unsupported(`unsupported opcode 243 (${reason}) in RDB version ${this.version}`, at);
      }
      this.skippedCount++;
      this.visitor.skipped?.({ kind: 'opcode', id: 243, rdbVersion: this.version, reason });
    }
    this.modTarget = MOD_KEYMETA;
    this.state = S.MODULE;
    return true;
  }

  /** One module opcode (docs/protocol.md §2.10); opcode 0 ends the value. */
  protected stepModule(): boolean {
    const at = this.abs;
    const op = this.len('module opcode');
    switch (op) {
      case 0:
        break;
      case 1:
      case 2:
        this.len('module integer');
        break;
      case 3:
        this.bytes(4, 'module float');
        break;
      case 4:
        this.bytes(8, 'module double');
        break;
      case 5:
        this.str('module string');
        break;
      default:
        throw corrupt(at, `unknown module opcode ${op} (expected 0–5)`);
    }
    if (this.modTarget === MOD_AUX) {
      // Copied: the aux blob is delivered whole at its end, after this chunk may be gone.
      const part = Buffer.from(this.buf.subarray(this.stepStart, this.pos));
      this.auxBytes += part.length;
      if (this.auxBytes > this.maxBlobBytes) throw corrupt(at, 'MODULE_AUX larger than maxBlobBytes');
      this.auxParts.push(part);
    }
    if (op !== 0) return true;
    if (this.modTarget === MOD_VALUE) this.finishKey();
    else if (this.modTarget === MOD_AUX) {
      const raw = Buffer.concat(this.auxParts, this.auxBytes);
      this.auxParts = [];
      this.state = S.OP;
      this.visitor.moduleAux?.(this.modName, raw);
    } else this.state = --this.keyMetaLeft > 0 ? S.KEYMETA : S.OP;
    return true;
  }
}

const MODULE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
