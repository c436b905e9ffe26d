/**
 * ClusterWriter: the `Writer` a StandaloneSink writes through when the target is a Redis Cluster.
 * It looks like one pipelined connection — replies come back in send order — and behind it routes
 * every command by its key's slot to one pipelined connection per master (design §5).
 *
 * Routing: single-key commands go to the slot's master; DEL/UNLINK/TOUCH/EXISTS and MSET whose keys
 * span slots are split into one command per slot (integer replies added up, +OK for MSET); keyless
 * writes (FLUSHALL, FUNCTION …) wait until everything before them is answered and run on every
 * master. SELECT 0 is answered here (a cluster has only DB 0); any other SELECT is an error naming
 * --db-map. MULTI…EXEC arrives as separate sends; the group is held until EXEC, then sent as one unit
 * to the one node that owns its slot. A group or command whose keys span slots stops the run with
 * ERR_CROSS_SLOT, or (`crossSlot: 'split'`) is applied command by command, not atomically, counted.
 *
 * Redirections (one classifier, src/net/cluster `classifyRedirect`): MOVED → the slot's owner is
 * updated (and one map refresh is scheduled), resend; ASK → `ASKING` + resend to the named node, once
 * per reply; TRYAGAIN / CLUSTERDOWN / LOADING / a lost connection → the slot waits (one timer for all
 * slots waiting, backoff doubling to 1 s), the map is read again (one refresh at a time; concurrent
 * waiters share it), resend. A command retrying for longer than `retryTimeoutMs` fails the run.
 *
 * Order per slot (so per key) is kept across redirections: all of a slot's unanswered commands are on
 * one connection; while a slot has a command to resend, later commands for it wait behind it; a slot
 * whose owner changed waits until its commands on the old owner are answered. Each unit keeps its
 * encoded bytes until answered (needed to resend): memory is bounded by the window (`maxInFlight`
 * commands, `maxInFlightBytes`), and every wait queue holds only commands inside that window.
 *
 * Delivery: a lost connection after a command was written may leave it applied; it is resent (at
 * least once). MOVED/ASK/TRYAGAIN/CLUSTERDOWN replies mean the command did not run: exactly once.
 */
import { ReplicantError, ServerReplyError } from '../errors.js';
import { classifyRedirect, keySlot, nodeKey, readTopology, SLOTS, type Topology } from '../net/cluster.js';
import { RedisConnection } from '../net/connection.js';
import type { ConnectOptions } from '../net/url.js';
import { type CommandArg, encodeCommand } from '../resp/index.js';
import { commandName, KS, keyArg, keySpec } from './cluster-keys.js';
import { copyArgs } from './copy.js';
import type { ReplyCallback, Writer } from './types.js';

/** Counters shown in /status (`cluster`). */
export interface ClusterWriterStats {
  masters: number;
  moved: number;
  ask: number;
  tryagain: number;
  clusterdown: number;
  connectionRetries: number;
  refreshes: number;
  /** Multi-key commands split by slot (DEL/MSET …). */
  splitCommands: number;
  /** Cross-slot MULTI groups / commands applied non-atomically (`--cross-slot split`). */
  crossSlotSplit: number;
}

export interface ClusterWriterOptions {
  crossSlot?: 'error' | 'split';
  maxInFlight?: number;
  maxInFlightBytes?: number;
  retryTimeoutMs?: number;
  log?: { warn(o: object, msg: string): void; info(o: object, msg: string): void };
}

const OK = 'OK';
const QUEUED = 'QUEUED';
const ASKING = encodeCommand(['ASKING']);
const MULTI = encodeCommand(['MULTI']);
const EXEC = encodeCommand(['EXEC']);

/** How a request's reply is made from its parts. */
const M_ONE = 0;
const M_SUM = 1;
const M_OK = 2;
const M_ARRAY = 3;

/** One send() of the caller (or an inner command of a split MULTI), waiting for its reply. */
class Req {
  done = false;
  err: Error | null = null;
  reply: unknown = null;
  /** Parts still unanswered. */
  parts = 0;
  sum = 0;
  arr: unknown[] | null = null;
  /** Not in the send-order queue: a step of a cross-slot emulation, answered to `cb` at once. */
  direct = false;
  constructor(
    readonly cb: ReplyCallback | null,
    readonly mode: number,
    readonly parent: Req | null,
    readonly parentIdx: number,
  ) {}
}

