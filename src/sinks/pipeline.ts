/**
 * The ordered write pipeline under a standalone sink: every command and every marker (Position,
 * flush) goes through one FIFO in send order. Replies arrive in send order on one connection, so the
 * FIFO head is always the command a reply belongs to — one shared reply callback, no closure or
 * Promise per command — and a marker fires exactly when every write before it has been answered.
 *
 * Gate: in `onConflict: 'skip'` a rewritten key must not be written if it exists, so its EXISTS goes
 * out first and everything after it waits in `held` until the answer (the sink reports `needsDrain`
 * meanwhile, so `held` stays about one key's buffer). A positive answer drops the key's held commands.
 *
 * The first SELECT of each DB gates the same way (K.SELECT): a DB the target does not have answers
 * with an error, and the writes meant for that DB must not run in the DB the connection is still in.
 * Held until the answer, they are dropped with the run's failure (ERR_TARGET_DB) instead. Once per DB.
 *
 * Failure: the first fatal reply becomes `failure`; nothing more is sent, no marker fires after it,
 * and drain()/flush() reject with it.
 */
import { ReplicantError, ServerReplyError } from '../errors.js';
import type { Position, ValueType } from '../records.js';
import { type CommandArg, encodedLength } from '../resp/index.js';
import { targetWriteError } from './errors.js';
import { countSkipped, type ReplyClass, type SinkStats, type Writer } from './types.js';

/** Entry kinds: how a reply is judged. */
export const K = {
  WRITE: 0, // any error is fatal
  CMD: 1, // stream-phase command: counted when applied
  EXEC: 2, // an error inside the EXEC reply array is fatal too
  RESTORE_NX: 3, // -BUSYKEY = skipped conflict
  MODULE: 4, // a module payload the target can't load = skipped module value
  EXISTS: 5, // opens the gate; 1 = conflict
  FUNCTION: 6, // FUNCTION LOAD; "already exists" in skip mode = skipped
  SET_NX: 7, // SET … NX of a string key (skip mode): a nil reply = skipped conflict
  SELECT: 8, // first SELECT of a DB: gates like EXISTS; an error is ERR_TARGET_DB
  // Markers (no command) from here on: onReply tells them apart by `kind >= K.POSITION`.
  POSITION: 9,
  FLUSH: 10,
  KEY_DONE: 11, // marker after a key's last command: counts the key as written unless it was dropped
} as const;

export interface Entry {
  kind: number;
  /** Only while held; dropped once sent so a payload is not kept past the socket write. */
  argv: CommandArg[] | null;
  name: string;
  key: Buffer | null;
  db: number;
  /** Snapshot key the entry belongs to (-1: none); a conflict drops the key's held entries. */
  keyId: number;
  type: ValueType | null;
  module: string | null;
  pos: Position | null;
  done: ((err: Error | null) => void) | null;
  /** EXEC: the inner commands' names and keys, for the error message. */
  inner: [string, Buffer | null][] | null;
  /**
   * Keys this command completes (RESTORE, SET: 1; a batched MSET: n): its reply counts them as
   * written, as a KEY_DONE marker right behind it would — one object and one FIFO slot per key fewer.
   */
  keysDone: number;
  /** A command the caller encoded itself (sendRaw), copied while it waits behind a gate. */
  raw: Buffer | null;
}

export class WritePipeline {
  failure: ReplicantError | null = null;
  private fifo: Entry[] = [];
  private head = 0;
  private held: Entry[] = [];
  /** An EXISTS is out and everything after it waits in `held`. */
  gated = false;
  private dropKeyId = -1;
  private readonly acks: ((pos: Position) => void)[] = [];
  private gateWaiters: (() => void)[] = [];
  private readonly reply = this.onReply.bind(this);

  constructor(
    private readonly writer: Writer,
    private readonly stats: SinkStats,
    private readonly classify: ((err: Error) => ReplyClass) | undefined,
    /** Called when an EXISTS says the key is on the target (the sink stops feeding that key). */
    private readonly onConflict: (keyId: number) => void,
    /**
     * A key found on the target is an error, not a skip (several source DBs mapped into one target DB
     * in report mode: the target DB was empty, so the key came from another source DB).
     */
    private readonly conflictError: ((key: Buffer | null, db: number) => ReplicantError) | null = null,
  ) {}

  /** A snapshot key already on the target: counted as skipped, or (conflictError) the run's failure. */
  private conflict(e: Entry): void {
    if (this.conflictError !== null) this.fail(this.conflictError(e.key, e.db), null);
    else countSkipped(this.stats, 'conflict');
  }

