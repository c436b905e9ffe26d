/**
 * Push-model streaming RDB decoder: `write(chunk)` parses whatever it can and calls the visitor;
 * `end()` checks the file was complete. Ours because no kept npm package decodes RDB (`rdb-parser`
 * does not exist on the registry). Formats: docs/protocol.md §2; value decoding lives in values.ts.
 */
import type { KeyMeta } from '../records.js';
import { corrupt, RdbError, unsupported } from './errors.js';
import { formatCrc } from './crc64.js';
import { NEED } from './reader.js';
import {
  decodeModuleId,
  MAX_REDIS_VERSION,
  MAX_VALKEY_VERSION,
  MIN_VALKEY_VERSION,
  OP,
  type RdbDecoderOptions,
  type RdbVisitor,
  rdbTypeToValueType,
} from './types.js';
import { S, ValueDecoder } from './values.js';
import { ReplicantError } from '../errors.js';

const STATE_NAMES: Record<number, string> = {
  [S.HEADER]: 'the RDB header',
  [S.OP]: 'an opcode or a key (the file ends with opcode 255 and a checksum)',
};

/** Stop yielding (see yieldWhen) once this much input waits unparsed: the caller is not waiting. */
const MAX_PAUSED_BYTES = 8 * 1024 * 1024;

export class RdbDecoder extends ValueDecoder {
  private failed: unknown = null;
  private readonly yieldWhen: (() => boolean) | null;
  private readonly yieldMinBytes: number;
  private trailing = 0;
  /** Offset just after the checksum (the RDB's length) once done. */
  private endAt = 0;
  private crcResult: 'ok' | 'zero' | 'absent' | null = null;

  constructor(visitor: RdbVisitor, opts: RdbDecoderOptions = {}) {
    super(visitor, opts);
    this.yieldWhen = opts.yieldWhen ?? null;
    this.yieldMinBytes = opts.yieldMinBytes ?? 2 * 1024 * 1024;
  }

  /** Bytes of the input consumed by completed parsing steps (absolute offset of the next byte). */
  get position(): number {
    return this.state === S.DONE ? this.endAt : this.abs;
  }

  get bytesConsumed(): number {
    return this.position;
  }

  /**
   * The last write() stopped early (yieldWhen) with input still unparsed. A feeder should drain its
   * sink and call write() with an empty chunk until this is false before it writes new input: new
   * chunks written meanwhile pile up (copied) behind the paused ones, and past MAX_PAUSED_BYTES the
   * decoder stops yielding at all (measured: 20 MiB in flight against a 4 MiB window, 8 MiB queued).
   */
  get yielded(): boolean {
    return this.paused;
  }

  /** Bytes received after the EOF opcode and checksum (ignored; e.g. rdbtools' appended digest). */
  get trailingBytes(): number {
    return this.trailing;
  }

  /** True once the EOF opcode (and checksum) was read. */
  get done(): boolean {
    return this.state === S.DONE;
  }

  get checksum(): 'ok' | 'zero' | 'absent' | null {
    return this.crcResult;
  }

  /** DUMP payload mode (used by decodeDumpPayload): the input is one object, `type byte + body`. */
  startPayload(
    family: 'redis' | 'valkey',
    version: number,
    db: number,
    key: Buffer,
    expireAtMs: number | null,
  ): void {
    this.family = family;
    this.version = version;
    this.db = db;
    this.payloadKey = key;
    this.payloadExpire = expireAtMs;
    this.expireAtMs = expireAtMs;
    this.crcOn = false;
    this.state = S.OP;
  }

  write(chunk: Buffer): void {
    if (this.failed !== null) throw this.failed;
    if (this.state === S.DONE) {
      this.trailing += chunk.length;
      return;
    }
    this.writes++;
    if (chunk.length === 0 ? !this.paused : !this.feed(chunk)) return;
    this.run(this.yieldWhen);
  }

