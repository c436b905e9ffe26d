/**
 * Replication lag from a heartbeat key (design §7): once a second we write
 * `SET <key> <now-ms> PX 5000` to the source over a separate ordinary connection; the write comes
 * back to us through the replication stream, and lag = now − the newest value seen there.
 *
 * The key is ours, not the user's: {@link HeartbeatFilter} removes it from what reaches the target —
 * from the snapshot (it may be in the RDB) and from the stream in every form the source propagates it
 * (7.0 turns the SET into `SET k v PXAT <abs>`, its expiry into `DEL k` / `UNLINK k`), inside
 * MULTI groups too.
 *
 * Without write permission on the source (ACL, read-only replica, managed service) the writer logs
 * once and stops; lag then stays unknown (null) and nothing else changes.
 */
import { ServerReplyError } from '../errors.js';
import { RedisConnection } from '../net/index.js';
import type { LinkLogger } from './handshake.js';

export const DEFAULT_HEARTBEAT_KEY = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';

/** Case-insensitive comparison of a command name (a Buffer) with a lowercase ASCII name. */
export function isCommand(name: Buffer, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    // ASCII letters only differ in bit 0x20 between cases; command names are letters (and '|').
    if ((name[i]! | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

export class HeartbeatFilter {
  readonly key: Buffer;
  /** Newest heartbeat value (ms since epoch, source writer's clock) seen in the stream. */
  newestMs: number | null = null;
  dropped = 0;

  constructor(key: string | Buffer = DEFAULT_HEARTBEAT_KEY) {
    this.key = typeof key === 'string' ? Buffer.from(key) : key;
  }

  isKey(key: Buffer): boolean {
    return key.equals(this.key);
  }

  /** now − newest heartbeat seen; null until one was seen. */
  lagMs(now = Date.now()): number | null {
    return this.newestMs === null ? null : Math.max(0, now - this.newestMs);
  }

  /**
   * The argv to forward: the same array when the command doesn't touch the key, null to drop it,
   * or (multi-key DEL/UNLINK naming the key among others) a copy without the key.
   */
  command(argv: Buffer[]): Buffer[] | null {
    if (argv.length < 2) return argv;
    const name = argv[0]!;
    if (isCommand(name, 'del') || isCommand(name, 'unlink')) {
      let hits = 0;
      for (let i = 1; i < argv.length; i++) if (argv[i]!.equals(this.key)) hits++;
      if (hits === 0) return argv;
      this.dropped++;
      if (hits === argv.length - 1) return null;
      return argv.filter((a, i) => i === 0 || !a.equals(this.key));
    }
    if (!argv[1]!.equals(this.key)) return argv;
    // Any other command whose first key is ours (SET/PXAT, PEXPIREAT, …) is ours.
    this.dropped++;
    if (isCommand(name, 'set') && argv.length >= 3) {
      const v = Number(argv[2]!.toString('latin1'));
      if (Number.isFinite(v) && (this.newestMs === null || v > this.newestMs)) this.newestMs = v;
    }
    return null;
  }
}

export interface HeartbeatWriterOptions {
  host: string;
  port: number;
  username?: string | undefined;
  password?: string | undefined;
  key?: string;
  intervalMs?: number;
  /** TTL of the key, so it vanishes from the source when we stop. Default 5000 ms. */
  ttlMs?: number;
  log?: LinkLogger;
}

const NOOP_LOG: LinkLogger = { info() {}, warn() {} };

/** Writes the heartbeat key to the source. Failures are logged once and never fail the migration. */
export class HeartbeatWriter {
  writes = 0;
  /** Why writing stopped for good (no permission / read-only), or null while it works. */
  disabledReason: string | null = null;

  private readonly o: HeartbeatWriterOptions;
  private readonly log: LinkLogger;
  private conn: RedisConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private warnedDown = false;
  private inFlight = false;

  constructor(opts: HeartbeatWriterOptions) {
    this.o = opts;
    this.log = opts.log ?? NOOP_LOG;
  }

  start(): void {
    const every = this.o.intervalMs ?? 1000;
    this.timer = setInterval(() => void this.beat(), every);
    this.timer.unref();
    void this.beat();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const c = this.conn;
    this.conn = null;
    c?.destroy();
  }

  private async beat(): Promise<void> {
    // One write at a time: a slow source must not pile up heartbeats.
    if (this.stopped || this.disabledReason || this.inFlight) return;
    this.inFlight = true;
    try {
      const conn = this.conn ?? (await this.connect());
      const key = this.o.key ?? DEFAULT_HEARTBEAT_KEY;
      await conn.call(['SET', key, Date.now(), 'PX', this.o.ttlMs ?? 5000]);
      this.writes++;
      this.warnedDown = false;
    } catch (err) {
      this.onError(err);
    } finally {
      this.inFlight = false;
    }
  }

  private onError(err: unknown): void {
    const e = err as Error & { code?: string; prefix?: string };
    // Not allowed to write (ACL, read-only replica, bad credentials): that won't change; stop.
    if (
      e instanceof ServerReplyError
        ? /^(NOPERM|READONLY|NOAUTH)$/.test(e.prefix)
        : e.code === 'ERR_AUTH' || e.code === 'ERR_NOPERM'
    ) {
      this.disabledReason = e instanceof ServerReplyError ? `-${e.message}` : `${e.code}: ${e.message}`;
      this.log.warn(
        { reply: this.disabledReason },
        'cannot write the heartbeat key on the source; replication lag will be reported as unknown',
      );
      void this.stop();
      return;
    }
    if (e instanceof ServerReplyError) {
      this.log.warn({ reply: e.message }, 'heartbeat write refused');
      return;
    }
    // Connection trouble: drop it and reconnect on the next beat; say so once per outage.
    const c = this.conn;
    this.conn = null;
    c?.destroy();
    if (!this.warnedDown && !this.stopped) {
      this.warnedDown = true;
      this.log.warn({ err: e.message }, 'heartbeat connection failed; lag unknown until it works');
    }
  }

  private async connect(): Promise<RedisConnection> {
    const conn = await RedisConnection.connect(
      {
        host: this.o.host,
        port: this.o.port,
        ...(this.o.username !== undefined ? { username: this.o.username } : {}),
        ...(this.o.password !== undefined ? { password: this.o.password } : {}),
        name: 'replicant-heartbeat',
        connectTimeoutMs: 5000,
        replyTimeoutMs: 5000,
      },
      'source',
    );
    conn.once('close', () => {
      if (this.conn === conn) this.conn = null;
    });
    if (this.stopped) conn.destroy();
    else this.conn = conn;
    return conn;
  }
}