  get needsDrain(): boolean {
    return this.failure !== null || this.gated || this.writer.needsDrain;
  }

  /** Whole number of entries waiting for a reply or a turn (for tests and status). */
  get pending(): number {
    return this.fifo.length - this.head + this.held.length;
  }

  onAck(cb: (pos: Position) => void): void {
    this.acks.push(cb);
  }

  entry(
    kind: number,
    argv: CommandArg[] | null,
    name: string,
    key: Buffer | null,
    db: number,
    keyId: number,
  ): Entry {
    return {
      kind,
      argv,
      name,
      key,
      db,
      keyId,
      type: null,
      module: null,
      pos: null,
      done: null,
      inner: null,
      keysDone: 0,
      raw: null,
    };
  }

  send(e: Entry): void {
    if (this.failure !== null) {
      e.done?.(this.failure);
      return;
    }
    if (this.gated) {
      this.held.push(e);
      return;
    }
    if (e.raw !== null) {
      const b = e.raw;
      e.raw = null;
      this.sendRaw(e, b);
      return;
    }
    if (e.argv === null) {
      // A marker: fires now when nothing is outstanding, else when the reply before it arrives.
      if (this.fifo.length === this.head) this.fire(e);
      else this.fifo.push(e);
      return;
    }
    const argv = e.argv;
    e.argv = null;
    this.fifo.push(e);
    if (e.kind === K.EXISTS || e.kind === K.SELECT) this.gated = true;
    const sent = this.writer.send(argv, this.reply);
    // The writer has just encoded it and knows its size; only a writer that doesn't say makes us count.
    const n = typeof sent === 'number' ? sent : encodedLength(argv);
    this.stats.commandsSent++;
    this.stats.bytesSent += n;
    if (n > this.stats.maxCommandBytes) this.stats.maxCommandBytes = n;
  }

  /**
   * Like send() for a command the caller encoded itself (the writer must have `sendRaw`). Behind a
   * gate (a DB's first SELECT) the bytes are copied and held: the caller reuses its buffer.
   */
  sendRaw(e: Entry, bytes: Buffer): void {
    if (this.failure !== null) return;
    if (this.gated) {
      e.raw = Buffer.from(bytes);
      this.held.push(e);
      return;
    }
    this.fifo.push(e);
    this.writer.sendRaw!(bytes, this.reply);
    this.stats.commandsSent++;
    this.stats.bytesSent += bytes.length;
    if (bytes.length > this.stats.maxCommandBytes) this.stats.maxCommandBytes = bytes.length;
  }

