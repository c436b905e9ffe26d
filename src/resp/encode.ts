/**
 * RESP command encoding: an array of bulk strings, binary-safe.
 *
 * Why ours: see types.ts (the decoder's byte counts); the encoder lives beside it so both agree on
 * the wire format, and the sink needs a batching writer that no kept package offers.
 *
 * Hot path: the sink encodes millions of commands. `CommandWriter` writes them one after another into
 * a slab and hands out views of it (`take()`), so a tick's worth of commands is one socket write and
 * no argument is ever concatenated or copied twice.
 */

export type CommandArg = Buffer | string | number;

/** Text form of a numeric argument, as Redis parses it back (±inf for infinities). */
function numberArg(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return '+inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  return String(n);
}

/** Decimal digit count of a non-negative integer (no string allocation). */
export function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** UTF-8 length of a string argument. */
function strBytes(a: string): number {
  // Short ASCII (command names, options: the common case) without the native Buffer.byteLength call.
  if (a.length < 32) {
    let i = 0;
    while (i < a.length && a.charCodeAt(i) < 0x80) i++;
    if (i === a.length) return i;
  }
  return Buffer.byteLength(a, 'utf8');
}

function argBytes(a: CommandArg): number {
  if (typeof a === 'string') return strBytes(a);
  if (typeof a === 'number') return numberArg(a).length;
  return a.length;
}

/** Exact encoded size of `argv`. */
export function encodedLength(argv: ReadonlyArray<CommandArg>): number {
  let n = 3 + digits(argv.length);
  for (let i = 0; i < argv.length; i++) {
    const len = argBytes(argv[i]!);
    n += 5 + digits(len) + len;
  }
  return n;
}

