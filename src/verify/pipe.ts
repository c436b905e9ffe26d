/**
 * Many commands on one connection, pipelined, replies collected in order. Reply errors come back as
 * values (a ServerReplyError in their slot) so one odd key never aborts a whole batch; a broken
 * connection rejects. Respects the connection's in-flight window (awaits `drain()` when full).
 */
import { ServerReplyError } from '../errors.js';
import type { RedisConnection } from '../net/index.js';
import type { CommandArg, RespValue } from '../resp/index.js';

export async function pipeline(conn: RedisConnection, cmds: readonly CommandArg[][]): Promise<RespValue[]> {
  const out: RespValue[] = new Array(cmds.length);
  const done: Promise<void>[] = [];
  for (let i = 0; i < cmds.length; i++) {
    if (conn.needsDrain) await conn.drain();
    done.push(
      new Promise<void>((resolve, reject) => {
        conn.send(cmds[i]!, (err, reply) => {
          if (err && !(err instanceof ServerReplyError)) return reject(err);
          out[i] = err ?? reply;
          resolve();
        });
      }),
    );
  }
  await Promise.all(done);
  return out;
}

/** A reply that is a server error, as an Error (else null). */
export function replyError(v: RespValue): ServerReplyError | null {
  return v instanceof ServerReplyError ? v : null;
}
