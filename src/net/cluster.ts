/**
 * Redis Cluster topology and redirections (protocol.md §4): read the slot map from any node
 * (CLUSTER SHARDS on 7.0+, falling back to CLUSTER SLOTS, then CLUSTER NODES), and sort a refused
 * reply into the one thing a cluster client must do about it — the one classifier for MOVED / ASK /
 * TRYAGAIN / CLUSTERDOWN and lost connections that both the cluster writer and the cluster source use.
 */
import calculateSlot from 'cluster-key-slot';
import { isReconnectable, replyClass } from '../error-codes.js';
import { ReplicantError, ServerReplyError } from '../errors.js';
import type { RespValue } from '../resp/index.js';
import type { RedisConnection } from './connection.js';

export const SLOTS = 16384;

/** Slot of a key (CRC16 & 0x3FFF, hash tags honoured). Buffers are hashed as bytes, never decoded. */
export function keySlot(key: Buffer | string): number {
  return calculateSlot(key as string);
}

export interface ClusterNode {
  /** Node id (40 hex) when the server said it, else `host:port`. */
  id: string;
  host: string;
  port: number;
}

export interface Shard {
  master: ClusterNode;
  replicas: ClusterNode[];
  /** [start, end] inclusive ranges. */
  ranges: [number, number][];
}

export interface Topology {
  shards: Shard[];
  /** Slot → index into `shards`; -1 for an unassigned slot. */
  slots: Int16Array;
  /** Which command answered (for logs). */
  via: 'shards' | 'slots' | 'nodes';
}

export const nodeKey = (n: { host: string; port: number }): string => `${n.host}:${n.port}`;

function str(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString() : String(v ?? '');
}

/** `CLUSTER SHARDS` reply (7.0+): [ "slots", [s, e, …], "nodes", [ {id, ip, port, endpoint, role, health…}… ] ]… */
export function parseShards(reply: RespValue, seedHost: string): Shard[] {
  const out: Shard[] = [];
  for (const raw of reply as unknown[]) {
    const sh = pairs(raw);
    const slots = (sh.get('slots') as unknown[]) ?? [];
    const ranges: [number, number][] = [];
    for (let i = 0; i + 1 < slots.length; i += 2) ranges.push([Number(slots[i]), Number(slots[i + 1])]);
    let master: ClusterNode | null = null;
    const replicas: ClusterNode[] = [];
    for (const nraw of (sh.get('nodes') as unknown[]) ?? []) {
      const n = pairs(nraw);
      const health = str(n.get('health'));
      const host = hostOf(str(n.get('endpoint')), str(n.get('ip')), seedHost);
      const node = { id: str(n.get('id')), host, port: Number(n.get('port')) };
      if (str(n.get('role')) === 'master') master = node;
      else if (health === 'online') replicas.push(node);
    }
    if (master !== null && ranges.length > 0) out.push({ master, replicas, ranges });
  }
  return out;
}

/** `CLUSTER SLOTS` reply: [start, end, [ip, port, id…] master, [replica]…]… */
export function parseSlots(reply: RespValue, seedHost: string): Shard[] {
  const byMaster = new Map<string, Shard>();
  for (const r of reply as unknown[][]) {
    const [s, e, m, ...reps] = r as [unknown, unknown, unknown[], ...unknown[][]];
    const master = { id: str(m[2]), host: hostOf('', str(m[0]), seedHost), port: Number(m[1]) };
    const k = nodeKey(master);
    let sh = byMaster.get(k);
    if (!sh) {
      sh = {
        master,
        replicas: reps.map((x) => ({
          id: str(x[2]),
          host: hostOf('', str(x[0]), seedHost),
          port: Number(x[1]),
        })),
        ranges: [],
      };
      byMaster.set(k, sh);
    }
    sh.ranges.push([Number(s), Number(e)]);
  }
  return [...byMaster.values()];
}

/** `CLUSTER NODES` text. Migrating/importing markers (`[slot->-id]`) are ignored: the owner is what counts. */
export function parseNodes(text: string, seedHost: string): Shard[] {
  const masters = new Map<string, Shard>();
  const replicaLines: [string, ClusterNode][] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const [id, addr, flags, masterId, , , , link, ...slots] = f as [
      string,
      string,
      string,
      string,
      ...string[],
    ];
    if (/fail|handshake|noaddr/.test(flags) && !/fail\?/.test(flags)) continue;
    const hp = addr.split('@')[0]!;
    const i = hp.lastIndexOf(':');
    const node = { id, host: hostOf('', hp.slice(0, i), seedHost), port: Number(hp.slice(i + 1)) };
    if (flags.includes('master')) {
      const ranges: [number, number][] = [];
      for (const s of slots) {
        if (s.startsWith('[')) continue;
        const [a, b] = s.split('-');
        ranges.push([Number(a), Number(b ?? a)]);
      }
      masters.set(id, { master: node, replicas: [], ranges });
    } else if (link === 'connected') replicaLines.push([masterId, node]);
  }
  for (const [mid, n] of replicaLines) masters.get(mid)?.replicas.push(n);
  return [...masters.values()].filter((s) => s.ranges.length > 0);
}