/** Writes `prefix`, the decimal `n` and CRLF at `off`; returns the new offset. */
export function writeHeader(buf: Buffer, off: number, prefix: number, n: number): number {
  buf[off++] = prefix;
  if (n < 10) buf[off++] = 48 + n;
  else {
    const end = off + digits(n);
    for (let i = end - 1; i >= off; i--) {
      buf[i] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    off = end;
  }
  // Plain byte stores: writeUInt16LE's argument checks cost more than the write on this path.
  buf[off] = 13;
  buf[off + 1] = 10;
  return off + 2;
}

/**
 * Encodes `argv` into `buf` at `off`; returns the offset after it. The caller guarantees room
 * (`encodedLength`), as `CommandWriter` does.
 */
export function encodeInto(buf: Buffer, off: number, argv: ReadonlyArray<CommandArg>): number {
  off = writeHeader(buf, off, 0x2a, argv.length);
  for (let i = 0; i < argv.length; i++) off = encodeArg(buf, off, argv[i]!);
  return off;
}

/** Encoded size of one argument as a bulk string. */
export function encodedArgLength(a: CommandArg): number {
  const len = argBytes(a);
  return 5 + digits(len) + len;
}

/** Encodes one argument as a bulk string at `off`; returns the offset after it. */
export function encodeArg(buf: Buffer, off: number, a: CommandArg): number {
  if (typeof a === 'string') {
    const len = strBytes(a);
    off = writeHeader(buf, off, 0x24, len);
    // Short strings: a JS loop beats the native call overhead of buf.write for ASCII.
    if (len === a.length && len < 32) {
      for (let j = 0; j < len; j++) buf[off + j] = a.charCodeAt(j);
    } else buf.write(a, off, len, 'utf8');
    off += len;
  } else if (typeof a === 'number') {
    const s = numberArg(a);
    off = writeHeader(buf, off, 0x24, s.length);
    for (let j = 0; j < s.length; j++) buf[off + j] = s.charCodeAt(j);
    off += s.length;
  } else {
    off = writeHeader(buf, off, 0x24, a.length);
    // Tiny: a JS loop beats any call; otherwise TypedArray#set (a builtin) beats Buffer#copy (a C++ call).
    if (a.length < 16) for (let j = 0; j < a.length; j++) buf[off + j] = a[j]!;
    else buf.set(a, off);
    off += a.length;
  }
  buf[off] = 13;
  buf[off + 1] = 10;
  off += 2;
  return off;
}

/** One command as a standalone Buffer. For batches use {@link CommandWriter}. */
export function encodeCommand(argv: ReadonlyArray<CommandArg>): Buffer {
  const buf = Buffer.allocUnsafe(encodedLength(argv));
  encodeInto(buf, 0, argv);
  return buf;
}

/**
 * Appends commands to a slab; `take()` returns everything written since the last take as one Buffer
 * (a view of the slab, no copy). A taken view is never written again while it is out: when the slab
 * runs out the writer moves on to another, and an old slab is reused only after `release()` has been
 * called for every view taken from it (the socket's write callback) — up to SPARE_SLABS of them.
 *
 * Why recycle: a slab dropped instead is garbage V8 sees only as external memory, collected in steps
 * of ~64 MiB, so a long rewrite (a 5M-element key is ~150 MB of commands) kept up to 64 MiB of written
 * slabs in RSS. A caller that never calls release() gets the old behaviour: every slab is dropped.
 */
/** Written-out slabs kept for reuse. A few cover what is in the socket's queue while it drains. */
const SPARE_SLABS = 4;

export class CommandWriter {
  private slab: Buffer;
  private start = 0;
  private pos = 0;
  private readonly slabSize: number;
  /** Views taken and not yet released, per slab (keyed by its ArrayBuffer: a slab owns its own). */
  private readonly out = new Map<ArrayBufferLike, number>();
  private readonly spare: Buffer[] = [];

  constructor(slabSize = 256 * 1024) {
    this.slabSize = slabSize;
    this.slab = Buffer.allocUnsafeSlow(slabSize);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.pos - this.start;
  }

  /** Appends one command; returns its encoded size. */
  write(argv: ReadonlyArray<CommandArg>): number {
    const size = encodedLength(argv);
    if (this.pos + size > this.slab.length) this.grow(size);
    this.pos = encodeInto(this.slab, this.pos, argv);
    return size;
  }

  /** Appends bytes that are already RESP-encoded (e.g. a cached command). */
  writeRaw(bytes: Buffer): void {
    if (this.pos + bytes.length > this.slab.length) this.grow(bytes.length);
    this.slab.set(bytes, this.pos); // TypedArray#set: a builtin, cheaper than Buffer#copy's JS checks
    this.pos += bytes.length;
  }

  /** Everything written since the last take, as one Buffer the caller owns. */
  take(): Buffer {
    const out = this.slab.subarray(this.start, this.pos);
    this.start = this.pos;
    const ab = this.slab.buffer;
    this.out.set(ab, (this.out.get(ab) ?? 0) + 1);
    // A slab grown for one huge command is not kept: the next batch starts in a normal-sized one.
    // Nor is a slab with less than a quarter left: starting afresh now (nothing pending) costs no
    // copy, while running out mid-batch would copy the pending bytes to a new slab (grow).
    if (this.slab.length > this.slabSize || this.slab.length - this.pos < this.slabSize >>> 2) {
      this.retire();
      this.slab = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.slabSize);
      this.start = this.pos = 0;
    }
    return out;
  }

  /** A view from take() is no longer in use (written to the socket): its slab may be reused. */
  release(view: Buffer): void {
    const ab = view.buffer;
    const n = this.out.get(ab);
    if (n === undefined) return;
    if (n > 1) {
      this.out.set(ab, n - 1);
      return;
    }
    this.out.delete(ab);
    if (ab !== this.slab.buffer && ab.byteLength === this.slabSize && this.spare.length < SPARE_SLABS)
      this.spare.push(Buffer.from(ab, 0, this.slabSize));
  }

  /** The current slab is being left: keep it for reuse now if nothing taken from it is still out. */
  private retire(): void {
    const ab = this.slab.buffer;
    if (!this.out.has(ab) && this.slab.length === this.slabSize && this.spare.length < SPARE_SLABS)
      this.spare.push(this.slab);
  }

  /** New slab; the pending (untaken) bytes move with it so one take() still yields one Buffer. */
  private grow(need: number): void {
    const pending = this.pos - this.start;
    // Geometric growth: a batch that grows past the slab in many small steps is copied O(log n) times,
    // not once per command (growing to exactly pending+need made a 1 MiB batch quadratic).
    const size = Math.max(this.slabSize, 2 * (pending + need));
    const next =
      size === this.slabSize
        ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(size))
        : Buffer.allocUnsafeSlow(size);
    this.slab.copy(next, 0, this.start, this.pos);
    this.retire();
    this.slab = next;
    this.start = 0;
    this.pos = pending;
  }
}
