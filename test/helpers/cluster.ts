/**
 * Redis Clusters for tests, built from real redis-server processes (startRedis with cluster-enabled):
 * N masters with an even split of the 16384 slots (CLUSTER ADDSLOTSRANGE), optional replicas per
 * master (CLUSTER REPLICATE), joined with CLUSTER MEET, ready once every node says cluster_state:ok.
 * Also: move one slot between masters the way redis-cli does (SETSLOT IMPORTING/MIGRATING, MIGRATE,
 * SETSLOT NODE), fail a master over to its replica (CLUSTER FAILOVER), and copy the union of every
 * master's keys into one standalone server (DUMP/RESTORE with the TTL) so compare.ts can check it.
 */
import type { Redis } from 'ioredis';
import { startRedis, type TestServer } from './server.js';

export interface TestCluster {
  /** Masters in start order (after a failover, `nodes` still holds every process). */
  masters: TestServer[];
  replicas: TestServer[][];
  nodes: TestServer[];
  /** A seed URL (the first master). */
  url: string;
  ids: Map<TestServer, string>;
  /** The servers that are masters now (asks CLUSTER NODES). */
  currentMasters(): Promise<TestServer[]>;
  waitOk(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startCluster(
  masters: number,
  opts: { replicas?: number; config?: Record<string, string>; binary?: string } = {},
): Promise<TestCluster> {
  const cfg = {
    'cluster-enabled': 'yes',
    'cluster-config-file': 'nodes.conf',
    // Long enough that a loaded 2-core machine (CI runs test files side by side) does not fail a busy
    // master over by itself; the dead-master test waits for the failover this sets off.
    'cluster-node-timeout': '6000',
    ...(opts.config ?? {}),
  };
  const bin = opts.binary ? { binary: opts.binary } : {};
  const ms = await Promise.all(Array.from({ length: masters }, () => startRedis(cfg, bin)));
  const rs = await Promise.all(
    ms.map(() => Promise.all(Array.from({ length: opts.replicas ?? 0 }, () => startRedis(cfg, bin)))),
  );
  const nodes = [...ms, ...rs.flat()];
  const ids = new Map<TestServer, string>();
  for (const n of nodes) ids.set(n, String(await n.client.call('CLUSTER', 'MYID')));
  const per = Math.floor(16384 / masters);
  for (let i = 0; i < masters; i++) {
    const start = i * per;
    const end = i === masters - 1 ? 16383 : start + per - 1;
    await ms[i]!.client.call('CLUSTER', 'ADDSLOTSRANGE', start, end);
  }
  for (const n of nodes.slice(1)) await n.client.call('CLUSTER', 'MEET', '127.0.0.1', ms[0]!.port);
  // Every node must know every other before a replica can name its master.
  await until(async () => {
    for (const n of nodes) {
      const text = String(await n.client.call('CLUSTER', 'NODES'));
      if (text.trim().split('\n').length < nodes.length || /handshake|noaddr/.test(text)) return false;
    }
    return true;
  }, 20_000);
  // A replica that has not heard of its master's id yet answers "Unknown node": ask again (until swallows it).
  for (let i = 0; i < masters; i++)
    for (const r of rs[i]!)
      await until(
        async () => (await r.client.call('CLUSTER', 'REPLICATE', ids.get(ms[i]!)!)) === 'OK',
        20_000,
      );
  const c: TestCluster = {
    masters: ms,
    replicas: rs,
    nodes,
    url: ms[0]!.url,
    ids,
    async currentMasters() {
      const text = String(await anyAlive(nodes).client.call('CLUSTER', 'NODES'));
      const out: TestServer[] = [];
      for (const line of text.trim().split('\n')) {
        const f = line.split(' ');
        if (!f[2]!.includes('master') || f[2]!.includes('fail')) continue;
        const port = Number(f[1]!.split('@')[0]!.split(':')[1]);
        const s = nodes.find((n) => n.port === port);
        if (s && f.length > 8) out.push(s);
      }
      return out;
    },
    async waitOk(timeoutMs = 20_000) {
      await until(async () => {
        for (const n of nodes) {
          if (n.proc.exitCode !== null || n.proc.signalCode !== null) continue;
          const info = String(await n.client.call('CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok')) return false;
        }
        if (opts.replicas) {
          for (const r of rs.flat()) {
            // A killed node (exitCode stays null after a signal) is not waited for.
            if (r.proc.exitCode !== null || r.proc.signalCode !== null) continue;
            const repl = await r.client.info('replication');
            if (repl.includes('role:slave') && !repl.includes('master_link_status:up')) return false;
          }
        }
        return true;
      }, timeoutMs);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  await c.waitOk();
  return c;
}

function anyAlive(nodes: TestServer[]): TestServer {
  return nodes.find((n) => n.proc.exitCode === null && n.proc.signalCode === null)!;
}

export async function until(f: () => Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await f()) return;
    } catch {
      // a node still starting or failing over: ask again
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The master serving `slot` now. */
export async function ownerOf(c: TestCluster, slot: number): Promise<TestServer> {
  const r = (await c.masters[0]!.client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  for (const [s, e, m] of r) if (slot >= s && slot <= e) return c.nodes.find((n) => n.port === Number(m[1]))!;
  throw new Error(`slot ${slot} unassigned`);
}

/** Moves `slot` to `to` as redis-cli --cluster reshard does, `pauseMs` between key batches (writes go on meanwhile). */
export async function migrateSlot(
  c: TestCluster,
  slot: number,
  to: TestServer,
  pauseMs = 20,
): Promise<number> {
  const from = await ownerOf(c, slot);
  if (from === to) return 0;
  const fromId = c.ids.get(from)!;
  const toId = c.ids.get(to)!;
  await to.client.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
  await from.client.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
  let moved = 0;
  for (;;) {
    const keys = (await from.client.call('CLUSTER', 'GETKEYSINSLOT', slot, 10)) as string[];
    if (keys.length === 0) break;
    await from.client.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys);
    moved += keys.length;
    await sleep(pauseMs);
  }
  await to.client.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
  await from.client.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
  for (const m of await c.currentMasters())
    if (m !== from && m !== to) await m.client.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId).catch(() => {});
  return moved;
}

/** CLUSTER FAILOVER on the first replica of `master`; resolves once it is a master and the cluster is ok. */
export async function failover(c: TestCluster, master: TestServer): Promise<TestServer> {
  const i = c.masters.indexOf(master);
  const replica = c.replicas[i]?.[0];
  if (!replica) throw new Error('no replica to fail over to');
  await replica.client.call('CLUSTER', 'FAILOVER');
  await until(
    async () => (await replica.client.info('replication')).includes('role:master'),
    20_000,
    'failover',
  );
  await c.waitOk();
  return replica;
}

/**
 * Copies every key of the cluster's current masters (SCAN each, DUMP + PTTL, RESTORE … REPLACE) into
 * `into` DB 0, which must be empty. compareServers then checks it against the other side: the dump is
 * byte-exact per type (stream groups and PEL included) and the TTL is kept to the millisecond minus
 * the copy's own duration (well within the comparison's tolerance).
 */
export async function flattenCluster(c: TestCluster, into: Redis): Promise<number> {
  let n = 0;
  for (const m of await c.currentMasters()) n += await copyKeys(m.client, into);
  return n;
}

/** DUMP/RESTORE every key of `from`'s current DB into `into` (used to fold several DBs together too). */
export async function copyKeys(from: Redis, into: Redis): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await from.scanBuffer(cursor, 'COUNT', 500);
    cursor = String(next);
    if (keys.length === 0) continue;
    const p = from.pipeline();
    for (const k of keys) p.dumpBuffer(k).pttl(k);
    const r = (await p.exec()) ?? [];
    const w = into.pipeline();
    for (let i = 0; i < keys.length; i++) {
      // A node that lost the key's slot a moment ago answers MOVED: say so (callers retry) rather than
      // restoring garbage.
      const err = r[2 * i]![0] ?? r[2 * i + 1]![0];
      if (err) throw err;
      const dump = r[2 * i]![1] as Buffer | null;
      const ttl = Number(r[2 * i + 1]![1]);
      if (dump === null || ttl === -2) continue;
      w.restore(keys[i]!, Math.max(ttl, 0), dump, 'REPLACE');
      n++;
    }
    const res = (await w.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
  } while (cursor !== '0');
  return n;
}
