/**
 * A scripted TCP "master" for byte-level cases a real redis-server can't be made to produce: split
 * frames, keepalives in odd places, -LOADING, a cut mid-transfer, a PSYNC-less server. Each accepted
 * connection runs the script with a small RESP reader for what the replica sends.
 */
import net from 'node:net';

export interface FakeConn {
  /** Next command the replica sent, as strings (arguments are ASCII in the handshake). */
  command(): Promise<string[]>;
  send(data: string | Buffer): Promise<void>;
  /** Send `data` in pieces of `size` bytes with a short pause between them (forces separate reads). */
  sendSplit(data: Buffer, sizes: number[]): Promise<void>;
  end(): void;
  destroy(): void;
  socket: net.Socket;
}

export interface FakeMaster {
  port: number;
  connections: number;
  close(): Promise<void>;
}

export function pause(ms = 15): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function startFakeMaster(
  script: (c: FakeConn, index: number) => Promise<void>,
): Promise<FakeMaster> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const conn = makeConn(socket);
    const index = state.connections++;
    script(conn, index).catch(() => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    get connections() {
      return state.connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function makeConn(socket: net.Socket): FakeConn {
  let buf = Buffer.alloc(0);
  const queue: string[][] = [];
  let waiter: ((v: string[]) => void) | null = null;
  let closed = false;
  let closeWaiter: ((e: Error) => void) | null = null;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const parsed = parseArray(buf);
      if (!parsed) break;
      buf = buf.subarray(parsed.used);
      if (waiter) {
        const w = waiter;
        waiter = null;
        closeWaiter = null;
        w(parsed.args);
      } else queue.push(parsed.args);
    }
  });
  socket.on('close', () => {
    closed = true;
    closeWaiter?.(new Error('closed'));
  });
  return {
    socket,
    command: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift()!)
        : closed
          ? Promise.reject(new Error('closed'))
          : new Promise((resolve, reject) => {
              waiter = resolve;
              closeWaiter = reject;
            }),
    send: (data) => new Promise((r) => socket.write(data, () => r())),
    sendSplit: async (data, sizes) => {
      let at = 0;
      for (const n of sizes) {
        await new Promise<void>((r) => socket.write(data.subarray(at, at + n), () => r()));
        at += n;
        await pause();
      }
      if (at < data.length) await new Promise<void>((r) => socket.write(data.subarray(at), () => r()));
    },
    end: () => socket.end(),
    destroy: () => socket.destroy(),
  };
}

function parseArray(b: Buffer): { args: string[]; used: number } | null {
  if (b.length === 0) return null;
  let nl = b.indexOf('\r\n');
  if (nl === -1) return null;
  const n = Number(b.toString('latin1', 1, nl));
  let at = nl + 2;
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    nl = b.indexOf('\r\n', at);
    if (nl === -1) return null;
    const len = Number(b.toString('latin1', at + 1, nl));
    at = nl + 2;
    if (b.length < at + len + 2) return null;
    args.push(b.toString('latin1', at, at + len));
    at += len + 2;
  }
  return { args, used: at };
}

/** The standard handshake up to (and including) reading PSYNC; answers +PONG/+OK. */
export async function acceptHandshake(c: FakeConn): Promise<string[]> {
  for (;;) {
    const cmd = await c.command();
    const name = cmd[0]!.toUpperCase();
    if (name === 'PSYNC' || name === 'SYNC') return cmd;
    await c.send(name === 'PING' ? '+PONG\r\n' : '+OK\r\n');
  }
}
