/**
 * The replica link (docs/design.md §2, docs/protocol.md §1): one raw TCP connection to the source on
 * which we pose as a replica. It does the handshake, receives the RDB in either transfer form, and
 * then the replication stream — and it reads all of it at network speed into a {@link Spool}, never
 * waiting for the pipeline (design §4: a slow reader gets dropped by the source's output-buffer limit).
 *
 * What goes into the spool: RDB bytes (FRAME_RDB, never the `$…` preamble nor the `$EOF:` mark), one
 * FRAME_RDB_END, then stream bytes (FRAME_STREAM) exactly as received. The consumer parses the stream
 * (offsets are counted per command there) and tells the link about `REPLCONF GETACK` and about the
 * offset the target has acknowledged; the link turns those into `REPLCONF ACK`s.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeCommand } from '../resp/index.js';
import { EofMarkScanner, RDB_EOF_MARK_SIZE } from './eof-mark.js';
import { ReplicantError } from '../errors.js';
import {
  SourceError,
  abortedError,
  busyError,
  connectError,
  lostError,
  nopermError,
  protocolError,
  silentError,
} from './errors.js';
import {
  LineReader,
  type LinkLogger,
  type ResumePoint,
  type SyncStart,
  TransientReply,
  handshake,
} from './handshake.js';
import { FRAME_RDB, FRAME_RDB_END, FRAME_STREAM, Spool, type SpoolOptions } from './spool.js';

export type { LinkLogger, ResumePoint, SyncStart } from './handshake.js';

export interface ReplicaLinkOptions {
  host: string;
  port: number;
  username?: string | undefined;
  password?: string | undefined;
  /** Port announced with REPLCONF listening-port (informative only: INFO replication shows it). Default 0. */
  listeningPort?: number;
  /** Ask for a partial resync from here instead of a full copy. */
  resume?: ResumePoint | undefined;
  spool?: SpoolOptions;
  connectTimeoutMs?: number;
  /**
   * No byte for this long (keepalives and PINGs included) = link lost. Default 60 s, Redis's own
   * `repl-timeout` default: a live master PINGs its replicas every `repl-ping-replica-period` (10 s)
   * and sends `\n` keepalives while it prepares and transfers the RDB. `REPLICANT_REPL_TIMEOUT_MS`
   * overrides the default (tests use it to see a silent source fail in seconds).
   */
  readTimeoutMs?: number;
  /** Period of `REPLCONF ACK`. Default 1000 ms (the source drops replicas silent for repl-timeout). */
  ackIntervalMs?: number;
  /** Reconnects after `-LOADING` / `-NOMASTERLINK` and friends. */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  log?: LinkLogger;
}

export type LinkPhase = 'connecting' | 'waiting-bgsave' | 'transfer' | 'stream' | 'closed';

const NOOP_LOG: LinkLogger = { info() {}, warn() {} };

type Mode = 'lines' | 'preamble' | 'rdb-len' | 'rdb-eof' | 'stream' | 'off';

export class ReplicaLink {
  readonly spool: Spool;
  readonly addr: string;
  phase: LinkPhase = 'connecting';
  /** How the source answered PSYNC; null until `start()` resolved. */
  sync: SyncStart | null = null;
  /** RDB size when sent as `$<len>`; for diskless transfers known only at the end. */
  rdbSize: number | null = null;
  rdbReceived = 0;
  /** Stream bytes received (counted in the source's offset space from `sync.offset`). */
  streamReceived = 0;
  /** Offset whose writes the target has acknowledged (what our ACKs report). */
  ackedOffset = 0;
  acksSent = 0;

  private readonly o: ReplicaLinkOptions;
  private readonly log: LinkLogger;
  private sock: net.Socket | null = null;
  private mode: Mode = 'off';
  private lines = new LineReader();
  private pre: Buffer = Buffer.alloc(0);
  private rdbLeft = 0;
  private eof: EofMarkScanner | null = null;
  private readonly pushRdbBound = (b: Buffer): void => this.pushRdb(b);
  private ackTimer: NodeJS.Timeout | null = null;
  private kickTimer: NodeJS.Timeout | null = null;
  /** Offset a GETACK asked about; an ACK goes out as soon as the target has caught up with it. */
  private getAckWanted = -1;
  private closing = false;
  private lastReadAt = 0;
  /** Bytes received on the current connection (0 = nothing yet: a reset then hints at TLS). */
  private connBytes = 0;

