/**
 * Resumable RESP2/RESP3 decoder with exact per-value byte counts.
 *
 * Why ours: the replication link advances its offset by the wire size of every command
 * (`lastLength`), including attributes and framing; no package we keep reports that.
 *
 * How it resumes: aggregates live on an explicit stack (no recursion), and a bulk string that is
 * cut short keeps its progress (`bulkNeed` + the pieces received), so a short read never makes us
 * re-parse a value from its start. Only an incomplete header line (bounded by `maxLineBytes`) is
 * scanned again. Bulks that sit inside one fed chunk are returned as views of it (no copy); a bulk
 * spanning chunks is assembled once, when its last byte arrives (never from a declared length, so a
 * bogus `$` header allocates nothing).
 *
 * Ownership: `feed()` keeps references to the chunks it is given; callers must not reuse them.
 */
import { ReplicantError, ServerReplyError } from '../errors.js';
import { NEED_MORE, PUSH, type RespDecoderOptions, type RespPush, type RespValue } from './types.js';

const EMPTY = Buffer.alloc(0);

// Aggregate kinds on the stack.
const K_ARRAY = 0;
const K_SET = 1;
const K_MAP = 2;
const K_PUSH = 3;
const K_ATTR = 4;

export class RespDecoder {
  /** Wire bytes of the value (or line) last returned, attributes before it included. */
  lastLength = 0;

  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Where to resume the search for `\n` in an incomplete line (avoids rescanning it). */
  private scanFrom = 0;
  /** Bytes consumed so far for the top-level value in progress. */
  private count = 0;
  /** Bytes consumed before `buf[0]`, for error offsets. */
  private base = 0;

  // Open aggregates (parallel arrays: no object per frame).
  private depth = 0;
  private readonly kinds: number[] = [];
  private readonly items: RespValue[][] = [];
  private readonly remaining: number[] = [];

  // A bulk string cut short: bytes still needed (payload + CRLF), or -1 when none is open.
  private bulkNeed = -1;
  private bulkLen = 0;
  private bulkType = 0;
  private bulkPieces: Buffer[] = [];

  private readonly maxBulk: number;
  private readonly maxElements: number;
  private readonly maxLine: number;

  constructor(opts: RespDecoderOptions = {}) {
    this.maxBulk = opts.maxBulkBytes ?? 512 * 1024 * 1024;
    this.maxElements = opts.maxElements ?? 2 ** 31;
    this.maxLine = opts.maxLineBytes ?? 1024 * 1024;
  }

  /** Unparsed bytes held (not counting a partly received bulk already taken in). */
  get buffered(): number {
    return this.buf.length - this.pos;
  }