/** What goes to one node as a unit: one command, or MULTI … EXEC. */
interface Unit {
  seq: number;
  slot: number;
  /** Encoded commands (our copies; kept until answered, to resend). */
  cmds: Buffer[];
  bytes: number;
  group: boolean;
  /** Per command (group: per inner command): the request it answers, and the index in it. */
  targets: Req[];
  idx: number[];
  /** Group: the MULTI and EXEC requests. */
  multiReq: Req | null;
  execReq: Req | null;
  /** Set by an ASK reply: the next send goes to this node, after ASKING. */
  asking: Node | null;
  node: Node | null;
  replies: unknown[];
  errs: (Error | null)[];
  got: number;
  firstTry: number;
  /** Group: the number of inner commands the caller sent (SELECT 0s included). */
  total: number;
  /** Keyless units run on every master and are not slot-tracked (slot = -1). */
  broadcast: boolean;
}

interface Node {
  key: string;
  host: string;
  port: number;
  conn: RedisConnection | null;
  connecting: Promise<void> | null;
  /** Units waiting for the connection. */
  queue: Unit[];
}

export class ClusterWriter implements Writer {
  readonly stats: ClusterWriterStats = {
    masters: 0,
    moved: 0,
    ask: 0,
    tryagain: 0,
    clusterdown: 0,
    connectionRetries: 0,
    refreshes: 0,
    splitCommands: 0,
    crossSlotSplit: 0,
  };
  private readonly nodes = new Map<string, Node>();
  /** Slot → owner. */
  private readonly owner: (Node | null)[] = new Array(SLOTS).fill(null);
  private readonly inflight = new Int32Array(SLOTS);
  private readonly inflightNode: (Node | null)[] = new Array(SLOTS).fill(null);
  /** Units not sent yet because an earlier unit of their slot must be answered or resent first. */
  private readonly waiting = new Map<number, Unit[]>();
  /** Slots waiting for the backoff timer (TRYAGAIN, CLUSTERDOWN, lost connection). */
  private readonly backoff = new Set<number>();
  private backoffTimer: NodeJS.Timeout | null = null;
  private backoffAttempt = 0;
  private refreshing: Promise<void> | null = null;
  private refreshWanted = false;

  private reqs: Req[] = [];
  private head = 0;
  private deliverScheduled = false;
  private bytes = 0;
  private seq = 0;
  /**
   * Units submitted and not answered yet (resends included), and the keyless barrier: a broadcast
   * starts when `live` is 0; units submitted while one waits or runs are held, in order, until it ends.
   */
  private live = 0;
  private barrier = 0;
  private held: { exclusive: boolean; run: () => void }[] = [];
  /** Collecting a MULTI group: its requests and commands (argv copied as encoded bytes). */
  private group: { multi: Req; inner: Req[]; argv: CommandArg[][]; cmds: (Buffer | null)[] } | null = null;
  private drainWaiters: (() => void)[] = [];
  private closed = false;
  private readonly maxInFlight: number;
  private readonly maxBytes: number;
  private readonly retryTimeoutMs: number;
  private readonly split: boolean;
  private readonly onReply = this.reply.bind(this);
  private readonly deliverBound = (): void => this.deliver();

  private constructor(
    private readonly base: ConnectOptions,
    topo: Topology,
    private readonly opts: ClusterWriterOptions,
  ) {
    this.maxInFlight = opts.maxInFlight ?? 8192;
    this.maxBytes = opts.maxInFlightBytes ?? 64 * 1024 * 1024;
    this.retryTimeoutMs = opts.retryTimeoutMs ?? 120_000;
    this.split = opts.crossSlot === 'split';
    this.apply(topo);
  }

  /** Reads the slot map through `seed` (kept as the connection of its node when it is a master). */
  static async open(
    base: ConnectOptions,
    seed: RedisConnection,
    opts: ClusterWriterOptions = {},
  ): Promise<ClusterWriter> {
    const topo = await readTopology(seed, base.host);
    const w = new ClusterWriter(base, topo, opts);
    const n = w.nodes.get(`${base.host}:${base.port}`);
    if (n) n.conn = seed;
    else await seed.close().catch(() => seed.destroy());
    return w;
  }

  get topologyMasters(): string[] {
    const s = new Set<Node>();
    for (const n of this.owner) if (n) s.add(n);
    return [...s].map((n) => n.key);
  }

  get needsDrain(): boolean {
    return this.reqs.length - this.head >= this.maxInFlight || this.bytes >= this.maxBytes;
  }

