/**
 * A Redis Cluster as the target of a run: the same `Target` the CLI uses for a standalone server,
 * with a StandaloneSink writing through a ClusterWriter (slot routing, one pipelined connection per
 * master, redirections followed). The key counts, samples and FLUSH act on every master's DB 0.
 */
import type { Config } from '../config/index.js';
import { readTopology } from '../net/cluster.js';
import { RedisConnection } from '../net/connection.js';
import type { ServerInfo } from '../net/probe.js';
import type { ConnectOptions } from '../net/url.js';
import type { Logger, RunStats } from '../obs/index.js';
import { ClusterWriter, type ClusterWriterStats } from '../sinks/cluster.js';
import { StandaloneSink, type StandaloneSinkOptions } from '../sinks/index.js';
import { ReplicantError } from '../errors.js';
import { type Target, updateSinkStats } from './target.js';

export interface ClusterTargetInput {
  opts: ConnectOptions;
  conn: RedisConnection;
  caps: ServerInfo;
  address: string;
  sinkOpts: StandaloneSinkOptions;
}

export async function openClusterTarget(c: Config, log: Logger, t: ClusterTargetInput): Promise<Target> {
  const base: ConnectOptions = { ...t.opts };
  delete (base as { db?: number }).db;
  const clog = log.child({ component: 'cluster-target' });
  const writer = await ClusterWriter.open(base, t.conn, { crossSlot: c.crossSlot, log: clog });
  clog.info({ target: t.address, masters: writer.topologyMasters }, 'target is a cluster: writing by slot');
  /** A short-lived connection to each master for the control-plane questions. */
  const eachMaster = async <T>(f: (conn: RedisConnection) => Promise<T>): Promise<T[]> => {
    const seed = await RedisConnection.connect(base, 'target');
    let masters: { host: string; port: number }[];
    try {
      masters = (await readTopology(seed, base.host)).shards.map((s) => s.master);
    } finally {
      seed.destroy();
    }
    const out: T[] = [];
    for (const m of masters) {
      const conn = await RedisConnection.connect({ ...base, host: m.host, port: m.port }, 'target');
      try {
        out.push(await f(conn));
      } finally {
        await conn.close().catch(() => conn.destroy());
      }
    }
    return out;
  };
  const keyspace = async (): Promise<Map<number, number>> => {
    const counts = await eachMaster(async (conn) => {
      const info = String(await conn.call(['INFO', 'keyspace']));
      return Number(/^db0:keys=(\d+)/m.exec(info)?.[1] ?? 0);
    });
    return new Map([[0, counts.reduce((a, b) => a + b, 0)]]);
  };
  return {
    address: t.address,
    caps: t.caps,
    describe: () => `${t.caps.family} ${t.caps.version} cluster (${writer.topologyMasters.length} masters)`,
    keyspace,
    async sampleKeys(_db: number, n: number): Promise<Buffer[]> {
      const all = await eachMaster(async (conn) => {
        const r = (await conn.call(['SCAN', '0', 'COUNT', 100])) as [Buffer, Buffer[]];
        return r[1];
      });
      return all.flat().slice(0, n).sort(Buffer.compare);
    },
    async flushDbs(dbs: Iterable<number>): Promise<Map<number, number>> {
      if (![...dbs].includes(0)) return new Map();
      const before = (await keyspace()).get(0) ?? 0;
      if (before === 0) return new Map();
      await eachMaster((conn) => conn.call(['FLUSHALL']));
      return new Map([[0, before]]);
    },
    openConnection(): Promise<never> {
      // Only the checkpoint writer asks for one; sync refuses --state-dir with a cluster target first.
      return Promise.reject(
        new ReplicantError(
          'ERR_CONFIG',
          '--state-dir (checkpoint and resume) does not cover a cluster target yet',
          {
            hint: 'leave out --state-dir: a run into a cluster starts with a full copy',
          },
        ),
      );
    },
    createSink(sinkLog: Logger): StandaloneSink {
      const sink = new StandaloneSink(writer, t.caps, { ...t.sinkOpts, log: sinkLog });
      sinkLog.debug(
        { bigKeyBytes: sink.bigKeyBytes, masters: writer.topologyMasters },
        'cluster writer ready',
      );
      return sink;
    },
    updateStats(sink: unknown, stats: RunStats): void {
      updateSinkStats(sink, stats);
      (stats as RunStats & { cluster?: ClusterWriterStats }).cluster = writer.stats;
    },
    async close(): Promise<void> {
      await writer.close();
    },
  };
}
