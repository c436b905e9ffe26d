/**
 * A pipelined connection to one Redis server: the sink's data path and the control-plane client.
 *
 * Why ours: it sits on our RESP module (byte counts, Buffers end to end) and gives the sink the
 * undici-style contract it needs — `send()` never blocks, `needsDrain` + `drain()` bound the window,
 * replies come back in order through a ring queue (no Map, no Promise, no closure per command).
 *
 * Writes: every command sent in one tick is encoded into one slab and written with one socket write
 * (a process.nextTick flush), or earlier when the batch grows past `FLUSH_BYTES`.
 *
 * Window: `needsDrain` is true while `inFlight >= maxInFlight` or `inFlightBytes >= maxInFlightBytes`.
 * Like Writable.write(), a send while it is true is still accepted; a producer that checks it before
 * each send never has more than `maxInFlight` commands, nor more than `maxInFlightBytes` plus one
 * command, unanswered.
 *
 * Events: 'close' (once; with the ReplicantError when the connection was lost, without one after
 * close()); 'error' only when someone listens — every pending callback hears the loss either way.
 * Argument Buffers are copied into the write slab before send() returns, so callers may reuse them.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ReplicantError, ServerReplyError } from '../errors.js';
import {
  type CommandArg,
  CommandWriter,
  encodedLength,
  isPush,
  NEED_MORE,
  RespDecoder,
  type RespValue,
} from '../resp/index.js';
import { authError, connectError, connectionLostError, nopermError, type Role } from './errors.js';
import { type ConnectOptions, describeEndpoint } from './url.js';

export type ReplyError = ServerReplyError | ReplicantError;
/** `tag` is whatever was passed to send(): lets one shared callback know which command replied. */
export type ReplyCallback<T = unknown> = (err: ReplyError | null, reply: RespValue, tag: T) => void;

/** A queued callback, its tag type erased (the tag is stored beside it). */
type StoredCallback = (err: ReplyError | null, reply: RespValue, tag: unknown) => void;

/**
 * Flush a batch before the tick ends once it is this big. Small on purpose: a producer that feeds
 * synchronously for a long stretch (an RDB piece) would otherwise hand the target nothing until it
 * yields, and the target would sit idle while we encode, then we would sit idle while it catches up.
 */
const FLUSH_BYTES = 64 * 1024;

export class RedisConnection extends EventEmitter {
  readonly endpoint: string;
  readonly role: Role;
  readonly maxInFlight: number;
  readonly maxInFlightBytes: number;

  /** Commands sent (queued or written) and not yet answered. */
  inFlight = 0;
  /** Encoded bytes of those commands. */
  inFlightBytes = 0;
  /** Highest `inFlight` seen (tests and metrics check the window holds). */
  peakInFlight = 0;

  private readonly socket: net.Socket;
  private readonly decoder = new RespDecoder();
  // Many flushes per slab (see CommandWriter.take): a batch rarely finds its slab too full and grows.
  private readonly writer = new CommandWriter(16 * FLUSH_BYTES);
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flush();

  // Ring queue of unanswered commands: callback, tag and encoded size (parallel arrays, grown by doubling).
  private cbs: (StoredCallback | null)[] = new Array(1024).fill(null);
  private tags: unknown[] = new Array(1024).fill(undefined);
  private sizes: number[] = new Array(1024).fill(0);
  private head = 0;
  private mask = 1023;

  private drainWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private idleWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private closedError: ReplicantError | null = null;
  private closing = false;
  private lastSocketError: Error | undefined;
  /** Time of the last reply (or of the send that made the queue non-empty), for the reply timeout. */
  private lastProgress = 0;
  private watchdog: NodeJS.Timeout | null = null;
  /** Bytes received so far (none before a close: the port may speak TLS, see connect()). */
  private bytesIn = 0;

