/**
 * A scripted TCP server for byte-level cases a real redis-server can't produce on demand (a reply
 * split byte by byte, -LOADING, a cut connection, silence). Commands are parsed with our decoder;
 * `handler` answers each one by writing to the socket itself.
 */
import net from 'node:net';
import { NEED_MORE, RespDecoder } from '../../src/resp/index.js';

export interface FakeServer {
  port: number;
  /** Every command received, as strings. */
  commands: string[][];
  sockets: net.Socket[];
  close(): Promise<void>;
}

export type Handler = (argv: string[], sock: net.Socket) => void;

export async function fakeServer(handler: Handler): Promise<FakeServer> {
  const commands: string[][] = [];
  const sockets: net.Socket[] = [];
  const srv = net.createServer((sock) => {
    sockets.push(sock);
    const dec = new RespDecoder();
    sock.on('error', () => {});
    sock.on('data', (chunk) => {
      dec.feed(chunk);
      for (let v = dec.next(); v !== NEED_MORE; v = dec.next()) {
        const argv = (v as Buffer[]).map((b) => b.toString());
        commands.push(argv);
        handler(argv, sock);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    port,
    commands,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** Writes `bytes` one byte per event-loop turn. */
export async function dribble(sock: net.Socket, bytes: string | Buffer): Promise<void> {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  for (let i = 0; i < b.length; i++) {
    sock.write(b.subarray(i, i + 1));
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Answers the connection handshake (AUTH/CLIENT/SELECT/PING) with +OK / +PONG. */
export function handshake(argv: string[], sock: net.Socket): boolean {
  const c = argv[0]!.toUpperCase();
  if (c === 'PING') sock.write('+PONG\r\n');
  else if (c === 'AUTH' || c === 'CLIENT' || c === 'SELECT') sock.write('+OK\r\n');
  else return false;
  return true;
}