  /** Appends a chunk. The decoder keeps a reference: do not modify `chunk` afterwards. */
  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos >= this.buf.length) {
      this.base += this.buf.length;
      this.buf = chunk;
      this.pos = 0;
      this.scanFrom = 0;
      return;
    }
    // Leftover is normally a partial header line (a few bytes): joining is cheap.
    const rest = this.buf.length - this.pos;
    this.base += this.pos;
    this.scanFrom = this.scanFrom > this.pos ? this.scanFrom - this.pos : 0;
    this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk], rest + chunk.length);
    this.pos = 0;
  }

  /**
   * Removes and returns every unparsed byte (for a switch to raw mode, e.g. the RDB transfer).
   * Only valid between values.
   */
  takeBuffered(): Buffer {
    if (this.depth > 0 || this.bulkNeed >= 0) {
      throw new ReplicantError('ERR_INTERNAL', 'RespDecoder.takeBuffered() called inside a value');
    }
    const out = this.buf.subarray(this.pos);
    this.base += this.buf.length;
    this.buf = EMPTY;
    this.pos = 0;
    this.scanFrom = 0;
    this.count = 0;
    return out;
  }

  /**
   * One raw line ending in `\n`, without its `\r\n` / `\n` (a bare `\n` keepalive gives an empty
   * Buffer). Sets `lastLength` to the bytes consumed. Only valid between values.
   */
  readLine(): Buffer | typeof NEED_MORE {
    if (this.depth > 0 || this.bulkNeed >= 0) {
      throw new ReplicantError('ERR_INTERNAL', 'RespDecoder.readLine() called inside a value');
    }
    const buf = this.buf;
    const start = this.pos;
    const nl = buf.indexOf(10, Math.max(this.scanFrom, start));
    if (nl === -1) {
      this.scanFrom = buf.length;
      if (buf.length - start > this.maxLine) this.lineTooLong(start);
      return NEED_MORE;
    }
    this.scanFrom = 0;
    this.pos = nl + 1;
    this.lastLength = nl + 1 - start;
    this.count = 0;
    const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
    return buf.subarray(start, end);
  }

  /** The next complete top-level value, or NEED_MORE. Protocol violations throw ERR_PROTOCOL. */
  next(): RespValue | typeof NEED_MORE {
    outer: for (;;) {
      let v: RespValue;
      if (this.bulkNeed >= 0) {
        const done = this.fillBulk();
        if (done === NEED_MORE) return NEED_MORE;
        v = done;
      } else {
        const buf = this.buf;
        const start = this.pos;
        if (start >= buf.length) return NEED_MORE;
        const nl = buf.indexOf(10, this.scanFrom > start ? this.scanFrom : start + 1);
        if (nl === -1) {
          this.scanFrom = buf.length;
          if (buf.length - start > this.maxLine) this.lineTooLong(start);
          return NEED_MORE;
        }
        if (buf[nl - 1] !== 13 || nl - 1 === start) this.fail(nl, buf[nl]!, 'a line must end in CRLF');
        this.scanFrom = 0;
        const type = buf[start]!;
        const ls = start + 1;
        const le = nl - 1;
        this.pos = nl + 1;
        this.count += nl + 1 - start;
        switch (type) {
          case 0x24: // $ bulk
          case 0x3d: // = verbatim
          case 0x21: {
            // ! blob error
            const len = this.parseInt(ls, le, true);
            if (len === -1 && type === 0x24) {
              v = null;
              break;
            }
            if (len < 0) this.fail(ls, buf[ls]!, 'negative length');
            if (len > this.maxBulk) {
              this.fail(ls, buf[ls]!, `bulk length ${len} exceeds the limit of ${this.maxBulk} bytes`);
            }
            const p = this.pos;
            if (p + len + 2 <= buf.length) {
              // Whole bulk in this chunk: a view, no copy.
              if (buf[p + len] !== 13 || buf[p + len + 1] !== 10) {
                this.fail(p + len, buf[p + len]!, 'bulk string not followed by CRLF');
              }
              this.pos = p + len + 2;
              this.count += len + 2;
              v = this.bulkValue(type, buf.subarray(p, p + len), p);
              break;
            }
            this.bulkNeed = len + 2;
            this.bulkLen = len;
            this.bulkType = type;
            this.bulkPieces = [];
            continue outer;
          }
          case 0x2a: // * array
          case 0x7e: // ~ set
          case 0x25: // % map
          case 0x3e: // > push
          case 0x7c: {
            // | attribute
            const n = this.parseInt(ls, le, true);
            if (n === -1 && type === 0x2a) {
              v = null;
              break;
            }
            if (n < 0) this.fail(ls, buf[ls]!, 'negative length');
            if (n > this.maxElements) {
              this.fail(ls, buf[ls]!, `aggregate of ${n} elements exceeds the limit of ${this.maxElements}`);
            }
            const kind =
              type === 0x2a
                ? K_ARRAY
                : type === 0x7e
                  ? K_SET
                  : type === 0x25
                    ? K_MAP
                    : type === 0x3e
                      ? K_PUSH
                      : K_ATTR;
            const total = kind === K_MAP || kind === K_ATTR ? n * 2 : n;
            if (total === 0) {
              if (kind === K_ATTR) continue outer;
              v = build(kind, []);
              break;
            }
            const d = this.depth++;
            this.kinds[d] = kind;
            this.items[d] = [];
            this.remaining[d] = total;
            continue outer;
          }
          case 0x2b: // + simple string
            // "+OK" answers almost every write: a constant, not a string decoded per reply.
            if (le === ls + 2 && buf[ls] === 0x4f && buf[ls + 1] === 0x4b) v = 'OK';
            else v = buf.toString('utf8', ls, le);
            break;
          case 0x2d: // - error
            v = new ServerReplyError(buf.toString('utf8', ls, le));
            break;
          case 0x3a: // : integer
            v = this.parseInt(ls, le, false);
            break;
          case 0x5f: // _ null
            if (le !== ls) this.fail(ls, buf[ls]!, 'null must be empty');
            v = null;
            break;
          case 0x23: // # boolean
            if (le !== ls + 1 || (buf[ls] !== 0x74 && buf[ls] !== 0x66)) {
              this.fail(ls, buf[ls]!, 'boolean must be t or f');
            }
            v = buf[ls] === 0x74;
            break;
          case 0x2c: // , double
            v = this.parseDouble(ls, le);
            break;
          case 0x28: // ( big number
            v = this.parseBig(ls, le);
            break;
          default:
            this.fail(start, type, 'unknown RESP type byte');
        }
      }
      // Deliver v to the innermost open aggregate; close aggregates that become complete.
      while (this.depth > 0) {
        const d = this.depth - 1;
        this.items[d]!.push(v);
        if (--this.remaining[d]! > 0) continue outer;
        this.depth = d;
        const kind = this.kinds[d]!;
        const list = this.items[d]!;
        this.items[d] = EMPTY_LIST; // drop the reference: the value belongs to the caller now
        if (kind === K_ATTR) continue outer; // attributes are counted but not returned
        v = build(kind, list);
      }
      this.lastLength = this.count;
      this.count = 0;
      return v;
    }
  }

  /** Continues a bulk cut short; returns the value once its last byte (and CRLF) arrived. */
  private fillBulk(): RespValue | typeof NEED_MORE {
    const avail = this.buf.length - this.pos;
    if (avail === 0) return NEED_MORE;
    const take = Math.min(avail, this.bulkNeed);
    this.bulkPieces.push(this.buf.subarray(this.pos, this.pos + take));
    this.pos += take;
    this.count += take;
    this.bulkNeed -= take;
    if (this.bulkNeed > 0) return NEED_MORE;
    this.bulkNeed = -1;
    const len = this.bulkLen;
    const whole = Buffer.concat(this.bulkPieces, len + 2);
    this.bulkPieces = [];
    if (whole[len] !== 13 || whole[len + 1] !== 10) {
      throw this.error(this.base + this.pos - 2, whole[len]!, 'bulk string not followed by CRLF');
    }
    return this.bulkValue(this.bulkType, whole.subarray(0, len), this.pos - len - 2);
  }

  private bulkValue(type: number, data: Buffer, at: number): RespValue {
    if (type === 0x24) return data;
    if (type === 0x21) return new ServerReplyError(data.toString('utf8'));
    // Verbatim: "txt:" / "mkd:" format prefix, then the text.
    if (data.length < 4 || data[3] !== 0x3a) this.fail(at, data[3] ?? 0, 'verbatim string without format');
    return data.subarray(4);
  }

  /** Decimal integer in buf[s, e). `len` → header length (must fit a number). */
  private parseInt(s: number, e: number, len: boolean): number {
    const buf = this.buf;
    let i = s;
    let neg = false;
    if (buf[i] === 0x2d) {
      neg = true;
      i++;
    } else if (buf[i] === 0x2b) i++;
    if (i >= e) this.fail(i, buf[i] ?? 0, 'empty number');
    if (e - i > 15) {
      if (len) this.fail(s, buf[s]!, 'length out of range');
      return this.parseBig(s, e) as unknown as number;
    }
    let n = 0;
    for (; i < e; i++) {
      const c = buf[i]! - 48;
      if (c < 0 || c > 9) this.fail(i, buf[i]!, 'invalid digit');
      n = n * 10 + c;
    }
    return neg ? -n : n;
  }

  /** Integer too long for the fast path: bigint, narrowed to number when it is safe. */
  private parseBig(s: number, e: number): bigint | number {
    const text = this.buf.toString('latin1', s, e);
    if (!/^[-+]?\d+$/.test(text)) this.fail(s, this.buf[s]!, 'invalid big number');
    const b = BigInt(text);
    if (this.buf[s - 1] === 0x28) return b; // `(` always yields bigint
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }

  private parseDouble(s: number, e: number): number {
    const text = this.buf.toString('latin1', s, e).toLowerCase();
    if (text === 'inf' || text === '+inf') return Number.POSITIVE_INFINITY;
    if (text === '-inf') return Number.NEGATIVE_INFINITY;
    if (text === 'nan' || text === '-nan') return Number.NaN;
    const n = Number(text);
    if (text.length === 0 || Number.isNaN(n)) this.fail(s, this.buf[s] ?? 0, 'invalid double');
    return n;
  }

  private lineTooLong(start: number): never {
    this.fail(start, this.buf[start]!, `no line end within ${this.maxLine} bytes`);
  }

  /** `at` is an index into the current buffer. */
  private fail(at: number, byte: number, why: string): never {
    throw this.error(this.base + at, byte, why);
  }

  private error(offset: number, byte: number, why: string): ReplicantError {
    const shown = byte >= 0x20 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `0x${byte.toString(16)}`;
    return new ReplicantError('ERR_PROTOCOL', `RESP protocol error at byte ${offset} (${shown}): ${why}`, {
      hint: 'the peer does not speak RESP as expected (wrong port, TLS endpoint, or a proxy in between?)',
    });
  }
}

const EMPTY_LIST: RespValue[] = [];

function build(kind: number, list: RespValue[]): RespValue {
  if (kind === K_MAP) {
    const m = new Map<RespValue, RespValue>();
    for (let i = 0; i < list.length; i += 2) m.set(list[i]!, list[i + 1]!);
    return m;
  }
  if (kind === K_PUSH) {
    Object.defineProperty(list, PUSH, { value: true });
    return list as RespPush;
  }
  return list;
}
