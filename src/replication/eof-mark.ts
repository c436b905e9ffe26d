/**
 * End detection for the diskless transfer form `$EOF:<mark>\r\n` + RDB + mark (docs/protocol.md
 * §1.2; `RDB_EOF_MARK_SIZE` = 40). The mark can arrive split across any number of reads, and must
 * never reach the RDB consumer. We hold back the newest 39 bytes (a mark completed by a later read
 * must start inside them) and search the small window "held tail + start of the new chunk" apart from
 * the chunk itself, so a big chunk is never copied.
 */
export const RDB_EOF_MARK_SIZE = 40;

const EMPTY = Buffer.alloc(0);
const KEEP = RDB_EOF_MARK_SIZE - 1;

export class EofMarkScanner {
  private readonly mark: Buffer;
  /** The newest ≤ 39 bytes: not yet known to be RDB rather than the start of the mark. */
  private held: Buffer = EMPTY;

  constructor(mark: Buffer) {
    this.mark = mark;
  }

  /**
   * Hands every byte known to be RDB to `out`, in order. Returns null while the mark hasn't been
   * seen, or the bytes that followed the mark once it has (normally empty: masters wait for our ACK).
   */
  feed(chunk: Buffer, out: (rdb: Buffer) => void): Buffer | null {
    const held = this.held;
    if (held.length > 0) {
      // A mark straddling held|chunk must start inside `held`, so this window is enough.
      const win = Buffer.concat([held, chunk.subarray(0, KEEP)]);
      const at = win.indexOf(this.mark);
      if (at !== -1) {
        if (at > 0) out(win.subarray(0, at));
        this.held = EMPTY;
        return chunk.subarray(at + RDB_EOF_MARK_SIZE - held.length);
      }
    }
    const at = chunk.indexOf(this.mark);
    if (at !== -1) {
      if (held.length > 0) out(held);
      if (at > 0) out(chunk.subarray(0, at));
      this.held = EMPTY;
      return chunk.subarray(at + RDB_EOF_MARK_SIZE);
    }
    if (held.length + chunk.length <= KEEP) {
      this.held = Buffer.concat([held, chunk]);
    } else if (chunk.length >= KEEP) {
      if (held.length > 0) out(held);
      if (chunk.length > KEEP) out(chunk.subarray(0, chunk.length - KEEP));
      // Copy the small tail so we don't pin a whole socket chunk.
      this.held = Buffer.from(chunk.subarray(chunk.length - KEEP));
    } else {
      const both = Buffer.concat([held, chunk]);
      out(both.subarray(0, both.length - KEEP));
      this.held = both.subarray(both.length - KEEP);
    }
    return null;
  }
}