  /**
   * Parse steps until the input runs short (or `yieldWhen` says stop, between two steps), then hand
   * over every view: the caller may reuse its chunk once write() returns.
   */
  private run(yieldWhen: (() => boolean) | null): void {
    this.paused = false;
    for (;;) {
      let short = false;
      try {
        if (yieldWhen === null) while (this.step()) {}
        else
          while (this.step()) {
            // Bounded: a caller that keeps writing without waiting stops being yielded to.
            // Only over our own big join (an upgraded key re-read from its start): a caller's chunk is
            // parsed whole, as before — pausing in it would cost a copy of its tail, then a join.
            if (
              this.bufOwned &&
              this.buf.length - this.pos >= this.yieldMinBytes &&
              this.pendingBytes <= MAX_PAUSED_BYTES &&
              yieldWhen()
            ) {
              this.paused = true;
              break;
            }
          }
      } catch (e) {
        if (e !== NEED) {
          this.failed = this.wrap(e);
          throw this.failed;
        }
        this.pos = this.stepStart;
        short = true;
      }
      if (this.state === S.DONE) {
        this.endAt = this.abs;
        this.trailing += this.buf.length - this.pos + this.pendingBytes;
        this.pos = this.buf.length;
        this.pending = [];
        this.pendingBytes = 0;
      }
      // Views handed to the visitor must not outlive this call (the caller may reuse its chunk).
      this.flushPending();
      this.detachTail();
      // Chunks stashed during a pause: joined once the step needs them, then parsing goes on.
      if (!short || this.state === S.DONE || !this.joinPending()) return;
    }
  }

  end(): void {
    if (this.failed !== null) throw this.failed;
    // A write() that yielded left input unparsed: finish it now, without yielding.
    if (this.paused) this.run(null);
    if (this.state !== S.DONE) {
      const got = this.abs + this.buffered;
      this.failed = new RdbError(
        'ERR_RDB_TRUNCATED',
        `RDB truncated: input ended after ${got} bytes while expecting ${STATE_NAMES[this.state] ?? this.expecting()}`,
        got,
      );
      throw this.failed;
    }
  }

  private wrap(e: unknown): unknown {
    if (e instanceof RdbError && this.rawOn) return this.inKey(e);
    if (e instanceof ReplicantError) return e;
    // Safety net: a bounds failure inside Buffer reads on corrupt input must still be typed.
    if (e instanceof RangeError || e instanceof TypeError) {
      return new RdbError('ERR_RDB_CORRUPT', `corrupt RDB: ${e.message}`, this.abs, e);
    }
    return e;
  }

  /** Name the key being decoded (db, name when still at hand, offset) in a decoding error. */
  private inKey(e: RdbError): RdbError {
    let name = '';
    if (this.keyWrite === this.writes) {
      const k = this.keyName;
      const shown = k
        .subarray(0, 64)
        .toString('latin1')
        .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
      name = ` "${shown}${k.length > 64 ? '…' : ''}"`;
    }
    const msg = e.message.replace(/ \(at byte \d+\)$/, '');
    const ctx = `${msg} — in key${name} of db ${this.db} (type ${this.rdbType}, starting at byte ${this.keyAt})`;
    return new RdbError(e.code, ctx, e.offset, e.cause);
  }

  protected step(): boolean {
    this.stepStart = this.pos;
    switch (this.state) {
      case S.HEADER:
        return this.stepHeader();
      case S.OP:
        return this.stepOp();
      case S.DONE:
        return false;
      default: {
        const more = this.stepValue();
        // Auto mode: a raw-only key that grew past rawOnlyMaxBytes is decoded from its start.
        if (this.watch && this.overRawMax) this.upgrade();
        return more;
      }
    }
  }