  private constructor(socket: net.Socket, opts: ConnectOptions, role: Role) {
    super();
    this.socket = socket;
    this.role = role;
    this.endpoint = describeEndpoint(opts);
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 8192);
    this.maxInFlightBytes = Math.max(1, opts.maxInFlightBytes ?? 4 * 1024 * 1024);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => {
      this.lastSocketError = err;
    });
    socket.on('close', () => this.onClose());
    const timeout = opts.replyTimeoutMs ?? 0;
    if (timeout > 0) {
      // One coarse timer per connection instead of a timer per command.
      this.watchdog = setInterval(() => this.checkStall(timeout), Math.max(10, Math.min(1000, timeout / 4)));
      this.watchdog.unref();
    }
  }

  /**
   * TCP connect (with timeout), AUTH, CLIENT SETNAME (best effort), SELECT, and a PING that proves
   * the session is usable — pipelined in one round trip.
   */
  static async connect(opts: ConnectOptions, role: Role): Promise<RedisConnection> {
    const endpoint = describeEndpoint(opts);
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(connectError(endpoint, role, new Error(`timed out after ${timeoutMs} ms`)));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s); // the 'error' listener stays until the connection attaches its own: no unhandled error
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(connectError(endpoint, role, err));
      });
    });
    const conn = new RedisConnection(socket, opts, role);
    // What a TLS port does with our plain-text commands: TLS record bytes back, or a reset/close
    // before a single byte. Said at once, instead of "connection lost" or a RESP error.
    const tlsHint = (first: Buffer | null): ReplicantError =>
      new ReplicantError(
        'ERR_CONNECT',
        `${role} ${endpoint} ${first === null ? 'closed the connection before answering our first command' : 'answered with TLS bytes'}: this port may expect TLS (rediss://)`,
        {
          hint: `this port seems to speak TLS (a tls-port), which replicant does not support yet: use the ${role}'s plain-text port, or a TLS-terminating proxy in front of it`,
        },
      );
    conn.onFirstData = (chunk) => (looksLikeTls(chunk) ? tlsHint(chunk) : null);
    const timer = setTimeout(
      () => conn.destroy(connectError(endpoint, role, new Error(`no reply within ${timeoutMs} ms`))),
      timeoutMs,
    );
    try {
      const steps: Promise<RespValue | ReplyError>[] = [];
      const settle = (argv: CommandArg[]): Promise<RespValue | ReplyError> =>
        conn.call(argv).catch((e: ReplyError) => e);
      if (opts.password !== undefined) {
        steps.push(settle(opts.username ? ['AUTH', opts.username, opts.password] : ['AUTH', opts.password]));
      }
      const name = opts.name?.replace(/[^\x21-\x7e]/g, '-');
      const setname = name ? settle(['CLIENT', 'SETNAME', name]) : null;
      const select = opts.db !== undefined && opts.db !== 0 ? settle(['SELECT', opts.db]) : null;
      const ping = settle(['PING']);
      for (const r of [...steps, ping, select]) {
        const v = r === null ? null : await r;
        if (v instanceof ReplicantError) throw v;
        if (v instanceof ServerReplyError) throw handshakeError(endpoint, role, v, opts, r === select);
      }
      await setname; // best effort: old servers or ACLs may refuse it
      return conn;
    } catch (err) {
      conn.destroy();
      if (conn.bytesIn === 0 && err instanceof ReplicantError && /CONNECTION_LOST$/.test(err.code))
        throw tlsHint(null);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get needsDrain(): boolean {
    return this.inFlight >= this.maxInFlight || this.inFlightBytes >= this.maxInFlightBytes;
  }

  /** True once the connection is closed or lost. */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /**
   * Queues one command. `cb` runs once with the reply (or a ServerReplyError, or the connection-lost
   * ReplicantError). Never throws; never blocks. Argument Buffers are copied before send() returns.
   * Returns the encoded size (the sink counts bytes without encoding twice).
   */
  send<T = undefined>(argv: ReadonlyArray<CommandArg>, cb: ReplyCallback<T>, tag?: T): number {
    if (this.closedError !== null || this.closing) {
      const err =
        this.closedError ?? connectionLostError(this.endpoint, this.role, 0, new Error('closed by us'));
      process.nextTick(cb, err, null, tag);
      return encodedLength(argv);
    }
    const size = this.writer.write(argv);
    this.queue(size, cb as StoredCallback, tag);
    return size;
  }

  /**
   * Queues one command that is already RESP-encoded (exactly one command: one reply). Same contract
   * as send(); the bytes are copied before it returns.
   */
  sendRaw<T = undefined>(bytes: Buffer, cb: ReplyCallback<T>, tag?: T): void {
    if (this.closedError !== null || this.closing) {
      const err =
        this.closedError ?? connectionLostError(this.endpoint, this.role, 0, new Error('closed by us'));
      process.nextTick(cb, err, null, tag);
      return;
    }
    this.writer.writeRaw(bytes);
    this.queue(bytes.length, cb as StoredCallback, tag);
  }

  private queue(size: number, cb: StoredCallback, tag: unknown): void {
    if (this.inFlight > this.mask) this.grow();
    const i = (this.head + this.inFlight) & this.mask;
    this.cbs[i] = cb; // the tag stored beside it has the type the caller's callback expects
    this.tags[i] = tag;
    this.sizes[i] = size;
    if (this.inFlight++ === 0) this.lastProgress = Date.now();
    this.inFlightBytes += size;
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    if (this.writer.length >= FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushBound);
    }
  }

  /** Control plane: one command as a Promise (rejects with ServerReplyError or ReplicantError). */
  call(argv: ReadonlyArray<CommandArg>): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      this.send(argv, (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  }

  /**
   * Resolves once the window has drained to half (or at once when `needsDrain` is false); rejects if
   * the connection is lost.
   */
  drain(): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (!this.needsDrain) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  /** Resolves when every command sent so far has been answered. */
  idle(): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
  }

  /** Graceful: waits for the replies of everything sent, then closes. */
  async close(): Promise<void> {
    if (this.closedError) return;
    try {
      await this.idle();
    } catch {
      return;
    }
    this.closing = true;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  /** Immediate: pending callbacks fail with `err` (or a connection-lost error). */
  destroy(err?: ReplicantError): void {
    if (this.closedError) return;
    this.fail(err ?? connectionLostError(this.endpoint, this.role, this.inFlight, new Error('closed by us')));
    this.socket.destroy();
  }

  private belowLowWater(): boolean {
    return this.inFlight <= this.maxInFlight >>> 1 && this.inFlightBytes <= this.maxInFlightBytes / 2;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.writer.length === 0 || this.closedError) return;
    const out = this.writer.take();
    this.socket.write(out, () => this.writer.release(out)); // written out (or failed): the slab is free
  }

  /** Set by connect(): judges the first bytes (a TLS port); an error ends the connection with it. */
  private onFirstData: ((chunk: Buffer) => ReplicantError | null) | null = null;

  private onData(chunk: Buffer): void {
    if (this.watchdog) this.lastProgress = Date.now(); // per chunk, not per reply
    if (this.bytesIn === 0 && this.onFirstData !== null) {
      const e = this.onFirstData(chunk);
      this.onFirstData = null;
      if (e !== null) {
        this.bytesIn += chunk.length;
        this.destroy(e);
        return;
      }
    }
    this.bytesIn += chunk.length;
    this.decoder.feed(chunk);
    for (;;) {
      let v: RespValue | typeof NEED_MORE;
      try {
        v = this.decoder.next();
      } catch (err) {
        // The decoder knows the bytes, not the side: say which server sent them.
        const e = err as ReplicantError;
        this.destroy(
          new ReplicantError(
            'ERR_PROTOCOL',
            `${this.role} ${this.endpoint} sent a reply that is not RESP: ${e.message}`,
            {
              hint: e.hint ?? `check that ${this.endpoint} is a Redis or Valkey server`,
              cause: e,
            },
          ),
        );
        return;
      }
      if (v === NEED_MORE) break;
      if (isPush(v)) continue; // RESP3 out-of-band data (invalidation, pub/sub) never answers a command
      if (this.inFlight === 0) {
        this.destroy(
          new ReplicantError('ERR_PROTOCOL', `${this.role} ${this.endpoint} sent a reply nobody asked for`, {
            hint: 'another client may share this connection, or a proxy is misbehaving',
          }),
        );
        return;
      }
      const i = this.head;
      const cb = this.cbs[i]!;
      const tag = this.tags[i];
      this.inFlightBytes -= this.sizes[i]!;
      this.cbs[i] = null; // let the callback's captured state go
      this.tags[i] = undefined;
      this.head = (i + 1) & this.mask;
      this.inFlight--;
      try {
        if (v instanceof ServerReplyError) cb(v, null, tag);
        else cb(null, v, tag);
      } catch (err) {
        // A throwing callback is a bug in the caller; report it without desynchronising the queue.
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else
          process.nextTick(() => {
            throw err;
          });
      }
    }
    // Hysteresis: waiters wake at half a window, so a saturated producer awaits once per half
    // window rather than once per reply (no Promise per command).
    if (this.drainWaiters.length > 0 && this.belowLowWater()) settle(this.drainWaiters);
    if (this.inFlight === 0) settle(this.idleWaiters);
  }

  private onClose(): void {
    if (this.closedError) return;
    if (this.closing && this.inFlight === 0) {
      if (this.watchdog) clearInterval(this.watchdog);
      this.closedError = connectionLostError(this.endpoint, this.role, 0, new Error('closed by us'));
      this.emit('close');
      return;
    }
    this.fail(connectionLostError(this.endpoint, this.role, this.inFlight, this.lastSocketError));
  }

  /** Fails every pending callback and waiter, once. */
  private checkStall(timeout: number): void {
    if (this.inFlight === 0 || this.closedError) return;
    if (Date.now() - this.lastProgress < timeout) return;
    const code = this.role === 'target' ? 'ERR_TARGET_TIMEOUT' : 'ERR_SOURCE_TIMEOUT';
    this.destroy(
      new ReplicantError(
        code,
        `${this.role} ${this.endpoint} sent no reply for ${timeout} ms with ${this.inFlight} command(s) outstanding`,
        {
          hint: `the ${this.role} is stalled or the network dropped silently; check its SLOWLOG and latency, or raise the reply timeout`,
        },
      ),
    );
  }

  private fail(err: ReplicantError): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.closedError = err;
    const n = this.inFlight;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) & this.mask;
      const cb = this.cbs[i]!;
      const tag = this.tags[i];
      this.cbs[i] = null;
      this.tags[i] = undefined;
      try {
        cb(err, null, tag);
      } catch {
        // the connection is gone already; one bad callback must not stop the others from hearing it
      }
    }
    this.inFlight = 0;
    this.inFlightBytes = 0;
    for (const w of this.drainWaiters.splice(0)) w.reject(err);
    for (const w of this.idleWaiters.splice(0)) w.reject(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close', err);
  }

  private grow(): void {
    const n = this.mask + 1;
    const cbs: (StoredCallback | null)[] = new Array(n * 2).fill(null);
    const tags: unknown[] = new Array(n * 2).fill(undefined);
    const sizes: number[] = new Array(n * 2).fill(0);
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) & this.mask;
      cbs[k] = this.cbs[i]!;
      tags[k] = this.tags[i];
      sizes[k] = this.sizes[i]!;
    }
    this.cbs = cbs;
    this.tags = tags;
    this.sizes = sizes;
    this.head = 0;
    this.mask = n * 2 - 1;
  }
}

