/**
 * What the target accepts (the sink's TargetCaps), read in one pipelined round trip: INFO server
 * (family, version), CONFIG GET proto-max-bulk-len, COMMAND INFO for the commands the sink asks
 * about. Stand-in until src/net's `probeServer` lands; the shape is the sink's interface either way.
 */
import { ReplicantError, ServerReplyError } from '../errors.js';
import type { RedisConnection } from '../net/connection.js';
import type { TargetCaps } from '../sinks/index.js';

/** Commands the sink (or the CLI) may ask `hasCommand` about. */
const ASKED = ['function', 'hpexpireat', 'restore', 'xgroup', 'xsetid', 'copy'];

/** Highest RDB version a server's RESTORE accepts (docs/protocol.md §2.2). */
export function maxRdbVersion(family: 'redis' | 'valkey', v: number): number {
  if (family === 'valkey') return v >= 90000 ? 80 : 11;
  if (v >= 80600) return 13;
  if (v >= 70400) return 12;
  if (v >= 70200) return 11;
  if (v >= 70000) return 10;
  if (v >= 50000) return 9;
  if (v >= 40000) return 8;
  if (v >= 30200) return 7;
  return 6;
}

function versionNum(text: string): number {
  const [a = 0, b = 0, c = 0] = text.split('.').map((x) => Number.parseInt(x, 10) || 0);
  return a * 10000 + b * 100 + c;
}

const settle = (p: Promise<unknown>): Promise<unknown> => p.catch((e: unknown) => e);

export async function probeCaps(
  conn: RedisConnection,
  address: string,
): Promise<TargetCaps & { version: string }> {
  const [info, bulk, cmds, role] = await Promise.all([
    settle(conn.call(['INFO', 'server'])),
    settle(conn.call(['CONFIG', 'GET', 'proto-max-bulk-len'])),
    settle(conn.call(['COMMAND', 'INFO', ...ASKED])),
    settle(conn.call(['ROLE'])),
  ]);
  if (info instanceof ReplicantError) throw info;
  if (info instanceof Error) {
    throw new ReplicantError('ERR_TARGET_PROBE', `target ${address} refused INFO: ${info.message}`, {
      hint: 'the target user needs +info (and +config|get, +command) to be probed',
      cause: info,
    });
  }
  const text = String(info);
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1]?.trim();
  const valkey = field('valkey_version');
  const family: 'redis' | 'valkey' =
    valkey !== undefined || field('server_name') === 'valkey' ? 'valkey' : 'redis';
  const version = valkey ?? field('redis_version') ?? '0.0.0';
  const v = versionNum(version);
  if (field('redis_mode') === 'cluster') {
    throw new ReplicantError('ERR_TARGET_CLUSTER', `target ${address} is a cluster node`, {
      hint: 'cluster targets are not supported by this command yet; use a standalone target',
    });
  }
  const r = Array.isArray(role) ? String(role[0]) : '';
  if (r === 'slave' || r === 'replica') {
    throw new ReplicantError('ERR_TARGET_READONLY', `target ${address} is a replica (read-only)`, {
      hint: 'point --target at the primary',
    });
  }
  // CONFIG may be renamed or denied (managed services): fall back to the server default (512 MB).
  let protoMaxBulkLen = 512 * 1024 * 1024;
  if (Array.isArray(bulk) && bulk.length >= 2) protoMaxBulkLen = Number(String(bulk[1])) || protoMaxBulkLen;
  const known = new Set<string>();
  if (Array.isArray(cmds)) {
    for (let i = 0; i < cmds.length; i++) if (cmds[i] !== null) known.add(ASKED[i]!);
  } else if (!(cmds instanceof ServerReplyError)) for (const c of ASKED) known.add(c);
  return {
    family,
    version,
    versionNum: v,
    maxRdbVersion: maxRdbVersion(family, v),
    protoMaxBulkLen,
    hasCommand: (name: string) => (ASKED.includes(name) ? known.has(name) : true),
  };
}