  private stepHeader(): boolean {
    const h = this.bytes(9, 'header');
    const s = h.toString('latin1', 0, 9);
    let magic: 'REDIS' | 'VALKEY';
    let digits: string;
    if (s.startsWith('REDIS')) {
      magic = 'REDIS';
      digits = s.slice(5);
    } else if (s.startsWith('VALKEY')) {
      magic = 'VALKEY';
      digits = s.slice(6);
    } else {
      throw new RdbError('ERR_RDB_VERSION', 'not an RDB file: bad magic (expected REDIS or VALKEY)', 0);
    }
    if (!/^[0-9]+$/.test(digits)) {
      throw new RdbError('ERR_RDB_VERSION', `not an RDB file: bad version digits "${digits}"`, 0);
    }
    const v = Number(digits);
    const allowNew = this.opts.allowNewerVersions;
    if (magic === 'REDIS') {
      if (v < 1 || v >= MIN_VALKEY_VERSION || (v > MAX_REDIS_VERSION && !allowNew)) {
        throw new RdbError(
          'ERR_RDB_VERSION',
          `unsupported RDB version ${v} (REDIS magic; this build reads 1–${MAX_REDIS_VERSION})`,
          0,
        );
      }
    } else if (v < MIN_VALKEY_VERSION || (v > MAX_VALKEY_VERSION && !allowNew)) {
      throw new RdbError(
        'ERR_RDB_VERSION',
        `unsupported RDB version ${v} (VALKEY magic; this build reads ${MIN_VALKEY_VERSION}–${MAX_VALKEY_VERSION})`,
        0,
      );
    }
    this.version = v;
    this.family = magic === 'VALKEY' ? 'valkey' : 'redis';
    this.state = S.OP;
    this.visitor.header?.(magic, v);
    return true;
  }

  private stepOp(): boolean {
    const at = this.abs;
    const op = this.u8();
    const v = this.visitor;
    if (
      this.payloadKey !== null &&
      op >= 64 &&
      !(op === OP.KEY_META_OR_SLOT_IMPORT && this.family === 'redis')
    ) {
      throw corrupt(at, `expected a type byte at the start of a DUMP payload, found ${op}`);
    }
    switch (op) {
      case OP.EOF:
        return this.stepEof(at);
      case OP.SELECTDB: {
        const db = this.count('SELECTDB');
        this.db = db;
        v.selectDb?.(db);
        return true;
      }
      case OP.EXPIRETIME:
        this.expireAtMs = this.i32le() * 1000;
        return true;
      case OP.EXPIRETIME_MS:
        this.expireAtMs = this.i64le();
        return true;
      case OP.RESIZEDB: {
        const size = this.count('RESIZEDB size');
        const expires = this.count('RESIZEDB expires');
        v.resizeDb?.(size, expires);
        return true;
      }
      case OP.AUX: {
        const key = this.str('AUX key');
        const value = this.str('AUX value');
        v.aux?.(key, value);
        return true;
      }
      case OP.FREQ:
        this.freq = this.u8();
        return true;
      case OP.IDLE:
        this.idle = this.count('IDLE');
        return true;
      case OP.MODULE_AUX: {
        this.len('MODULE_AUX module id');
        const mod = decodeModuleId(this.lenHi, this.lenLo);
        const afterId = this.pos;
        const whenOp = this.len('MODULE_AUX when opcode');
        if (whenOp !== 2) throw corrupt(at, `MODULE_AUX when-opcode ${whenOp} (expected 2)`);
        this.len('MODULE_AUX when');
        this.startModuleAux(mod.name, this.buf.subarray(afterId, this.pos));
        return true;
      }
      case OP.FUNCTION_PRE_GA: {
        const name = this.str('function name');
        const engine = this.str('function engine');
        if (this.count('function has-description flag') !== 0) this.str('function description');
        const code = this.str('function code');
        // 7.0 RC libraries have no shebang; GA `FUNCTION LOAD` needs one, so synthesise it.
        const head = Buffer.from(
          `#!${engine.toString('latin1', 0, engine.length).toLowerCase()} name=`,
          'latin1',
        );
        v.functionLibrary(Buffer.concat([head, name, Buffer.from('\n'), code]));
        return true;
      }
      case OP.FUNCTION2:
        v.functionLibrary(this.str('function library'));
        return true;
      case OP.SLOT_INFO: {
        const slot = this.count('SLOT_INFO slot');
        const size = this.count('SLOT_INFO size');
        const exp = this.count('SLOT_INFO expires');
        v.slotInfo?.(slot, size, exp);
        return true;
      }
      case OP.KEY_META_OR_SLOT_IMPORT:
        if (this.family === 'valkey') return this.stepSlotImport();
        if (this.version >= 13) {
          const n = this.count('KEY_META class count');
          if (n > 7) throw corrupt(at, `KEY_META with ${n} classes (at most 7)`);
          this.startKeyMeta(n);
          return true;
        }
        break;
      case OP.RE_RAM_LRU:
      case OP.RE_SLOT_NUM:
        if (this.family === 'redis') {
          this.len(op === OP.RE_RAM_LRU ? 'RAM_LRU' : 'SLOT_NUM');
          return true;
        }
        break;
      default:
        if (op < 64) return this.startKey(op, at);
    }
    throw unsupported(`unsupported opcode ${op} in RDB version ${this.version}`, at);
  }