  drain(): Promise<void> {
    if (!this.needsDrain) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  send(argv: CommandArg[], cb: ReplyCallback): void {
    const name = commandName(argv[0]);
    if (this.group !== null) {
      if (name === 'exec') {
        this.endGroup(cb);
        return;
      }
      if (name === 'discard') {
        // Never replicated; answer as a server would and forget the group.
        for (const r of [this.group.multi, ...this.group.inner])
          this.settle(r, null, r === this.group.multi ? OK : QUEUED);
        this.group = null;
        this.push(new Req(cb, M_ONE, null, 0));
        this.settle(this.reqs[this.reqs.length - 1]!, null, OK);
        return;
      }
      const r = new Req(cb, M_ONE, null, 0);
      this.push(r);
      this.group.inner.push(r);
      this.group.argv.push(argv);
      this.group.cmds.push(name === 'select' ? null : encodeCommand(argv));
      return;
    }
    if (name === 'multi') {
      const r = new Req(cb, M_ONE, null, 0);
      this.push(r);
      this.group = { multi: r, inner: [], argv: [], cmds: [] };
      return;
    }
    const req = new Req(cb, M_ONE, null, 0);
    this.push(req);
    this.route(argv, req);
  }

  /** Waits until every unit is answered, then closes every node connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    await Promise.all(
      [...this.nodes.values()].map(async (n) => {
        const c = n.conn;
        n.conn = null;
        if (c && !c.closed) await c.close().catch(() => c.destroy());
      }),
    );
  }

  destroy(): void {
    this.closed = true;
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    for (const n of this.nodes.values()) n.conn?.destroy();
  }

  // ---- routing ----------------------------------------------------------------------------------

  private route(argv: CommandArg[], req: Req): void {
    const name = commandName(argv[0]);
    if (name === 'select') {
      this.select(argv, req);
      return;
    }
    const spec = keySpec(argv);
    if (spec.kind === KS.NONE) {
      this.broadcastUnit(encodeCommand(argv), req);
      return;
    }
    if (spec.kind === KS.ANY) {
      this.submit(this.unit(anySlot(this.owner), [encodeCommand(argv)], req));
      return;
    }
    if (spec.kind === KS.ONE) {
      this.submit(this.unit(keySlot(keyArg(argv, spec.keys[0]!)), [encodeCommand(argv)], req));
      return;
    }
    if (spec.kind === KS.EACH || spec.kind === KS.PAIRS) {
      const step = spec.kind === KS.PAIRS ? 2 : 1;
      const bySlot = new Map<number, CommandArg[]>();
      for (let i = 1; i < argv.length; i += step) {
        const s = keySlot(keyArg(argv, i));
        let a = bySlot.get(s);
        if (!a) bySlot.set(s, (a = [argv[0]!]));
        a.push(argv[i]!);
        if (step === 2) a.push(argv[i + 1]!);
      }
      if (bySlot.size === 1) {
        this.submit(this.unit(bySlot.keys().next().value!, [encodeCommand(argv)], req));
        return;
      }
      this.stats.splitCommands++;
      // The request's reply is made of its parts: a Req per part would be one too many objects.
      const whole = new Req(req.cb, spec.kind === KS.PAIRS ? M_OK : M_SUM, req.parent, req.parentIdx);
      this.replaceReq(req, whole);
      whole.parts = bySlot.size;
      for (const [s, a] of bySlot) this.submit(this.unit(s, [encodeCommand(a)], whole));
      return;
    }
    // FIXED: every key must share a slot.
    const slots = new Set<number>();
    for (const i of spec.keys) if (i < argv.length) slots.add(keySlot(keyArg(argv, i)));
    if (slots.size <= 1) {
      this.submit(this.unit(slots.values().next().value ?? 0, [encodeCommand(argv)], req));
      return;
    }
    if (this.split && EMULATED.has(name)) {
      this.emulate(copyArgs([...argv], null), req);
      return;
    }
    this.settle(
      req,
      crossSlotError(`${name.toUpperCase()} touches keys in ${slots.size} slots`, this.split),
      null,
    );
  }

  /**
   * `--cross-slot split`: a two-key command across slots done as its steps (read one key, write the
   * other), not atomically. It runs alone: everything before it is answered first, everything after
   * waits until it is done, so no other write to either key can come between its steps.
   */
  private emulate(argv: CommandArg[], req: Req): void {
    this.stats.crossSlotSplit++;
    this.held.push({
      exclusive: true,
      run: () => {
        this.barrier++;
        this.live++;
        void emulateCommand(argv, (slot, cmd) => this.step(slot, cmd)).then(([err, reply]) => {
          this.settle(req, err, reply);
          this.live--;
          this.barrier--;
          this.tryRelease();
        });
      },
    });
    this.tryRelease();
  }

  /** One command of an emulation, routed and retried like any other, past the barrier. */
  private step(slot: number, argv: CommandArg[]): Promise<[Error | null, unknown]> {
    return new Promise((resolve) => {
      const r = new Req((err, reply) => resolve([err, reply]), M_ONE, null, 0);
      r.direct = true;
      const u = this.unit(slot, [encodeCommand(argv)], r);
      this.bytes += u.bytes;
      this.dispatchNew(u);
    });
  }

  private select(argv: CommandArg[], req: Req): void {
    const db = Number(commandName(argv[1]));
    if (db === 0) {
      this.settle(req, null, OK);
      return;
    }
    this.settle(
      req,
      new ReplicantError(
        'ERR_CLUSTER_DB',
        `a cluster target has only DB 0, but a write for DB ${db} arrived`,
        {
          hint: `map every source DB to 0: --db-map ${db}:0 (with --allow-db-merge when DB 0 is migrated too; keys with the same name in different DBs then collide), or leave DB ${db} out with --dbs`,
        },
      ),
      null,
    );
  }

  private endGroup(cb: ReplyCallback): void {
    const g = this.group!;
    this.group = null;
    const exec = new Req(cb, M_ONE, null, 0);
    this.push(exec);
    const slots = new Set<number>();
    let keyless = false;
    for (let i = 0; i < g.argv.length; i++) {
      if (g.cmds[i] === null) continue;
      const spec = keySpec(g.argv[i]!);
      if (spec.kind === KS.NONE || spec.kind === KS.ANY) keyless = true;
      const argv = g.argv[i]!;
      if (spec.kind === KS.EACH) for (let k = 1; k < argv.length; k++) slots.add(keySlot(keyArg(argv, k)));
      else if (spec.kind === KS.PAIRS)
        for (let k = 1; k < argv.length; k += 2) slots.add(keySlot(keyArg(argv, k)));
      else for (const k of spec.keys) if (k < argv.length) slots.add(keySlot(keyArg(argv, k)));
    }
    for (let i = 0; i < g.argv.length; i++) {
      // Only SELECT 0 can stay inside a group: any other DB fails the group as a SELECT would.
      if (g.cmds[i] === null && Number(commandName(g.argv[i]![1])) !== 0) {
        this.select(g.argv[i]!, exec);
        return;
      }
    }
    if (slots.size <= 1 && !keyless) {
      // One slot: the group stays a transaction on the node that owns it.
      const cmds: Buffer[] = [MULTI];
      const targets: Req[] = [];
      const idx: number[] = [];
      for (let i = 0; i < g.cmds.length; i++) {
        const c = g.cmds[i];
        if (c === null) continue;
        cmds.push(c);
        targets.push(g.inner[i]!);
        idx.push(i);
      }
      cmds.push(EXEC);
      if (targets.length === 0) {
        this.settle(g.multi, null, OK);
        for (const r of g.inner) this.settle(r, null, QUEUED);
        this.settle(
          exec,
          null,
          g.inner.map(() => OK),
        );
        return;
      }
      const u = this.unit(slots.values().next().value ?? 0, cmds, null);
      u.group = true;
      u.targets = targets;
      u.idx = idx;
      u.multiReq = g.multi;
      u.execReq = exec;
      u.total = g.argv.length;
      // The SELECT 0s answered here: their EXEC entries are filled when the group replies.
      for (let i = 0; i < g.cmds.length; i++) if (g.cmds[i] === null) this.settle(g.inner[i]!, null, QUEUED);
      this.submit(u);
      return;
    }
    this.settle(g.multi, null, OK);
    for (const r of g.inner) this.settle(r, null, QUEUED);
    if (!this.split) {
      const what = keyless ? 'a keyless command and keys' : `keys in ${slots.size} slots`;
      this.settle(exec, crossSlotError(`a MULTI/EXEC group from the source touches ${what}`, false), null);
      return;
    }
    // --cross-slot split: each command applied on its own, in order per slot; EXEC's reply gathers theirs.
    this.stats.crossSlotSplit++;
    const whole = new Req(cb, M_ARRAY, null, 0);
    this.replaceReq(exec, whole);
    whole.arr = new Array(g.argv.length).fill(OK);
    whole.parts = g.argv.length;
    for (let i = 0; i < g.argv.length; i++) {
      const part = new Req(null, M_ONE, whole, i);
      if (g.cmds[i] === null) this.settle(part, null, OK);
      else this.route(g.argv[i]!, part);
    }
  }

  private unit(slot: number, cmds: Buffer[], req: Req | null): Unit {
    let bytes = 0;
    for (const c of cmds) bytes += c.length;
    return {
      seq: this.seq++,
      slot,
      cmds,
      bytes,
      group: false,
      targets: req ? [req] : [],
      idx: [-1],
      multiReq: null,
      execReq: null,
      asking: null,
      node: null,
      replies: [],
      errs: [],
      got: 0,
      firstTry: Date.now(),
      total: 0,
      broadcast: false,
    };
  }

  /** A keyless write: after everything before it is answered, on every master; the first error wins. */
  private broadcastUnit(cmd: Buffer, req: Req): void {
    const masters = new Set<Node>();
    for (const n of this.owner) if (n) masters.add(n);
    const whole = new Req(req.cb, M_ONE, req.parent, req.parentIdx);
    this.replaceReq(req, whole);
    whole.parts = masters.size;
    const units = [...masters].map((n) => {
      const u = this.unit(-1, [cmd], whole);
      u.broadcast = true;
      u.bytes = 0;
      u.node = n;
      return u;
    });
    this.runExclusive(() => {
      for (const u of units) this.dispatchTo(u, u.node!);
    }, units);
  }

  /** Runs `start` once nothing else is outstanding; later units wait until `units` are answered. */
  private runExclusive(start: () => void, units: Unit[]): void {
    this.held.push({
      exclusive: true,
      run: () => {
        this.barrier = units.length;
        this.live += units.length;
        start();
      },
    });
    this.tryRelease();
  }

  private tryRelease(): void {
    while (this.held.length > 0 && this.barrier === 0) {
      if (this.held[0]!.exclusive && this.live > 0) return;
      this.held.shift()!.run();
    }
  }

  private submit(u: Unit): void {
    this.bytes += u.bytes;
    if (this.barrier > 0 || this.held.length > 0) {
      this.held.push({ exclusive: false, run: () => this.dispatchNew(u) });
      return;
    }
    this.dispatchNew(u);
  }

  private dispatchNew(u: Unit): void {
    this.live++;
    this.dispatch(u);
  }

  /** Sends `u` now if its slot allows, else queues it behind the slot's earlier units. */
  private dispatch(u: Unit): void {
    const s = u.slot;
    const q = this.waiting.get(s);
    if (q !== undefined && q.length > 0) {
      q.push(u);
      return;
    }
    if (!this.trySend(u)) this.wait(u);
  }

  private wait(u: Unit): void {
    let q = this.waiting.get(u.slot);
    if (!q) this.waiting.set(u.slot, (q = []));
    q.push(u);
  }

  private trySend(u: Unit): boolean {
    const s = u.slot;
    if (this.backoff.has(s)) return false;
    const node = u.asking ?? this.owner[s] ?? null;
    if (node === null) {
      // Unassigned slot (a master failed and no replica took over yet): wait for the map to change.
      this.stats.clusterdown++;
      this.startBackoff(s);
      return false;
    }
    if (this.inflight[s]! > 0 && this.inflightNode[s] !== node) return false;
    this.inflight[s]!++;
    this.inflightNode[s] = node;
    this.dispatchTo(u, node);
    return true;
  }

  private dispatchTo(u: Unit, node: Node): void {
    u.node = node;
    u.got = 0;
    u.replies.length = 0;
    u.errs.length = 0;
    if (node.conn === null || node.conn.closed) {
      node.queue.push(u);
      this.connect(node);
      return;
    }
    this.write(node.conn, u);
  }

  private write(conn: RedisConnection, u: Unit): void {
    if (u.asking !== null) conn.sendRaw(ASKING, noop);
    for (const c of u.cmds) conn.sendRaw(c, this.onReply, u);
  }

  private connect(node: Node): void {
    if (node.connecting !== null) return;
    const o: ConnectOptions = { ...this.base, host: node.host, port: node.port };
    delete (o as { db?: number }).db;
    node.connecting = RedisConnection.connect(o, 'target').then(
      (conn) => {
        node.connecting = null;
        node.conn = conn;
        conn.on('close', () => {
          if (node.conn === conn) node.conn = null;
        });
        const q = node.queue;
        node.queue = [];
        for (const u of q) this.write(conn, u);
      },
      (err: Error) => {
        node.connecting = null;
        const q = node.queue;
        node.queue = [];
        for (const u of q) this.finishUnit(u, err);
      },
    );
  }

  // ---- replies ----------------------------------------------------------------------------------

  private reply(err: Error | null, reply: unknown, u: Unit): void {
    u.errs[u.got] = err;
    u.replies[u.got] = reply;
    if (++u.got < u.cmds.length) return;
    this.finishUnit(u, null);
  }

  /** All replies of `u` are in (or `lost`: it could not be sent): deliver, or send again. */
  private finishUnit(u: Unit, lost: Error | null): void {
    if (!u.broadcast) this.inflight[u.slot]!--;
    const why = lost ?? this.redirectError(u);
    const r = why === null ? ({ kind: 'none' } as const) : classifyRedirect(why);
    if (r.kind !== 'none' && !this.closed && !u.broadcast) {
      // A redirect to another slot than ours means we computed the slot wrong: resending can't help.
      const wrongSlot = (r.kind === 'moved' || r.kind === 'ask') && r.slot !== u.slot;
      if (wrongSlot) lost = wrongSlotError(why!, u.slot, u);
      else if (Date.now() - u.firstTry <= this.retryTimeoutMs) {
        this.retry(u, r);
        this.afterSlot(u.slot);
        return;
      } else lost = giveUpError(why!, this.retryTimeoutMs);
    }
    this.bytes -= u.bytes;
    this.live--;
    this.answer(u, lost);
    if (!u.broadcast) this.afterSlot(u.slot);
    else this.barrier--;
    if (this.backoffAttempt > 0 && why === null) this.backoffAttempt = 0;
    this.tryRelease();
  }

  /** The reply that makes `u` go again, if any: a single command's error; a group's first redirect. */
  private redirectError(u: Unit): Error | null {
    if (u.group) {
      // A transaction in a slot being migrated whose keys are split between the two nodes: some of its
      // commands were QUEUED (their keys are still here), others got ASK (theirs moved, or are new).
      // Resending it with ASKING would run the queued ones on the importing node against keys it does
      // not have yet (and MIGRATE … REPLACE would then overwrite what they wrote). Wait until the
      // migration has moved them all (every command then answers ASK) or ended (MOVED).
      let ask = false;
      let queued = false;
      for (let i = 1; i < u.cmds.length - 1; i++) {
        const e = u.errs[i];
        if (e === null || e === undefined) queued ||= u.replies[i] === QUEUED;
        else if (classifyRedirect(e).kind === 'ask') ask = true;
      }
      if (ask && queued) return new ServerReplyError('TRYAGAIN transaction keys split by a slot migration');
    }
    for (const e of u.errs) if (e !== null && classifyRedirect(e).kind !== 'none') return e;
    if (u.group) {
      const last = u.replies[u.cmds.length - 1];
      // EXEC answers null when the node lost the slot between MULTI and EXEC (a WATCH-like abort): resend.
      if (u.errs[u.cmds.length - 1] === null && last === null)
        return new ServerReplyError('TRYAGAIN exec aborted');
    }
    return null;
  }

  private retry(u: Unit, r: ReturnType<typeof classifyRedirect>): void {
    const s = u.slot;
    u.asking = null;
    switch (r.kind) {
      case 'moved':
        this.stats.moved++;
        this.owner[r.slot] = this.node(r.host || u.node!.host, r.port);
        this.scheduleRefresh();
        break;
      case 'ask':
        this.stats.ask++;
        u.asking = this.node(r.host || u.node!.host, r.port);
        break;
      case 'tryagain':
        this.stats.tryagain++;
        this.startBackoff(s);
        break;
      case 'connection':
        this.stats.connectionRetries++;
        this.startBackoff(s);
        break;
      default:
        this.stats.clusterdown++;
        this.startBackoff(s);
    }
    // Back to the front of its slot's queue, in send order among the slot's other resends.
    let q = this.waiting.get(s);
    if (!q) this.waiting.set(s, (q = []));
    let i = 0;
    while (i < q.length && q[i]!.seq < u.seq) i++;
    q.splice(i, 0, u);
  }

  /** A slot's in-flight count went down: send what waits for it, in order, as far as allowed. */
  private afterSlot(s: number): void {
    const q = this.waiting.get(s);
    if (q === undefined || q.length === 0) return;
    // Units still out on the slot: they may be redirected too, and must go again before these.
    if (this.inflight[s]! > 0) return;
    let i = 0;
    while (i < q.length && this.trySend(q[i]!)) i++;
    q.splice(0, i);
    if (q.length === 0) this.waiting.delete(s);
  }

  private node(host: string, port: number): Node {
    const k = nodeKey({ host, port });
    let n = this.nodes.get(k);
    if (!n) {
      n = { key: k, host, port, conn: null, connecting: null, queue: [] };
      this.nodes.set(k, n);
    }
    return n;
  }

  private apply(t: Topology): void {
    const byShard = t.shards.map((sh) => this.node(sh.master.host, sh.master.port));
    for (let s = 0; s < SLOTS; s++) {
      const i = t.slots[s]!;
      this.owner[s] = i < 0 ? null : byShard[i]!;
    }
    this.stats.masters = t.shards.length;
  }

  // ---- backoff and refresh ------------------------------------------------------------------------

  private startBackoff(s: number): void {
    this.backoff.add(s);
    if (this.backoffTimer !== null || this.closed) return;
    const delay = Math.min(1000, 25 * 2 ** this.backoffAttempt++);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null;
      this.refresh().then(() => {
        const slots = [...this.backoff];
        this.backoff.clear();
        for (const x of slots) this.afterSlot(x);
      });
    }, delay);
  }

  private scheduleRefresh(): void {
    if (this.refreshWanted) return;
    this.refreshWanted = true;
    // Many MOVED replies arrive together after a failover or a slot move: one refresh for all of them.
    setTimeout(() => {
      this.refreshWanted = false;
      void this.refresh();
    }, 10).unref();
  }

  /** One map refresh at a time; whoever asks while one runs waits for that one. Never rejects. */
  refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      this.stats.refreshes++;
      const candidates = [
        ...new Set([...this.owner.filter((n): n is Node => n !== null), ...this.nodes.values()]),
      ];
      for (const n of candidates) {
        let conn: RedisConnection | null = null;
        try {
          conn = await RedisConnection.connect(
            { ...this.base, host: n.host, port: n.port, connectTimeoutMs: 2000 },
            'target',
          );
          const t = await readTopology(conn, n.host);
          if (t.shards.length > 0) {
            this.apply(t);
            return;
          }
        } catch (err) {
          this.opts.log?.warn(
            { node: n.key, err: (err as Error).message },
            'cluster map refresh: node did not answer',
          );
        } finally {
          conn?.destroy();
        }
      }
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  // ---- answers ----------------------------------------------------------------------------------

  private answer(u: Unit, lost: Error | null): void {
    if (!u.group) {
      const req = u.targets[0]!;
      this.settle(req, lost ?? u.errs[0] ?? null, lost ? null : u.replies[0]);
      return;
    }
    // MULTI, inner…, EXEC: the inner replies are QUEUED or an error; EXEC's array fills the inner answers.
    this.settle(u.multiReq!, lost ?? u.errs[0] ?? null, OK);
    const n = u.cmds.length;
    for (let i = 0; i < u.targets.length; i++) {
      const e = lost ?? u.errs[i + 1] ?? null;
      this.settle(u.targets[i]!, e, QUEUED);
    }
    const execErr = lost ?? u.errs[n - 1] ?? null;
    if (execErr !== null) {
      this.settle(u.execReq!, execErr, null);
      return;
    }
    const inner = u.replies[n - 1] as unknown[];
    // SELECT 0s answered here get their OK in the array, in their place.
    const full: unknown[] = [];
    let k = 0;
    for (let i = 0; i < u.total; i++) full.push(u.idx[k] === i ? inner[k++] : OK);
    this.settle(u.execReq!, null, full);
  }

  private settle(req: Req, err: Error | null, reply: unknown): void {
    if (req.done) return;
    switch (req.mode) {
      case M_ONE:
        req.err = err;
        req.reply = reply;
        req.parts = 0;
        break;
      case M_SUM:
        if (err !== null && req.err === null) req.err = err;
        else if (typeof reply === 'number') req.sum += reply;
        req.reply = req.sum;
        req.parts--;
        break;
      case M_OK:
        if (err !== null && req.err === null) req.err = err;
        req.reply = OK;
        req.parts--;
        break;
      case M_ARRAY:
        // A part of a split EXEC: errors go in the array, as a real EXEC reports them.
        break;
    }
    if (req.parts > 0) return;
    this.complete(req);
  }

  private complete(req: Req): void {
    req.done = true;
    if (req.direct) {
      req.cb!(req.err, req.reply);
      return;
    }
    const p = req.parent;
    if (p !== null) {
      p.arr![req.parentIdx] = req.err ?? req.reply;
      if (--p.parts === 0) {
        p.reply = p.arr;
        this.complete(p);
      }
      return;
    }
    if (!this.deliverScheduled) {
      this.deliverScheduled = true;
      process.nextTick(this.deliverBound);
    }
  }

  private push(r: Req): void {
    this.reqs.push(r);
  }

  /** `whole` takes `req`'s place in the send-order queue (or in its parent). */
  private replaceReq(req: Req, whole: Req): void {
    if (req.parent !== null) return; // parts report to the parent by index; `whole` carries the same
    for (let i = this.reqs.length - 1; i >= this.head; i--) {
      if (this.reqs[i] === req) {
        this.reqs[i] = whole;
        return;
      }
    }
  }

  /** Answers, in send order, every request whose reply is complete. */
  private deliver(): void {
    this.deliverScheduled = false;
    while (this.head < this.reqs.length && this.reqs[this.head]!.done) {
      const r = this.reqs[this.head]!;
      this.reqs[this.head++] = undefined as unknown as Req;
      r.cb?.(r.err, r.err === null ? r.reply : null);
    }
    if (this.head > 1024 && this.head * 2 > this.reqs.length) {
      this.reqs = this.reqs.slice(this.head);
      this.head = 0;
    }
    if (
      this.drainWaiters.length > 0 &&
      this.reqs.length - this.head <= this.maxInFlight >>> 1 &&
      this.bytes <= this.maxBytes / 2
    ) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const f of w) f();
    }
  }
}

