/**
 * What a server is and what it accepts, learned once before a migration starts: version and family
 * (decides RESTORE vs rewrite by RDB version), proto-max-bulk-len, modules, cluster mode, memory,
 * keys per db, and which commands exist. Every probe tolerates ACL denials where a default is safe.
 */
import { ServerReplyError } from '../errors.js';
import type { RespValue } from '../resp/index.js';
import type { RedisConnection } from './connection.js';

export interface ServerInfo {
  version: string;
  /** major*10000 + minor*100 + patch. */
  versionNum: number;
  family: 'redis' | 'valkey';
  /** Highest RDB version this server loads (docs/protocol.md §2.2): a DUMP payload above it is refused. */
  maxRdbVersion: number;
  protoMaxBulkLen: number;
  modules: { name: string; ver: number }[];
  clusterEnabled: boolean;
  /** 'master' or 'slave' (INFO replication); 'unknown' when denied. */
  role: string;
  maxmemory: number;
  maxmemoryPolicy: string;
  usedMemory: number;
  /** db number → key count (only dbs holding keys). */
  dbKeys: Map<number, number>;
  /** False when the command table could not be read (ACL): hasCommand then answers true. */
  commandsKnown: boolean;
  hasCommand(name: string): boolean;
}

const DEFAULT_PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;

/** Probed one by one when neither COMMAND LIST nor COMMAND is allowed. */
const KNOWN_COMMANDS = [
  'restore',
  'dump',
  'pexpireat',
  'hpexpireat',
  'hexpire',
  'hsetex',
  'xautoclaim',
  'xsetid',
  'function',
  'lmove',
  'copy',
  'getdel',
  'unlink',
  'swapdb',
  'zadd',
  'xadd',
  'xgroup',
  'module',
  'cluster',
  'memory',
];

export function versionNumber(v: string): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v);
  if (!m) return 0;
  return Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3] ?? 0);
}

/**
 * Highest RDB version a release loads. Conservative above the releases we have checked (Redis 8.4,
 * Valkey 9.x): underestimating only costs a rewrite instead of RESTORE; overestimating breaks RESTORE.
 */
export function maxRdbVersionFor(family: 'redis' | 'valkey', versionNum: number): number {
  if (family === 'valkey') return versionNum >= 90000 ? 80 : 11;
  if (versionNum >= 70400) return 12;
  if (versionNum >= 70200) return 11;
  if (versionNum >= 70000) return 10;
  if (versionNum >= 50000) return 9;
  if (versionNum >= 40000) return 8;
  if (versionNum >= 30200) return 7;
  return 6;
}

/** `key:value` lines of an INFO reply. */
function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const c = line.indexOf(':');
    if (c > 0) out.set(line.slice(0, c), line.slice(c + 1));
  }
  return out;
}

function text(v: RespValue): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'string' ? v : '';
}

/** Resolves to the reply, or to the ServerReplyError (probes decide what a refusal means). */
async function tryCall(
  conn: RedisConnection,
  argv: (string | number)[],
): Promise<RespValue | ServerReplyError> {
  try {
    return await conn.call(argv);
  } catch (e) {
    if (e instanceof ServerReplyError) return e;
    throw e;
  }
}

export async function probeServer(conn: RedisConnection): Promise<ServerInfo> {
  // Sections one by one: INFO with several sections only exists since 7.0. All pipelined.
  const [server, memory, keyspace, cluster, replication, maxBulk, modules, cmdList] = await Promise.all([
    tryCall(conn, ['INFO', 'server']),
    tryCall(conn, ['INFO', 'memory']),
    tryCall(conn, ['INFO', 'keyspace']),
    tryCall(conn, ['INFO', 'cluster']),
    tryCall(conn, ['INFO', 'replication']),
    tryCall(conn, ['CONFIG', 'GET', 'proto-max-bulk-len']),
    tryCall(conn, ['MODULE', 'LIST']),
    tryCall(conn, ['COMMAND', 'LIST']),
  ]);
  const info = new Map<string, string>();
  for (const part of [server, memory, keyspace, cluster, replication]) {
    if (!(part instanceof ServerReplyError)) for (const [k, v] of parseInfo(text(part))) info.set(k, v);
  }

  let version = info.get('valkey_version') ?? info.get('redis_version') ?? '';
  let family: 'redis' | 'valkey' =
    info.has('valkey_version') || info.get('server_name') === 'valkey' ? 'valkey' : 'redis';
  if (version === '') {
    // INFO denied: HELLO (6.0+) still names the server and its version.
    const hello = await tryCall(conn, ['HELLO']);
    if (Array.isArray(hello)) {
      for (let i = 0; i + 1 < hello.length; i += 2) {
        const k = text(hello[i]!);
        if (k === 'version') version = text(hello[i + 1]!);
        if (k === 'server' && text(hello[i + 1]!) === 'valkey') family = 'valkey';
      }
    }
  }
  const versionNum = versionNumber(version);

  let protoMaxBulkLen = DEFAULT_PROTO_MAX_BULK_LEN;
  if (Array.isArray(maxBulk) && maxBulk.length >= 2) {
    const n = Number(text(maxBulk[1]!));
    if (Number.isFinite(n) && n > 0) protoMaxBulkLen = n;
  }

  const mods: { name: string; ver: number }[] = [];
  if (Array.isArray(modules)) {
    for (const m of modules) {
      if (!Array.isArray(m)) continue;
      let name = '';
      let ver = 0;
      for (let i = 0; i + 1 < m.length; i += 2) {
        const k = text(m[i]!);
        if (k === 'name') name = text(m[i + 1]!);
        if (k === 'ver') ver = Number(m[i + 1]);
      }
      if (name) mods.push({ name, ver });
    }
  }

  const dbKeys = new Map<number, number>();
  for (const [k, v] of info) {
    const m = /^db(\d+)$/.exec(k);
    const keys = /(?:^|,)keys=(\d+)/.exec(v);
    if (m && keys) dbKeys.set(Number(m[1]), Number(keys[1]));
  }

  let commands: Set<string> | null = null;
  if (Array.isArray(cmdList)) commands = new Set(cmdList.map((c) => text(c).toLowerCase()));
  else {
    // Before 7.0 there is no COMMAND LIST: COMMAND gives the whole table (name first in each entry).
    const all = await tryCall(conn, ['COMMAND']);
    if (Array.isArray(all)) {
      commands = new Set(all.map((c) => (Array.isArray(c) ? text(c[0]!).toLowerCase() : '')));
    } else {
      const infos = await tryCall(conn, ['COMMAND', 'INFO', ...KNOWN_COMMANDS]);
      if (Array.isArray(infos)) commands = new Set(KNOWN_COMMANDS.filter((_, i) => infos[i] !== null));
    }
  }
  const known = commands;

  return {
    version,
    versionNum,
    family,
    maxRdbVersion: maxRdbVersionFor(family, versionNum),
    protoMaxBulkLen,
    modules: mods,
    clusterEnabled: info.get('cluster_enabled') === '1',
    role: info.get('role') ?? 'unknown',
    maxmemory: Number(info.get('maxmemory') ?? 0),
    maxmemoryPolicy: info.get('maxmemory_policy') ?? 'unknown',
    usedMemory: Number(info.get('used_memory') ?? 0),
    dbKeys,
    commandsKnown: known !== null,
    hasCommand: (name: string) => (known === null ? true : known.has(name.toLowerCase())),
  };
}
