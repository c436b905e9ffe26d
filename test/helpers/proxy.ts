/**
 * A fault-injecting TCP proxy for tests: sits between replicant and a real server and, on demand,
 * breaks every connection going through it in one of the ways networks do:
 *
 * - `reset`: both sockets destroyed at once (the client sees ECONNRESET; the server an abrupt close);
 * - `stall`: nothing is forwarded either way for `ms` (default 5 s), then everything held goes on;
 * - `trickle`: both directions forwarded at `bytesPerSec` (default 1 KB/s) for `ms`, then at full speed;
 * - `half-close`: a FIN in one direction only (`toServer`: the server sees end-of-stream from us;
 *   otherwise the client does), the other direction left open as long as its peer keeps it.
 *
 * Data held during a stall or trickle is queued here (a test tool: bounded by the test's own load).
 */
import net from 'node:net';

export type FaultKind = 'reset' | 'stall' | 'trickle' | 'half-close';

export interface FaultOptions {
  ms?: number;
  bytesPerSec?: number;
  /** half-close: send the FIN to the server (default) or to the client. */
  toServer?: boolean;
  /** stall/trickle: which directions (default both). 'toClient' holds only the replies. */
  direction?: 'both' | 'toServer' | 'toClient';
}

export interface FaultProxy {
  host: string;
  port: number;
  /** Connections currently open through the proxy. */
  readonly open: number;
  /** Connections accepted since the start. */
  readonly accepted: number;
  /** Faults applied (to at least one connection). */
  readonly faults: number;
  /** Apply a fault to every open connection; resolves when it is over (stall/trickle: after `ms`). */
  fault(kind: FaultKind, opts?: FaultOptions): Promise<number>;
  close(): Promise<void>;
}

interface Pipe {
  client: net.Socket;
  server: net.Socket;
  /** Per direction: held chunks, and whether they are held (stall) or paced (trickle). */
  up: Lane;
  down: Lane;
}

interface Lane {
  from: net.Socket;
  to: net.Socket;
  queue: Buffer[];
  mode: 'flow' | 'stall' | 'trickle';
  rate: number;
  timer: NodeJS.Timeout | null;
}

export async function startProxy(upstream: { host: string; port: number }): Promise<FaultProxy> {
  const pipes = new Set<Pipe>();
  let accepted = 0;
  let faults = 0;
  const srv = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const server = net.connect({ host: upstream.host, port: upstream.port, allowHalfOpen: true });
    const p: Pipe = { client, server, up: lane(client, server), down: lane(server, client) };
    pipes.add(p);
    const kill = () => {
      pipes.delete(p);
      for (const l of [p.up, p.down]) if (l.timer) clearInterval(l.timer);
      client.destroy();
      server.destroy();
    };
    for (const l of [p.up, p.down]) {
      l.from.on('data', (d: Buffer) => push(l, d));
      // End-of-stream is forwarded once whatever is held has gone.
      l.from.on('end', () => whenEmpty(l, () => l.to.end()));
      l.from.on('error', kill);
      l.from.on('close', () => {
        if (!l.to.destroyed && l.to.writableEnded && l.from.writableEnded) kill();
      });
    }
    client.on('close', kill);
    server.on('close', kill);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as net.AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    get open() {
      return pipes.size;
    },
    get accepted() {
      return accepted;
    },
    get faults() {
      return faults;
    },
    async fault(kind: FaultKind, opts: FaultOptions = {}): Promise<number> {
      const hit = [...pipes];
      if (hit.length > 0) faults++;
      const ms = opts.ms ?? 5000;
      if (kind === 'reset') {
        for (const p of hit) {
          p.client.resetAndDestroy();
          p.server.destroy();
        }
      } else if (kind === 'half-close') {
        for (const p of hit) {
          if (opts.toServer ?? true) {
            p.up.mode = 'stall'; // nothing more towards the server after the FIN
            p.server.end();
          } else {
            p.down.mode = 'stall';
            p.client.end();
          }
        }
      } else {
        const rate = opts.bytesPerSec ?? 1024;
        const d = opts.direction ?? 'both';
        const lanes = (p: Pipe) => (d === 'both' ? [p.up, p.down] : d === 'toServer' ? [p.up] : [p.down]);
        for (const p of hit) for (const l of lanes(p)) setMode(l, kind, rate);
        await new Promise((r) => setTimeout(r, ms));
        for (const p of hit) for (const l of lanes(p)) setMode(l, 'flow', 0);
      }
      return hit.length;
    },
    async close(): Promise<void> {
      for (const p of pipes) {
        p.client.destroy();
        p.server.destroy();
      }
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

function lane(from: net.Socket, to: net.Socket): Lane {
  return { from, to, queue: [], mode: 'flow', rate: 0, timer: null };
}

function push(l: Lane, d: Buffer): void {
  if (l.mode === 'flow' && l.queue.length === 0) {
    if (!l.to.destroyed && !l.to.writableEnded) l.to.write(d);
    return;
  }
  l.queue.push(d);
}

function setMode(l: Lane, mode: 'flow' | 'stall' | 'trickle', rate: number): void {
  if (l.timer) clearInterval(l.timer);
  l.timer = null;
  l.mode = mode;
  l.rate = rate;
  if (mode === 'flow') {
    const q = l.queue.splice(0);
    for (const d of q) if (!l.to.destroyed && !l.to.writableEnded) l.to.write(d);
    l.queue.length = 0;
  } else if (mode === 'trickle') {
    // rate/8 bytes every 125 ms.
    const step = Math.max(1, Math.floor(rate / 8));
    l.timer = setInterval(() => {
      let n = step;
      while (n > 0 && l.queue.length > 0) {
        const d = l.queue[0]!;
        const part = d.subarray(0, n);
        if (part.length === d.length) l.queue.shift();
        else l.queue[0] = d.subarray(n);
        n -= part.length;
        if (!l.to.destroyed && !l.to.writableEnded) l.to.write(part);
      }
    }, 125);
  }
}

function whenEmpty(l: Lane, fn: () => void): void {
  if (l.queue.length === 0 || l.to.destroyed) {
    fn();
    return;
  }
  const t = setInterval(() => {
    if (l.queue.length === 0 || l.to.destroyed) {
      clearInterval(t);
      fn();
    }
  }, 50);
}