  constructor(opts: ReplicaLinkOptions) {
    this.o = opts;
    this.addr = `${opts.host}:${opts.port}`;
    this.log = opts.log ?? NOOP_LOG;
    this.spool = new Spool(opts.spool);
  }

  /** Offset of the last stream byte received (not necessarily parsed or applied). */
  get receivedOffset(): number {
    return (this.sync?.offset ?? 0) + this.streamReceived;
  }

  /**
   * Connect, handshake, and start receiving. Resolves once the source said how it will sync; the
   * data then arrives in `spool`. Rejects with a SourceError (ERR_SOURCE_CONNECT, _AUTH, _NOPERM, …).
   */
  async start(): Promise<SyncStart> {
    const attempts = this.o.retry?.attempts ?? 30;
    let delay = this.o.retry?.baseDelayMs ?? 200;
    for (let attempt = 1; ; attempt++) {
      try {
        const sync = await this.connectAndHandshake();
        this.begin(sync);
        return sync;
      } catch (err) {
        this.dropSocket();
        if (!(err instanceof TransientReply)) {
          // Only our typed errors leave here: anything else the handshake met is the source's doing.
          if (err instanceof ReplicantError) throw err;
          throw protocolError(this.addr, `${(err as Error).message} during the handshake`);
        }
        if (attempt >= attempts || this.closing) throw busyError(this.addr, err.reply, attempt);
        this.log.warn({ reply: err.reply, attempt, delayMs: delay }, 'source not ready; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, this.o.retry?.maxDelayMs ?? 5000);
      }
    }
  }

  /** The pipeline reports the offset the target has acknowledged; reported by the next ACK. */
  setAckedOffset(offset: number): void {
    if (offset <= this.ackedOffset) return;
    this.ackedOffset = offset;
    if (this.getAckWanted >= 0 && offset >= this.getAckWanted) {
      // Someone is blocked in WAIT: tell the source now rather than at the next tick.
      this.getAckWanted = -1;
      this.sendAck();
    }
  }

  /**
   * The consumer parsed `REPLCONF GETACK` ending at `offset`. Answer at once with what the target has
   * acknowledged, and again as soon as the target has caught up with the GETACK (so WAIT returns
   * promptly without ever over-reporting).
   */
  getAck(offset: number): void {
    this.sendAck();
    if (this.ackedOffset < offset) this.getAckWanted = offset;
  }

  /** Send a final ACK and close the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.ackTimer) clearInterval(this.ackTimer);
    this.ackTimer = null;
    this.stopKick();
    if (this.mode === 'lines') {
      // Still in the handshake: make start() fail instead of waiting for a reply that won't come.
      this.lines.fail(new Error('link closed during the handshake'));
      this.dropSocket();
    }
    const sock = this.sock;
    if (sock && !sock.destroyed) {
      if (this.phase === 'stream') this.sendAck();
      const closed = new Promise<void>((r) => sock.once('close', () => r()));
      sock.end();
      // A source that doesn't close its side promptly is cut off; the ACK was already flushed.
      const t = setTimeout(() => sock.destroy(), 1000);
      await closed;
      clearTimeout(t);
    }
    this.phase = 'closed';
    this.mode = 'off';
    this.spool.close();
  }

  private connectAndHandshake(): Promise<SyncStart> {
    this.phase = 'connecting';
    this.lines = new LineReader();
    this.mode = 'lines';
    return new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect({ host: this.o.host, port: this.o.port });
      this.sock = sock;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(connectError(this.addr, new Error(`timed out after ${this.o.connectTimeoutMs ?? 10_000} ms`)));
      }, this.o.connectTimeoutMs ?? 10_000);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.off('error', onConnectError);
        resolve(sock);
      });
      const onConnectError = (e: Error): void => {
        clearTimeout(timer);
        reject(connectError(this.addr, e));
      };
      sock.once('error', onConnectError);
      // close() while connecting destroys the socket without an error: don't wait forever.
      sock.once('close', () => {
        clearTimeout(timer);
        reject(lostError(this.addr, 'connect'));
      });
    }).then((sock) => {
      sock.setNoDelay(true);
      sock.setKeepAlive(true, 10_000);
      this.connBytes = 0;
      sock.on('data', (chunk: Buffer) => {
        this.lastReadAt = Date.now();
        if (this.connBytes === 0 && looksLikeTls(chunk)) {
          this.connBytes += chunk.length;
          this.fail(tlsError(this.addr));
          return;
        }
        this.connBytes += chunk.length;
        this.onData(chunk);
      });
      this.startWatchdog(sock);
      sock.on('error', (e) => this.lost(sock, e));
      sock.on('close', () => this.lost(sock, undefined));
      return handshake(sock, this.lines, {
        addr: this.addr,
        username: this.o.username,
        password: this.o.password,
        listeningPort: this.o.listeningPort ?? 0,
        resume: this.o.resume,
        log: this.log,
      });
    });
  }

  private begin(sync: SyncStart): void {
    this.sync = sync;
    const rest = this.lines.rest();
    if (sync.mode === 'continue') {
      this.ackedOffset = sync.offset; // everything up to the resume point was applied before
      this.log.info({ replid: sync.replid, offset: sync.offset }, 'partial resync accepted');
      this.enterStream();
    } else {
      this.log.info({ mode: sync.mode, replid: sync.replid, offset: sync.offset }, 'full sync starting');
      this.phase = 'waiting-bgsave';
      this.mode = 'preamble';
    }
    if (rest.length > 0) this.onData(rest);
  }

  private onData(chunk: Buffer): void {
    try {
      switch (this.mode) {
        case 'lines':
          this.lines.feed(chunk);
          return;
        case 'preamble':
          this.onPreamble(chunk);
          return;
        case 'rdb-len':
          this.onRdbLen(chunk);
          return;
        case 'rdb-eof':
          this.onRdbEof(chunk);
          return;
        case 'stream':
          this.streamReceived += chunk.length;
          this.spool.push(FRAME_STREAM, chunk);
          return;
        case 'off':
          return;
      }
    } catch (err) {
      // Spool full (or a protocol violation): nothing sensible can follow on this connection.
      this.fail(err as Error);
    }
  }

  /** Before the RDB: `\n` keepalives, then `$<len>\r\n`, `$EOF:<mark>\r\n`, or `-error`. */
  private onPreamble(chunk: Buffer): void {
    let buf = this.pre.length > 0 ? Buffer.concat([this.pre, chunk]) : chunk;
    let i = 0;
    while (i < buf.length && buf[i] === 10) i++;
    buf = buf.subarray(i);
    const nl = buf.indexOf(10);
    if (nl === -1) {
      if (buf.length > 1024) throw protocolError(this.addr, 'RDB preamble line too long');
      this.pre = buf;
      return;
    }
    this.pre = Buffer.alloc(0);
    const line = buf.toString('latin1', 0, nl > 0 && buf[nl - 1] === 13 ? nl - 1 : nl);
    const rest = buf.subarray(nl + 1);
    if (line.startsWith('$EOF:')) {
      const mark = Buffer.from(line.slice(5), 'latin1');
      if (mark.length !== RDB_EOF_MARK_SIZE) throw protocolError(this.addr, `bad EOF mark: ${line}`);
      this.eof = new EofMarkScanner(mark);
      this.mode = 'rdb-eof';
      this.phase = 'transfer';
      this.log.info({ form: 'diskless' }, 'receiving RDB');
    } else if (/^\$\d+$/.test(line)) {
      this.rdbSize = Number(line.slice(1));
      this.rdbLeft = this.rdbSize;
      this.mode = 'rdb-len';
      this.phase = 'transfer';
      this.log.info({ form: 'disk', bytes: this.rdbSize }, 'receiving RDB');
    } else if (line.startsWith('-NOPERM')) {
      throw nopermError(this.addr, line, this.o.username);
    } else if (line.startsWith('-')) {
      throw abortedError(this.addr, line);
    } else {
      throw protocolError(this.addr, `expected the RDB preamble, got ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (this.rdbLeft === 0 && this.mode === 'rdb-len') this.endRdb(false);
    if (rest.length > 0) this.onData(rest);
  }

  /** `$<len>` form: exactly len bytes, no trailing CRLF; the stream follows right away. */
  private onRdbLen(chunk: Buffer): void {
    const n = Math.min(this.rdbLeft, chunk.length);
    if (n > 0) {
      this.spool.push(FRAME_RDB, n === chunk.length ? chunk : chunk.subarray(0, n));
      this.rdbReceived += n;
      this.rdbLeft -= n;
    }
    if (this.rdbLeft > 0) return;
    this.endRdb(false);
    if (n < chunk.length) this.onData(chunk.subarray(n));
  }

  /** `$EOF:<mark>` form: see eof-mark.ts. */
  private onRdbEof(chunk: Buffer): void {
    const after = this.eof!.feed(chunk, this.pushRdbBound);
    if (after === null) return;
    this.eof = null;
    this.rdbSize = this.rdbReceived;
    this.endRdb(true);
    // Masters wait for our first ACK before streaming, so this is normally empty.
    if (after.length > 0) this.onData(after);
  }

  private pushRdb(b: Buffer): void {
    this.spool.push(FRAME_RDB, b);
    this.rdbReceived += b.length;
  }

  private endRdb(diskless: boolean): void {
    this.spool.push(FRAME_RDB_END, Buffer.alloc(0));
    this.log.info({ bytes: this.rdbReceived }, 'RDB received');
    this.enterStream();
    // The source starts streaming after a diskless transfer only once it sees an ACK *after* it
    // marked us online, which may be a moment after it sent the mark (the RDB child's exit is
    // noticed later). So ACK now and a few more times shortly after, instead of waiting a full
    // ACK period (or forever, under SYNC) for the stream to start.
    if (diskless) {
      this.sendAck(true);
      let kicks = 0;
      this.kickTimer = setInterval(() => {
        if (++kicks > 20 || this.streamReceived > 0 || this.mode !== 'stream') this.stopKick();
        else this.sendAck(true);
      }, 50);
    }
  }

  private stopKick(): void {
    if (this.kickTimer) clearInterval(this.kickTimer);
    this.kickTimer = null;
  }

  private enterStream(): void {
    this.mode = 'stream';
    this.phase = 'stream';
    if (this.sync?.mode === 'sync') return; // SYNC replicas are never expected to ACK
    const every = this.o.ackIntervalMs ?? 1000;
    this.ackTimer = setInterval(() => this.sendAck(), every);
    this.ackTimer.unref();
  }

  private sendAck(force = false): void {
    const sock = this.sock;
    if (!sock || sock.destroyed || (this.sync?.mode === 'sync' && !force)) return;
    sock.write(encodeCommand(['REPLCONF', 'ACK', this.ackedOffset]));
    this.acksSent++;
  }

  private fail(err: Error): void {
    this.mode = 'off';
    if (this.ackTimer) clearInterval(this.ackTimer);
    this.ackTimer = null;
    this.stopKick();
    this.spool.fail(err);
    this.lines.fail(err);
    this.sock?.destroy();
  }

  /** The socket ended, errored or timed out. Before `close()` that is always a lost link. */
  private lost(sock: net.Socket, cause: Error | undefined): void {
    if (sock !== this.sock || this.closing || this.mode === 'off') return;
    // Closed before a single byte came back: what a TLS port does with our plain-text PING.
    if (this.mode === 'lines' && this.connBytes === 0) {
      this.fail(tlsError(this.addr, cause));
      return;
    }
    this.fail(lostError(this.addr, this.during(), cause));
  }

  private during(): string {
    return this.mode === 'lines'
      ? 'the handshake'
      : this.mode === 'stream'
        ? 'the stream'
        : 'the RDB transfer';
  }

  /**
   * Read-idle watchdog. Not socket.setTimeout(): that counts our own writes as activity, and our
   * ACKs every second would keep a dead source looking alive forever.
   */
  private startWatchdog(sock: net.Socket): void {
    const limit = this.o.readTimeoutMs ?? envTimeoutMs() ?? 60_000;
    this.lastReadAt = Date.now();
    const t = setInterval(
      () => {
        if (sock !== this.sock || sock.destroyed) clearInterval(t);
        else if (Date.now() - this.lastReadAt > limit) {
          clearInterval(t);
          if (!this.closing && this.mode !== 'off') this.fail(silentError(this.addr, limit, this.during()));
        }
      },
      Math.min(1000, Math.max(10, limit / 4)),
    );
    t.unref();
  }

  private dropSocket(): void {
    const s = this.sock;
    this.sock = null;
    this.mode = 'off';
    s?.destroy();
  }
}

/** `REPLICANT_REPL_TIMEOUT_MS`: the read timeout's default, for tests and unusual sources. */
function envTimeoutMs(): number | undefined {
  const v = Number(process.env.REPLICANT_REPL_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** A TLS record header (alert 0x15 or handshake 0x16, version 3.x): a TLS server answering plain text. */
export function looksLikeTls(chunk: Buffer): boolean {
  return chunk.length >= 2 && (chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03;
}

function tlsError(addr: string, cause?: unknown): SourceError {
  return new SourceError(
    'ERR_SOURCE_CONNECT',
    `source ${addr} closed the connection before answering our first command${cause instanceof Error ? ` (${cause.message})` : ''}, or answered with TLS bytes: this port may expect TLS (rediss://)`,
    "this port seems to speak TLS (a tls-port), which replicant does not support yet: use the server's plain-text port, or a TLS-terminating proxy in front of it",
    cause,
  );
}
