/**
 * verify against a Redis Cluster: a stand-in for the one RedisConnection the verifier reads a side
 * through. Key commands (TYPE, PTTL, GET, XINFO …, DUMP) go through a ClusterWriter, so they are
 * routed by slot and follow MOVED/ASK like the sync's writes; `SCAN` walks every master in turn with a
 * composite cursor (`<master>-<cursor>`, '0' once the last master is done); `INFO` sums the numeric
 * fields of every master (expired/evicted counts); `SELECT 0` is answered locally.
 *
 * It implements only what src/verify uses of RedisConnection (send, call, needsDrain, drain, close,
 * destroy), and is handed over as one.
 */
import { ServerReplyError } from '../errors.js';
import { readTopology } from '../net/cluster.js';
import { type ConnectOptions, RedisConnection } from '../net/index.js';
import type { CommandArg, RespValue } from '../resp/index.js';
import { ClusterWriter } from '../sinks/cluster.js';
import { commandName } from '../sinks/cluster-keys.js';

type Cb = (err: Error | null, reply: RespValue) => void;

export class ClusterReader {
  private constructor(
    private readonly w: ClusterWriter,
    private readonly masters: RedisConnection[],
  ) {}

  /** `seed` is a connection to any node (it is kept by the writer or closed). */
  static async open(
    base: ConnectOptions,
    seed: RedisConnection,
    role: 'source' | 'target',
  ): Promise<ClusterReader> {
    const topo = await readTopology(seed, base.host);
    const masters: RedisConnection[] = [];
    for (const sh of topo.shards)
      masters.push(
        await RedisConnection.connect({ ...base, host: sh.master.host, port: sh.master.port }, role),
      );
    const w = await ClusterWriter.open(base, seed);
    return new ClusterReader(w, masters);
  }

  /** The same object, typed as what the verifier holds. */
  asConnection(): RedisConnection {
    return this as unknown as RedisConnection;
  }

  get needsDrain(): boolean {
    return this.w.needsDrain;
  }

  drain(): Promise<void> {
    return this.w.drain();
  }

  get closed(): boolean {
    return false;
  }

  send(argv: CommandArg[], cb: Cb): number {
    const name = commandName(argv[0]);
    if (name === 'scan') {
      this.scan(argv).then(
        (r) => cb(null, r),
        (e: Error) => cb(e, null),
      );
      return 0;
    }
    if (name === 'info') {
      this.info(argv).then(
        (r) => cb(null, r),
        (e: Error) => cb(e, null),
      );
      return 0;
    }
    this.w.send(argv, cb as (err: Error | null, reply: unknown) => void);
    return 0;
  }

  call(argv: CommandArg[]): Promise<RespValue> {
    return new Promise((resolve, reject) =>
      this.send(argv, (err, r) =>
        err && !(err instanceof ServerReplyError) ? reject(err) : err ? reject(err) : resolve(r),
      ),
    );
  }

  private async scan(argv: CommandArg[]): Promise<RespValue> {
    const cur = commandName(argv[1]);
    const dash = cur.indexOf('-');
    let i = dash < 0 ? 0 : Number(cur.slice(0, dash));
    let c = dash < 0 ? cur : cur.slice(dash + 1);
    const rest = argv.slice(2);
    for (;;) {
      const r = (await this.masters[i]!.call(['SCAN', c, ...rest])) as [Buffer, Buffer[]];
      const next = String(r[0]);
      if (next !== '0') return [Buffer.from(`${i}-${next}`), r[1]];
      if (++i >= this.masters.length) return [Buffer.from('0'), r[1]];
      c = '0';
      if (r[1].length > 0) return [Buffer.from(`${i}-0`), r[1]];
    }
  }

  private async info(argv: CommandArg[]): Promise<RespValue> {
    const sums = new Map<string, number>();
    let first = '';
    const texts: string[] = [];
    for (const m of this.masters) {
      const text = String(await m.call(argv));
      texts.push(text);
      if (first === '') first = text;
      for (const line of text.split('\r\n')) {
        const [k, v] = line.split(':');
        if (k && v !== undefined && /^\d+$/.test(v)) sums.set(k, (sums.get(k) ?? 0) + Number(v));
      }
    }
    // Numeric fields summed over the masters, the rest as the first master says them; keyspace lines
    // (`db0:keys=…,expires=…`) summed too (a master without keys has no such line).
    const dbs = new Map<string, [number, number]>();
    for (const m of texts)
      for (const x of m.matchAll(/^(db\d+):keys=(\d+),expires=(\d+)/gm)) {
        const d = dbs.get(x[1]!) ?? [0, 0];
        dbs.set(x[1]!, [d[0] + Number(x[2]), d[1] + Number(x[3])]);
      }
    const lines = first
      .split('\r\n')
      .filter((line) => !/^db\d+:/.test(line))
      .map((line) => {
        const k = line.split(':')[0]!;
        return sums.has(k) ? `${k}:${sums.get(k)}` : line;
      });
    for (const [db, [keys, expires]] of dbs) lines.push(`${db}:keys=${keys},expires=${expires},avg_ttl=0`);
    return lines.join('\r\n');
  }

  async close(): Promise<void> {
    await this.w.close();
    await Promise.all(this.masters.map((m) => m.close().catch(() => m.destroy())));
  }

  destroy(): void {
    this.w.destroy();
    for (const m of this.masters) m.destroy();
  }
}