function noop(): void {}

/** Cross-slot commands `--cross-slot split` can apply as steps. */
const EMULATED = new Set([
  'rename',
  'renamenx',
  'copy',
  'smove',
  'lmove',
  'blmove',
  'rpoplpush',
  'brpoplpush',
]);

type Step = (slot: number, argv: CommandArg[]) => Promise<[Error | null, unknown]>;

/** The steps of one EMULATED command; resolves with what the command itself would have answered. */
async function emulateCommand(argv: CommandArg[], step: Step): Promise<[Error | null, unknown]> {
  const n = commandName(argv[0]);
  const a = keyArg(argv, 1);
  const b = keyArg(argv, 2);
  const sa = keySlot(a);
  const sb = keySlot(b);
  const busy = (e: Error | null) => e instanceof ServerReplyError && e.prefix === 'BUSYKEY';
  if (n === 'rename' || n === 'renamenx' || n === 'copy') {
    const replace =
      n === 'rename' || (n === 'copy' && argv.slice(3).some((x) => commandName(x) === 'replace'));
    if (n === 'copy' && argv.slice(3).some((x) => commandName(x) === 'db'))
      return [crossSlotError('COPY … DB into a cluster', true), null];
    const [de, dump] = await step(sa, ['DUMP', a]);
    if (de !== null) return [de, null];
    if (dump === null) return n === 'copy' ? [null, 0] : [new ServerReplyError('ERR no such key'), null];
    const [, pttl] = await step(sa, ['PTTL', a]);
    const ttl = Number(pttl);
    const [re] = await step(sb, [
      'RESTORE',
      b,
      Math.max(0, ttl),
      dump as Buffer,
      ...(replace ? ['REPLACE'] : []),
    ]);
    if (busy(re)) return [null, 0];
    if (re !== null) return [re, null];
    if (n !== 'copy') {
      const [e] = await step(sa, ['DEL', a]);
      if (e !== null) return [e, null];
    }
    return [null, n === 'rename' ? 'OK' : 1];
  }
  if (n === 'smove') {
    const [e, removed] = await step(sa, ['SREM', a, argv[3]!]);
    if (e !== null || removed === 0) return [e, e === null ? 0 : null];
    const [e2] = await step(sb, ['SADD', b, argv[3]!]);
    return [e2, e2 === null ? 1 : null];
  }
  // LMOVE/BLMOVE src dst LEFT|RIGHT LEFT|RIGHT, RPOPLPUSH/BRPOPLPUSH src dst.
  const pair = n === 'lmove' || n === 'blmove';
  const from = pair ? commandName(argv[3]) : 'right';
  const to = pair ? commandName(argv[4]) : 'left';
  const [e, v] = await step(sa, [from === 'left' ? 'LPOP' : 'RPOP', a]);
  if (e !== null || v === null) return [e, null];
  const [e2] = await step(sb, [to === 'left' ? 'LPUSH' : 'RPUSH', b, v as Buffer]);
  return [e2, e2 === null ? v : null];
}

