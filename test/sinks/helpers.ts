/**
 * Test plumbing for the sink tests: a minimal pipelined Writer on a raw socket (src/resp encoder and
 * decoder, a bounded window) that also records what went out, target caps read through ioredis, and
 * a way to feed a server's whole dataset (SAVE → RDB → decoder) into a sink.
 */
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { ServerReplyError } from '../../src/errors.js';
import type { RdbDecoderOptions } from '../../src/rdb/index.js';
import type { Sink } from '../../src/records.js';
import { type CommandArg, encodeCommand, NEED_MORE, RespDecoder } from '../../src/resp/index.js';
import type { ReplyCallback, TargetCaps, Writer } from '../../src/sinks/index.js';
import { readRdbFile } from '../../src/sources/rdb-file.js';
import type { TestServer } from '../helpers/server.js';

export class SocketWriter implements Writer {
  readonly sock: net.Socket;
  private readonly dec = new RespDecoder();
  private readonly cbs: ReplyCallback[] = [];
  private head = 0;
  private waiters: (() => void)[] = [];
  /** Every command's name and encoded size, in send order (tests check chunking with it). */
  readonly sizes: number[] = [];
  readonly names: string[] = [];
  readonly argc: number[] = [];
  /** When set, replies are held back until `release()` (tests of ack ordering). */
  hold = false;
  private heldReplies: [ReplyCallback, Error | null, unknown][] = [];

  private constructor(
    sock: net.Socket,
    readonly window: number,
  ) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => this.onData(d));
  }

  static async connect(port: number, window = 128): Promise<SocketWriter> {
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    sock.setNoDelay(true);
    return new SocketWriter(sock, window);
  }

  get inflight(): number {
    return this.cbs.length - this.head + this.heldReplies.length; // held replies still occupy the window
  }

  get needsDrain(): boolean {
    return this.inflight >= this.window;
  }

  send(argv: CommandArg[], cb: ReplyCallback): void {
    const buf = encodeCommand(argv); // encodes at once: argv Buffers are not kept
    this.sizes.push(buf.length);
    this.names.push(String(argv[0]).toUpperCase());
    this.argc.push(argv.length);
    this.cbs.push(cb);
    this.sock.write(buf);
  }

  /** One pre-encoded command (the sink's MSET batches): name and argc read back from its header. */
  sendRaw(bytes: Buffer, cb: ReplyCallback): void {
    const text = bytes.subarray(0, 64).toString('latin1');
    const m = /^\*(\d+)\r\n\$\d+\r\n([A-Za-z]+)\r\n/.exec(text);
    if (m === null) throw new Error(`sendRaw: not one RESP command: ${JSON.stringify(text)}`);
    this.sizes.push(bytes.length);
    this.names.push(m[2]!.toUpperCase());
    this.argc.push(Number(m[1]));
    this.cbs.push(cb);
    this.sock.write(Buffer.from(bytes)); // copied: the caller reuses its buffer
  }

  drain(): Promise<void> {
    if (!this.needsDrain) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  release(): void {
    this.hold = false;
    const h = this.heldReplies;
    this.heldReplies = [];
    for (const [cb, e, r] of h) cb(e, r);
    this.wake();
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.dec.feed(d);
    for (;;) {
      const v = this.dec.next();
      if (v === NEED_MORE) break;
      const cb = this.cbs[this.head]!;
      this.cbs[this.head++] = undefined as unknown as ReplyCallback;
      const err = v instanceof ServerReplyError ? v : null;
      if (this.hold) this.heldReplies.push([cb, err, err ? null : v]);
      else cb(err, err ? null : v);
    }
    this.wake();
  }

  private wake(): void {
    if (this.inflight <= this.window / 2 && this.waiters.length > 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const r of w) r();
    }
  }
}

/** What the sink needs to know about a target, read independently through ioredis. */
export async function readCaps(c: Redis): Promise<TargetCaps> {
  const info = await c.info('server');
  const ver = /redis_version:(\d+)\.(\d+)\.(\d+)/.exec(info)!;
  const versionNum = Number(ver[1]) * 10000 + Number(ver[2]) * 100 + Number(ver[3]);
  const bulk = (await c.config('GET', 'proto-max-bulk-len')) as string[];
  const names = new Set(((await c.call('COMMAND', 'LIST')) as string[]).map((s) => s.toLowerCase()));
  const maxRdbVersion = versionNum >= 70400 ? 12 : versionNum >= 70200 ? 11 : versionNum >= 70000 ? 10 : 9;
  return {
    family: 'redis',
    versionNum,
    maxRdbVersion,
    protoMaxBulkLen: Number(bulk[1]),
    hasCommand: (n) => names.has(n),
  };
}

/** SAVE the source and feed its RDB file through `sink` (with flow control), then flush. */
export async function copyViaRdb(
  source: TestServer,
  sink: Sink,
  decoder: RdbDecoderOptions = {},
): Promise<void> {
  await source.client.save();
  await readRdbFile(path.join(source.dir, 'dump.rdb'), sink, { flow: sink, decoder });
  await sink.flush();
}

/** Commands bigger than `limit` bytes, except those holding one element (an element can't be split). */
export function oversized(w: SocketWriter, limit: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < w.sizes.length; i++) {
    const singleElement = w.argc[i] === 3 && w.names[i] !== 'SET' && w.names[i] !== 'APPEND';
    if (w.sizes[i]! > limit && !singleElement)
      out.push(`${w.names[i]} argc=${w.argc[i]} ${w.sizes[i]} bytes`);
  }
  return out;
}
