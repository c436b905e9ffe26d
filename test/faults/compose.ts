/**
 * The checkpointed pipeline composed from its parts (what `replicant sync` wires):
 * ReplicaSource → CheckpointSink → StandaloneSink → CheckpointWriter → target connection.
 * Resumes from the checkpoint key on the target; a lost source link is resumed by PSYNC from the last
 * checkpoint the target acknowledged, with backoff and jitter. For tests on real servers.
 */
import {
  CheckpointSink,
  CheckpointWriter,
  DEFAULT_CHECKPOINT_KEY,
  decideResume,
  readStateCopy,
  StateCopyWriter,
  type TargetCheckpoint,
} from '../../src/checkpoint/index.js';
import { probeCaps } from '../../src/cli/probe.js';
import { RedisConnection } from '../../src/net/connection.js';
import { resolveMaster } from '../../src/replication/sentinel.js';
import type { Position } from '../../src/records.js';
import { StandaloneSink } from '../../src/sinks/index.js';
import { ReplicaSource } from '../../src/sources/replica.js';

export interface PipelineOptions {
  source: { host: string; port: number };
  /** Resolve the source through Sentinel before every (re)connect of the replica link. */
  sentinel?: { host: string; port: number; masterName: string };
  target: { host: string; port: number };
  key?: string;
  spoolDir?: string;
  /** --state-dir: the lagging copy of the checkpoint (decideResume checks it against the key). */
  stateDir?: string;
  spoolLimit?: number;
  /** Spool bytes kept in memory before spilling to disk. */
  spoolMemory?: number;
  /** Reply timeout on the target connection (detects a stalled target). */
  replyTimeoutMs?: number;
  readTimeoutMs?: number;
  log?: boolean;
}

export interface Pipeline {
  /** How the first source link started, and from where. */
  started: Promise<{ mode: string; resumedFrom: TargetCheckpoint | null }>;
  done: Promise<void>;
  writer(): CheckpointWriter;
  source(): ReplicaSource;
  sourceReconnects: number;
  stop(): Promise<void>;
}

const RECONNECTABLE = new Set([
  'ERR_SENTINEL_UNREACHABLE',
  'ERR_SOURCE_LOST',
  'ERR_SOURCE_CONNECTION_LOST',
  'ERR_SOURCE_CONNECT',
  'ERR_SOURCE_BUSY',
  'ERR_SOURCE_TIMEOUT',
]);

export function startPipeline(o: PipelineOptions): Pipeline {
  const log = o.log
    ? {
        info: (x: object, m: string) => console.error('info', m, JSON.stringify(x)),
        warn: (x: object, m: string) => console.error('warn', m, JSON.stringify(x)),
      }
    : undefined;
  const connect = () =>
    RedisConnection.connect(
      {
        host: o.target.host,
        port: o.target.port,
        name: 'replicant',
        ...(o.replyTimeoutMs ? { replyTimeoutMs: o.replyTimeoutMs } : {}),
      },
      'target',
    );
  let stopping = false;
  let writer: CheckpointWriter;
  let source: ReplicaSource;
  let resolveStarted!: (v: { mode: string; resumedFrom: TargetCheckpoint | null }) => void;
  const started = new Promise<{ mode: string; resumedFrom: TargetCheckpoint | null }>((r) => {
    resolveStarted = r;
  });
  const p: Pipeline = {
    started,
    done: null as unknown as Promise<void>,
    writer: () => writer,
    source: () => source,
    sourceReconnects: 0,
    async stop() {
      stopping = true;
      await source?.stop();
      await p.done.catch(() => {});
    },
  };
  p.done = (async () => {
    const conn = await connect();
    const caps = await probeCaps(conn, `${o.target.host}:${o.target.port}`);
    const key = o.key ?? DEFAULT_CHECKPOINT_KEY;
    const identity = {
      source: `${o.source.host}:${o.source.port}`,
      target: `${o.target.host}:${o.target.port}`,
      dbs: null,
      dbMap: null,
    };
    const copy = o.stateDir ? new StateCopyWriter(o.stateDir, { ...identity, key, keyDb: 0 }) : null;
    writer = new CheckpointWriter(conn, {
      key,
      db: 0,
      source: identity.source,
      connect,
      ...(copy ? { onApplied: (cp: TargetCheckpoint) => copy.update(cp) } : {}),
      ...(log ? { log } : {}),
    });
    const found = await writer.readTarget();
    const decision = decideResume(found, o.stateDir ? readStateCopy(o.stateDir) : null, identity, false);
    const sink = new StandaloneSink(writer, caps, {});
    const cs = new CheckpointSink(sink, writer);
    let at = o.source;
    const locate = async () => {
      if (o.sentinel)
        at = await resolveMaster({ sentinels: [o.sentinel], masterName: o.sentinel.masterName });
    };
    await locate();
    const make = (from: Position | null) =>
      new ReplicaSource(cs, {
        host: at.host,
        port: at.port,
        heartbeat: false,
        rdb: sink.decoderOptions(),
        spool: {
          ...(o.spoolDir ? { dir: o.spoolDir } : {}),
          ...(o.spoolLimit ? { diskLimitBytes: o.spoolLimit } : {}),
          ...(o.spoolMemory ? { memoryLimitBytes: o.spoolMemory } : {}),
        },
        ...(o.readTimeoutMs ? { readTimeoutMs: o.readTimeoutMs } : {}),
        ...(from ? { resume: from } : {}),
        ...(log ? { log } : {}),
      });
    const from = decision.resume;
    source = make(from);
    let first = true;
    let attempt = 0;
    try {
      for (;;) {
        const run = source.run();
        if (first) {
          first = false;
          void waitSync(source).then((mode) => resolveStarted({ mode, resumedFrom: found }));
        }
        try {
          await run;
          return;
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          if (stopping || !RECONNECTABLE.has(code) || writer.phase !== 'tx') throw err;
          await cs.flush();
          const a = writer.applied!;
          attempt++;
          const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
          log?.warn({ code, attempt, delay }, 'source link lost; resuming by PSYNC');
          await new Promise((r) => setTimeout(r, delay));
          if (stopping) return;
          p.sourceReconnects++;
          await locate().catch(() => {}); // during a failover: the next attempt asks again
          source = make({ replid: a.replid!, offset: a.offset!, db: a.db! });
          void waitSync(source).then(() => {
            attempt = 0;
          });
        }
      }
    } finally {
      await writer.close();
      copy?.flush();
    }
  })();
  p.done.catch(() => {});
  return p;
}

async function waitSync(s: ReplicaSource): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const m = s.link.sync?.mode;
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  return 'none';
}
