/** The decoder and encoder against a real redis-server 7.0 over a raw socket (no client library in between). */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ServerReplyError } from '../../src/errors.js';
import { encodeCommand, NEED_MORE, RespDecoder, type RespValue } from '../../src/resp/index.js';
import { startRedis, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startRedis();
});
afterAll(async () => {
  await srv?.stop();
});

/** Sends all commands in one write; collects `n` replies and checks every received byte was counted. */
async function roundTrip(cmds: Buffer[], n = cmds.length): Promise<RespValue[]> {
  const sock = net.connect(srv.port, srv.host);
  const dec = new RespDecoder();
  const out: RespValue[] = [];
  let received = 0;
  let counted = 0;
  await new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    sock.on('data', (chunk: Buffer) => {
      received += chunk.length;
      dec.feed(chunk);
      for (let v = dec.next(); v !== NEED_MORE; v = dec.next()) {
        out.push(v);
        counted += dec.lastLength;
      }
      if (out.length >= n) resolve();
    });
    sock.write(Buffer.concat(cmds));
  });
  sock.destroy();
  expect(counted).toBe(received);
  return out;
}

describe('real redis-server', () => {
  test('binary arguments echo back exactly, big values span many chunks', async () => {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const key = Buffer.from([0, 0xff, 13, 10, 0x2a]);
    const replies = await roundTrip([
      encodeCommand(['ECHO', all]),
      encodeCommand(['ECHO', Buffer.alloc(0)]),
      encodeCommand(['SET', key, big]),
      encodeCommand(['GET', key]),
      encodeCommand(['STRLEN', key]),
      encodeCommand(['GET', 'missing']),
      encodeCommand(['INCRBY', 'n', '9007199254740993']),
      encodeCommand(['NOSUCHCMD', 'x']),
      encodeCommand(['RPUSH', 'l', 'a', Buffer.from([0]), 'c']),
      encodeCommand(['LRANGE', 'l', 0, -1]),
    ]);
    expect(replies[0]).toEqual(all);
    expect(replies[1]).toEqual(Buffer.alloc(0));
    expect(replies[2]).toBe('OK');
    expect((replies[3] as Buffer).equals(big)).toBe(true);
    expect(replies[4]).toBe(big.length);
    expect(replies[5]).toBeNull();
    expect(replies[6]).toBe(9007199254740993n);
    expect(replies[7]).toBeInstanceOf(ServerReplyError);
    expect((replies[7] as ServerReplyError).prefix).toBe('ERR');
    expect(replies[8]).toBe(3);
    expect(replies[9]).toEqual([Buffer.from('a'), Buffer.from([0]), Buffer.from('c')]);
    expect((await srv.client.getBuffer(key))?.equals(big)).toBe(true);
  });

  test('RESP3 replies (HELLO 3): map, set, double, null, and inf', async () => {
    await srv.client.hset('h', 'f', 'v');
    await srv.client.sadd('s', 'm');
    await srv.client.zadd('z', '1.5', 'a');
    const replies = await roundTrip([
      encodeCommand(['HELLO', 3]),
      encodeCommand(['HGETALL', 'h']),
      encodeCommand(['SMEMBERS', 's']),
      encodeCommand(['ZSCORE', 'z', 'a']),
      encodeCommand(['GET', 'nothing']),
      encodeCommand(['ZADD', 'z', 'inf', 'b']),
      encodeCommand(['ZSCORE', 'z', 'b']),
    ]);
    const hello = replies[0] as Map<RespValue, RespValue>;
    expect(hello).toBeInstanceOf(Map);
    const fields = new Map([...hello].map(([k, v]) => [String(k), v]));
    expect(fields.get('proto')).toBe(3);
    expect(fields.get('server')).toEqual(Buffer.from('redis'));
    const h = replies[1] as Map<RespValue, RespValue>;
    expect([...h]).toEqual([[Buffer.from('f'), Buffer.from('v')]]);
    expect(replies[2]).toEqual([Buffer.from('m')]);
    expect(replies[3]).toBe(1.5);
    expect(replies[4]).toBeNull();
    expect(replies[5]).toBe(1);
    expect(replies[6]).toBe(Infinity);
  });
});