function anySlot(owner: (Node | null)[]): number {
  for (let s = 0; s < SLOTS; s++) if (owner[s] !== null) return s;
  return 0;
}

export function crossSlotError(what: string, split: boolean): ReplicantError {
  return new ReplicantError(
    'ERR_CROSS_SLOT',
    `${what}; a cluster runs a transaction or multi-key command only within one slot`,
    {
      hint: split
        ? 'this command has no non-atomic form here (*STORE, BITOP, PFMERGE, MSETNX, multi-key EVAL/FCALL across slots; RENAME/COPY/SMOVE/LMOVE are applied as steps): hash-tag the keys on the source ({tag}) so they share a slot'
        : 'rerun with --cross-slot split to apply such groups command by command (not atomically; counted as crossSlotSplit in /status), or hash-tag the keys on the source ({tag})',
    },
  );
}

function giveUpError(why: Error, ms: number): ReplicantError {
  return new ReplicantError(
    'ERR_TARGET_CLUSTERDOWN',
    `the target cluster kept refusing a write for ${Math.round(ms / 1000)} s (last reply: ${why.message})`,
    {
      hint: 'check CLUSTER INFO on the target (cluster_state, unassigned slots, a failed master without a replica) and rerun',
      cause: why,
    },
  );
}

function wrongSlotError(why: Error, slot: number, u: Unit): ReplicantError {
  // The command's name: the second line of its RESP encoding ("*n\r\n$len\r\nNAME\r\n").
  const names = u.cmds.map((c) => c.toString('latin1', 0, 64).split('\r\n')[2] ?? '?');
  return new ReplicantError(
    'ERR_INTERNAL',
    `${names.join(' ')}: a write routed to slot ${slot} was redirected for another slot (${why.message}): replicant found its key in the wrong argument`,
    {
      hint: 'this is a bug in replicant (its key table lacks this command); rerun with --debug and report it',
      cause: why,
    },
  );
}
