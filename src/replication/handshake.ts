/**
 * The replica handshake (docs/protocol.md §1.1, §1.8): PING → [AUTH] → REPLCONF listening-port →
 * REPLCONF capa eof capa psync2 → PSYNC (or SYNC as the fallback: PSYNC unknown, or denied by ACL). Every reply is one line; bare
 * `\n` keepalives before a reply are skipped. Runs once per connection, so it may await per line.
 */
import type net from 'node:net';
import { encodeCommand } from '../resp/index.js';
import { SourceError, authError, isTransient, nopermError, protocolError } from './errors.js';

/**
 * Where to resume: the replid and the offset of the last byte applied (PSYNC asks for offset + 1),
 * and the db the stream was in there (after +CONTINUE no SELECT is re-sent).
 */
export interface ResumePoint {
  replid: string;
  offset: number;
  db?: number;
}

export interface HandshakeOptions {
  addr: string;
  username?: string | undefined;
  password?: string | undefined;
  listeningPort: number;
  resume?: ResumePoint | undefined;
  log: LinkLogger;
}

export interface LinkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** How the source answered: a full copy follows, the backlog follows, or legacy SYNC (no offsets). */
export interface SyncStart {
  mode: 'full' | 'continue' | 'sync';
  /** 40-hex replication id; '' under SYNC (unknown). */
  replid: string;
  /** Offset the stream starts after (FULLRESYNC offset, or the resume offset); 0 under SYNC. */
  offset: number;
}

/** Thrown when the source answered with a transient error: the caller reconnects after a backoff. */
export class TransientReply extends Error {
  constructor(readonly reply: string) {
    super(reply);
  }
}

/** Collects socket bytes and hands out `\r\n`-terminated lines; the rest stays for the transfer. */
export class LineReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (l: string) => void; reject: (e: Error) => void } | null = null;
  private failed: Error | null = null;

  feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.pump();
  }

  fail(err: Error): void {
    this.failed = err;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }

  /** Next non-empty line without its terminator (a lone `\n` is a keepalive and is skipped). */
  line(): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.pump();
    });
  }

  /** Bytes received after the last line handed out (the start of the RDB or of the stream). */
  rest(): Buffer {
    const b = this.buf;
    this.buf = Buffer.alloc(0);
    return b;
  }

  private pump(): void {
    if (!this.waiting) return;
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl === -1) {
        // Handshake replies are short; a long line without a terminator is not a Redis reply.
        if (this.buf.length > 64 * 1024) this.fail(new Error('reply line longer than 64 KiB'));
        return;
      }
      const end = nl > 0 && this.buf[nl - 1] === 13 ? nl - 1 : nl;
      const line = this.buf.toString('latin1', 0, end);
      this.buf = this.buf.subarray(nl + 1);
      if (line.length === 0) continue;
      const w = this.waiting;
      this.waiting = null;
      w.resolve(line);
      return;
    }
  }
}

/**
 * Run the handshake on a connected socket whose data goes to `lines`. Resolves with the sync mode;
 * the bytes after the PSYNC/SYNC reply stay in `lines.rest()`.
 */
export async function handshake(
  sock: net.Socket,
  lines: LineReader,
  o: HandshakeOptions,
): Promise<SyncStart> {
  const ask = async (args: (string | number)[]): Promise<string> => {
    sock.write(encodeCommand(args));
    const reply = await lines.line();
    if (isTransient(reply)) throw new TransientReply(reply);
    return reply;
  };
  const user = o.username;

  const pong = await ask(['PING']);
  // -NOAUTH / -NOPERM / the pre-2.8 text mean "alive, but authenticate first" (like a real replica).
  const needAuth = /^-(NOAUTH|NOPERM|ERR operation not permitted)/.test(pong);
  if (!pong.startsWith('+') && !needAuth) throw protocolError(o.addr, `PING answered ${pong}`);
  if (o.password !== undefined) {
    const r = await ask(user ? ['AUTH', user, o.password] : ['AUTH', o.password]);
    if (!r.startsWith('+')) throw authError(o.addr, r, user);
  } else if (needAuth) {
    throw authError(o.addr, pong, user);
  }

  for (const cmd of [
    ['REPLCONF', 'listening-port', o.listeningPort],
    // Only what we implement: diskless `$EOF:` transfers and `+CONTINUE <replid>` (protocol.md §1.1).
    ['REPLCONF', 'capa', 'eof', 'capa', 'psync2'],
  ]) {
    const r = await ask(cmd);
    if (r.startsWith('+')) continue;
    if (/^-NOAUTH/.test(r)) throw authError(o.addr, r, user);
    // Without +replconf we could never ACK and the source would drop us after repl-timeout.
    if (/^-NOPERM/.test(r)) throw nopermError(o.addr, r, user);
    // Old masters don't know some REPLCONF options; a real replica carries on too.
    o.log.warn({ reply: r, cmd: cmd.slice(0, 2).join(' ') }, 'source refused REPLCONF option; continuing');
  }

  const psync = o.resume ? ['PSYNC', o.resume.replid, o.resume.offset + 1] : ['PSYNC', '?', -1];
  const r = await ask(psync);
  if (r.startsWith('+FULLRESYNC')) {
    const m = /^\+FULLRESYNC ([0-9a-zA-Z]+) (\d+)/.exec(r);
    if (!m) throw protocolError(o.addr, `malformed reply to PSYNC: ${r}`);
    return { mode: 'full', replid: m[1]!, offset: Number(m[2]) };
  }
  if (r.startsWith('+CONTINUE')) {
    if (!o.resume) throw protocolError(o.addr, `+CONTINUE to PSYNC ? -1: ${r}`);
    const id = r.slice('+CONTINUE'.length).trim();
    // psync2 masters name their (possibly new, after a failover) replid; older ones keep ours.
    return { mode: 'continue', replid: id.length > 0 ? id : o.resume.replid, offset: o.resume.offset };
  }
  if (/^-NOAUTH/.test(r)) throw authError(o.addr, r, user);
  if (r.startsWith('-')) {
    // Unknown or renamed PSYNC (pre-2.8, some proxies), or an ACL user with -psync but +sync: SYNC may
    // still work. A -NOPERM to SYNC too comes back as the RDB preamble (link.ts): ERR_SOURCE_NOPERM.
    const acl = /^-NOPERM/.test(r);
    o.log.warn(
      { reply: r },
      acl
        ? `source user '${user ?? 'default'}' may not PSYNC; falling back to SYNC: every (re)connect is a full copy, no resume from an offset (grant +psync to resume)`
        : 'source refused PSYNC; falling back to SYNC (no partial resync, no offsets)',
    );
    sock.write(encodeCommand(['SYNC']));
    // SYNC has no status line: the RDB preamble (or an error) comes straight after keepalives.
    return { mode: 'sync', replid: '', offset: 0 };
  }
  throw protocolError(o.addr, `unexpected reply to PSYNC: ${r}`);
}

export function isSourceError(e: unknown): e is SourceError {
  return e instanceof SourceError;
}
