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
import net from 'node:net';
import { encodeCommand } from '../resp/index.js';
import { LineReader, type LinkLogger } from './handshake.js';

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
  private sock: net.Socket | null = null;
  private lines = new LineReader();
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
    this.sock?.destroy();
    this.sock = null;
  }

  private async beat(): Promise<void> {
    // One write at a time: a slow source must not pile up heartbeats (and replies out of order).
    if (this.stopped || this.disabledReason || this.inFlight) return;
    this.inFlight = true;
    try {
      const sock = this.sock ?? (await this.connect());
      const key = this.o.key ?? DEFAULT_HEARTBEAT_KEY;
      sock.write(encodeCommand(['SET', key, Date.now(), 'PX', this.o.ttlMs ?? 5000]));
      const r = await this.lines.line();
      if (r.startsWith('+')) {
        this.writes++;
        this.warnedDown = false;
      } else if (/^-(NOPERM|READONLY|NOAUTH|WRONGPASS|ERR.*(permission|read.?only))/i.test(r)) {
        this.disable(r);
      } else {
        this.log.warn({ reply: r }, 'heartbeat write refused');
      }
    } catch (err) {
      this.sock?.destroy();
      this.sock = null;
      if (!this.warnedDown && !this.stopped) {
        this.warnedDown = true;
        this.log.warn(
          { err: (err as Error).message },
          'heartbeat connection failed; lag unknown until it works',
        );
      }
    } finally {
      this.inFlight = false;
    }
  }

  private disable(reply: string): void {
    this.disabledReason = reply;
    this.log.warn(
      { reply },
      'cannot write the heartbeat key on the source; replication lag will be reported as unknown',
    );
    void this.stop();
  }

  private connect(): Promise<net.Socket> {
    this.lines = new LineReader();
    const lines = this.lines;
    return new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect({ host: this.o.host, port: this.o.port });
      sock.setTimeout(5000);
      sock.on('data', (d: Buffer) => lines.feed(d));
      sock.on('timeout', () => sock.destroy(new Error('heartbeat connection timed out')));
      sock.on('error', (e) => {
        lines.fail(e);
        reject(e);
      });
      sock.on('close', () => lines.fail(new Error('heartbeat connection closed')));
      sock.once('connect', () => resolve(sock));
    }).then(async (sock) => {
      this.sock = sock;
      if (this.o.password !== undefined) {
        const u = this.o.username;
        sock.write(encodeCommand(u ? ['AUTH', u, this.o.password] : ['AUTH', this.o.password]));
        const r = await lines.line();
        if (!r.startsWith('+')) {
          this.disable(r);
          throw new Error(r);
        }
      }
      return sock;
    });
  }
}