  async drain(): Promise<void> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      if (this.gated) {
        await new Promise<void>((r) => this.gateWaiters.push(r));
        continue;
      }
      if (!this.writer.needsDrain) return;
      try {
        await this.writer.drain();
      } catch (err) {
        this.fail(err as Error, null);
      }
    }
  }

  /** Resolves once every entry sent before it is answered. */
  flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const e = this.entry(K.FLUSH, null, 'flush', null, -1, -1);
      e.done = (err) => (err === null ? resolve() : reject(err));
      this.send(e);
    });
  }

  position(pos: Position): void {
    const e = this.entry(K.POSITION, null, 'position', null, -1, -1);
    e.pos = pos;
    this.send(e);
  }

  private fire(e: Entry): void {
    if (e.kind === K.POSITION) {
      for (const cb of this.acks) cb(e.pos!);
    } else if (e.kind === K.KEY_DONE) {
      if (e.keyId !== this.dropKeyId) this.stats.keysWritten++;
    } else e.done?.(null);
  }

  private onReply(err: Error | null, reply: unknown): void {
    const e = this.fifo[this.head];
    if (e === undefined) return; // a reply after a connection reset; the connection reports that itself
    this.fifo[this.head++] = undefined as unknown as Entry; // let the entry go
    if (this.head > 1024 && this.head * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
    if (this.failure === null) {
      this.judge(e, err, reply);
      if (e.keysDone > 0 && this.failure === null && e.keyId !== this.dropKeyId) {
        this.stats.keysWritten += e.keysDone;
      }
    }
    // Markers right behind this reply: everything before them is answered now.
    while (
      this.head < this.fifo.length &&
      this.fifo[this.head]!.argv === null &&
      this.fifo[this.head]!.kind >= K.POSITION
    ) {
      const m = this.fifo[this.head]!;
      this.fifo[this.head++] = undefined as unknown as Entry;
      if (this.failure === null) this.fire(m);
      else m.done?.(this.failure);
    }
  }

  private judge(e: Entry, err: Error | null, reply: unknown): void {
    switch (e.kind) {
      case K.CMD:
        if (err === null) this.stats.commands++;
        break;
      case K.EXEC:
        if (err === null && Array.isArray(reply)) {
          const i = reply.findIndex((r) => r instanceof Error);
          if (i >= 0) {
            const inner = e.inner?.[i];
            this.fail(reply[i] as Error, inner === undefined ? e : { ...e, name: inner[0], key: inner[1] });
            return;
          }
          this.stats.commands++;
        }
        break;
      case K.RESTORE_NX:
        if (err instanceof ServerReplyError && err.prefix === 'BUSYKEY') {
          this.stats.restored[e.type!]--;
          this.conflict(e);
          this.dropKeyId = e.keyId;
          return;
        }
        break;
      case K.SET_NX:
        if (err === null && reply === null) {
          this.stats.rewritten[e.type!]--;
          this.conflict(e);
          this.dropKeyId = e.keyId;
          return;
        }
        break;
      case K.MODULE:
        if (err instanceof ServerReplyError && /Bad data format|module/i.test(err.message)) {
          this.stats.restored.module--;
          countSkipped(this.stats, `module:${e.module}`);
          this.dropKeyId = e.keyId;
          return;
        }
        if (err instanceof ServerReplyError && err.prefix === 'BUSYKEY') {
          this.stats.restored.module--;
          this.conflict(e);
          this.dropKeyId = e.keyId;
          return;
        }
        break;
      case K.FUNCTION:
        if (err === null) this.stats.functions++;
        else if (err instanceof ServerReplyError && /already exists/i.test(err.message)) {
          countSkipped(this.stats, 'function-conflict');
          return;
        }
        break;
      case K.EXISTS:
        this.openGate(e, err === null && reply === 1);
        break;
      case K.SELECT:
        if (err !== null) {
          // Nothing held behind it runs: fail() drops it (the writes were meant for that DB).
          this.fail(err instanceof ReplicantError ? err : selectError(e.db, err), null);
          return;
        }
        this.openGate(e, false);
        break;
    }
    if (err !== null) this.fail(err, e);
  }

  private openGate(e: Entry, exists: boolean): void {
    if (exists) {
      this.stats.rewritten[e.type!]--;
      this.conflict(e);
      this.dropKeyId = e.keyId;
      this.onConflict(e.keyId);
    }
    this.gated = false;
    const q = this.held;
    this.held = [];
    for (const h of q) {
      if (h.keyId === this.dropKeyId && h.keyId !== -1) continue;
      this.send(h); // may close the gate again on the next key's EXISTS; the rest goes back to `held`
    }
    if (!this.gated) {
      const w = this.gateWaiters;
      this.gateWaiters = [];
      for (const r of w) r();
    }
  }

  /** Record the first fatal error; reject every waiter. Held entries are dropped, never sent. */
  fail(err: Error, e: Entry | null): void {
    if (this.failure !== null) return;
    let cls: ReplyClass | null = null;
    if (this.classify !== undefined && err instanceof ServerReplyError) cls = this.classify(err);
    this.failure =
      e === null
        ? err instanceof ReplicantError
          ? err
          : targetWriteError(err, 'a write', null, -1, cls)
        : targetWriteError(err, e.name, e.key, e.db, cls);
    for (let i = this.head; i < this.fifo.length; i++) this.fifo[i]!.done?.(this.failure);
    for (const h of this.held) h.done?.(this.failure);
    this.held = [];
    this.gated = false;
    const w = this.gateWaiters;
    this.gateWaiters = [];
    for (const r of w) r();
  }
}

/** The target refused SELECT db: it has fewer DBs (the up-front check could not tell, e.g. ACL). */
export function selectError(db: number, err: Error): ReplicantError {
  return new ReplicantError(
    'ERR_TARGET_DB',
    `the target refused SELECT ${db} (${err.message}): it has no DB ${db}; nothing meant for DB ${db} was written`,
    {
      hint: `map the source DB to a DB the target has (--db-map SRC:N with N below the target's \`databases\`), or raise \`databases\` in the target's config (needs a restart)`,
      cause: err,
    },
  );
}

/** A write for a DB at or above the target's known DB count: stopped before its SELECT is sent. */
export function missingDbError(db: number, count: number): ReplicantError {
  return new ReplicantError(
    'ERR_TARGET_DB',
    `a write for DB ${db} arrived, but the target has ${count} DB${count === 1 ? '' : 's'} (0-${count - 1}): the run stopped before writing it`,
    {
      hint: `map the source DB to a DB the target has (--db-map SRC:N with N below ${count}), or raise \`databases\` in the target's config (needs a restart)`,
    },
  );
}