  private stepSlotImport(): boolean {
    const job = this.str('SLOT_IMPORT job name');
    const n = this.count('SLOT_IMPORT range count');
    const ranges: number[] = [];
    for (let i = 0; i < n; i++) {
      ranges.push(this.count('SLOT_IMPORT start slot'), this.count('SLOT_IMPORT end slot'));
    }
    this.visitor.slotImport?.(job, ranges);
    return true;
  }

  private stepEof(at: number): boolean {
    if (this.payloadKey !== null)
      throw corrupt(at, 'EOF opcode inside a DUMP payload (expected a type byte)');
    let stored: Buffer | null = null;
    if (this.version >= 5) stored = this.bytes(8, 'checksum');
    this.crc.update(this.buf, this.crcMark, stored === null ? this.pos : this.pos - 8);
    this.crcOn = false;
    this.crcMark = this.pos;
    if (stored === null) this.crcResult = 'absent';
    else if (stored.readUInt32LE(0) === 0 && stored.readUInt32LE(4) === 0) this.crcResult = 'zero';
    else if (stored.readUInt32LE(0) === this.crc.lo && stored.readUInt32LE(4) === this.crc.hi)
      this.crcResult = 'ok';
    else {
      const want = (BigInt(stored.readUInt32LE(4)) << 32n) | BigInt(stored.readUInt32LE(0));
      throw new RdbError(
        'ERR_RDB_CHECKSUM',
        `RDB checksum mismatch: the file says ${formatCrc(want)}, the content hashes to ${formatCrc(this.crc.value())}`,
        at + 1,
      );
    }
    this.state = S.DONE;
    this.visitor.end?.({ crc: this.crcResult });
    return false;
  }

  /** Type byte read: read the key name (and module id) then announce the key. */
  private startKey(type: number, at: number): boolean {
    const vt = rdbTypeToValueType(type, this.family);
    if (vt === null || type === 6) {
      const why =
        type === 6
          ? 'module value in the 4.0-RC format (type 6) cannot be read or skipped without the module'
          : `unsupported type ${type} in RDB version ${this.version}${this.family === 'valkey' ? ' (Valkey)' : ''}`;
      // Neither has a known extent, so even onUnsupported: 'skip' cannot step over it.
      throw unsupported(this.opts.onUnsupported === 'skip' ? `${why}; it cannot be skipped safely` : why, at);
    }
    const key = this.payloadKey ?? this.str('key');
    const bodyStart = this.pos;
    let module: KeyMeta['module'] = null;
    if (type === 7) {
      this.len('module id');
      module = decodeModuleId(this.lenHi, this.lenLo);
    }
    const meta: KeyMeta = {
      db: this.db,
      key,
      type: vt,
      rdbType: type,
      rdbVersion: this.version,
      family: this.family,
      expireAtMs: this.expireAtMs,
      idleSeconds: this.idle,
      freq: this.freq,
      module,
    };
    this.expireAtMs = this.payloadExpire;
    this.idle = null;
    this.freq = null;
    this.keyAt = at;
    this.beginKey(meta, bodyStart);
    return true;
  }
}