function pairs(v: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (v instanceof Map) {
    for (const [k, x] of v) m.set(str(k), x);
    return m;
  }
  const a = v as unknown[];
  for (let i = 0; i + 1 < a.length; i += 2) m.set(str(a[i]), a[i + 1]);
  return m;
}

/** An empty or `?` address means "the address you reached me on" (a node that doesn't know its own IP). */
function hostOf(endpoint: string, ip: string, seedHost: string): string {
  const h = endpoint !== '' && endpoint !== '?' ? endpoint : ip;
  return h === '' || h === '?' ? seedHost : h;
}

export function topologyOf(shards: Shard[], via: Topology['via']): Topology {
  const slots = new Int16Array(SLOTS).fill(-1);
  shards.forEach((sh, i) => {
    for (const [s, e] of sh.ranges) for (let x = s; x <= e && x < SLOTS; x++) slots[x] = i;
  });
  return { shards, slots, via };
}

/** Read the slot map through `conn` (any node of the cluster). */
export async function readTopology(conn: RedisConnection, seedHost: string): Promise<Topology> {
  try {
    const shards = parseShards(await conn.call(['CLUSTER', 'SHARDS']), seedHost);
    if (shards.length > 0) return topologyOf(shards, 'shards');
  } catch (err) {
    if (!(err instanceof ServerReplyError)) throw err;
  }
  try {
    const shards = parseSlots(await conn.call(['CLUSTER', 'SLOTS']), seedHost);
    if (shards.length > 0) return topologyOf(shards, 'slots');
  } catch (err) {
    if (!(err instanceof ServerReplyError)) throw err;
  }
  const text = str(await conn.call(['CLUSTER', 'NODES']));
  return topologyOf(parseNodes(text, seedHost), 'nodes');
}

/** Unassigned slots, as a short text ("0-99, 200") for messages; empty when every slot is served. */
export function uncovered(t: Topology): string {
  const out: string[] = [];
  for (let s = 0; s < SLOTS; s++) {
    if (t.slots[s] !== -1) continue;
    let e = s;
    while (e + 1 < SLOTS && t.slots[e + 1] === -1) e++;
    out.push(s === e ? `${s}` : `${s}-${e}`);
    s = e;
  }
  return out.slice(0, 5).join(', ') + (out.length > 5 ? ', …' : '');
}

export type Redirect =
  | { kind: 'moved' | 'ask'; slot: number; host: string; port: number }
  | { kind: 'tryagain' | 'clusterdown' | 'connection' | 'loading' }
  | { kind: 'none' };

/**
 * The one classifier for cluster replies (ioredis lib/cluster's shape): MOVED → update the map and
 * resend; ASK → ASKING + resend once to the named node; a reply of the class `backoff` (TRYAGAIN,
 * CLUSTERDOWN, LOADING, BUSY, MASTERDOWN, maxclients), READONLY (`refresh-slots` on a cluster) and a
 * lost or refused connection → back off, refresh the map, resend. Classes come from src/error-codes.ts.
 * Anything else is not ours to handle ('none').
 */
export function classifyRedirect(err: unknown): Redirect {
  if (err instanceof ServerReplyError) {
    const p = err.prefix;
    if (p === 'MOVED' || p === 'ASK') {
      // "-MOVED 3999 127.0.0.1:6381" (host may be empty: "-MOVED 3999 :6381" = the node we asked)
      const parts = err.message.split(' ');
      const addr = parts[2] ?? '';
      const i = addr.lastIndexOf(':');
      return {
        kind: p === 'MOVED' ? 'moved' : 'ask',
        slot: Number(parts[1]),
        host: addr.slice(0, i),
        port: Number(addr.slice(i + 1)),
      };
    }
    // The rest as the catalogue classes the reply on a cluster target (src/error-codes.ts).
    switch (replyClass(p, err.message, true)) {
      case 'backoff':
        return { kind: p === 'TRYAGAIN' ? 'tryagain' : p === 'CLUSTERDOWN' ? 'clusterdown' : 'loading' };
      case 'refresh-slots':
        // No new owner named (READONLY from a master a failover demoted): back off, re-read the map.
        return { kind: 'clusterdown' };
      default:
        return { kind: 'none' };
    }
  }
  if (err instanceof ReplicantError && isReconnectable(err.code, 'target')) return { kind: 'connection' };
  return { kind: 'none' };
}