/** A TLS record header (alert 0x15 or handshake 0x16, version 3.x): a TLS server answering plain text. */
function looksLikeTls(chunk: Buffer): boolean {
  return chunk.length >= 2 && (chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03;
}

function settle(waiters: { resolve: () => void }[]): void {
  if (waiters.length === 0) return;
  for (const w of waiters.splice(0)) w.resolve();
}

function handshakeError(
  endpoint: string,
  role: Role,
  reply: ServerReplyError,
  opts: ConnectOptions,
  isSelect: boolean,
): ReplicantError {
  const msg = reply.message;
  if (reply.prefix === 'NOPERM') return nopermError(endpoint, role, msg, opts.username);
  if (
    reply.prefix === 'WRONGPASS' ||
    reply.prefix === 'NOAUTH' ||
    /invalid (?:username-)?password|without any password configured/i.test(msg)
  ) {
    return authError(endpoint, role, msg, opts.username);
  }
  if (isSelect) {
    return new ReplicantError('ERR_CONFIG', `${role} ${endpoint} refused SELECT ${opts.db}: ${msg}`, {
      hint: 'a cluster has only db 0, and a standalone server has `databases` dbs (16 by default): fix the /db in the URL',
      cause: reply,
    });
  }
  return new ReplicantError('ERR_CONNECT', `${role} ${endpoint} refused the connection setup: ${msg}`, {
    hint: `check that ${endpoint} is a Redis or Valkey server that accepts clients (not LOADING, not at maxclients)`,
    cause: reply,
  });
}
