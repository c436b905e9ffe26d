/**
 * Command line (+ environment) → one frozen {@link Config}. Validation runs once, here, and collects
 * every problem before failing (fastify style): a user fixes the whole command line in one go.
 *
 * `node:util` parseArgs is run non-strict with tokens so that an unknown flag is a collected problem
 * (with a "use --x instead" suggestion) instead of an exception that hides the rest.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { urlCredentials } from '../net/url.js';
import { registerSecret } from '../obs/terminal.js';
import { DbFilter } from '../filters/db.js';
import {
  COMMANDS,
  type CommandName,
  type ConflictMode,
  type CrossSlotMode,
  FLAGS,
  type FlagSpec,
  flagApplies,
  type HashFieldTtlMode,
  type LogLevel,
  RENAMED,
} from './schema.js';
import {
  type Checked,
  checkChoice,
  checkConflict,
  checkHostPort,
  checkLogLevel,
  checkUrl,
  nearest,
  parseDbMap,
  parseCount,
  parseDbs,
  parseDuration,
  parsePort,
  parseSize,
} from './values.js';

export interface Config {
  readonly command: CommandName;
  /** Positional arguments after the command (rdb-inspect FILE). */
  readonly args: readonly string[];
  readonly source: string | null;
  readonly sourceUser: string | null;
  readonly sourcePassword: string | null;
  readonly target: string | null;
  readonly targetUser: string | null;
  readonly targetPassword: string | null;
  readonly rdb: string | null;
  readonly json: boolean;
  /** Selected source DBs (sorted), or null for all. */
  readonly dbs: readonly number[] | null;
  /** Source DB → target DB pairs, or null for identity. */
  readonly dbMap: readonly (readonly [number, number])[] | null;
  readonly match: string | null;
  readonly onConflict: ConflictMode;
  readonly bigKeyBytes: number;
  readonly noRestore: boolean;
  readonly noVerifyCrc: boolean;
  readonly skipUnsupported: boolean;
  readonly skipFunctions: boolean;
  /** FLUSHDB every reachable target DB before writing anything. */
  readonly flushTarget: boolean;
  /** Hash field TTLs on a target without HPEXPIREAT (#4). */
  readonly hashFieldTtl: HashFieldTtlMode;
  /** Cluster target: commands/MULTI groups spanning slots (#5). */
  readonly crossSlot: CrossSlotMode;
  readonly preferReplica: boolean;
  /** `{ host, port }` of a Sentinel, or null. */
  readonly sourceSentinel: { readonly host: string; readonly port: number } | null;
  readonly sourceMasterName: string | null;
  /** Spool disk budget, bytes. */
  readonly spoolLimit: number;
  /** Spool memory tier, bytes (beyond it: disk). */
  readonly spoolMemory: number;
  readonly skipPrecheck: boolean;
  readonly allowEviction: boolean;
  /** Several source DBs may be written into one target DB (`--db-map 1:0` with DB 0 selected too). */
  readonly allowDbMerge: boolean;
  /** verify: sample size, or null for every key. */
  readonly sample: number | null;
  readonly rounds: number;
  /** Milliseconds. */
  readonly roundDelay: number;
  /** Milliseconds. */
  readonly ttlTolerance: number;
  /** verify: JSONL report path, or null for the default name. */
  readonly report: string | null;
  readonly repair: boolean;
  readonly deleteExtra: boolean;
  readonly heartbeatKey: string;
  readonly statusPort: number | null;
  readonly statusHost: string;
  /** Bearer token the status server asks for (required off loopback), or null. */
  readonly statusToken: string | null;
  /** sync: full copies the source may break in a row before the run stops. */
  readonly maxFullCopies: number;
  /** sync: milliseconds of reconnecting to the source without progress before the run stops. */
  readonly reconnectTimeout: number;
  readonly stateDir: string | null;
  readonly logLevel: LogLevel;
  readonly jsonLogs: boolean;
  readonly noProgress: boolean;
  readonly debug: boolean;
  readonly help: boolean;
  readonly version: boolean;
}

/** A ConfigError that also lists each problem separately (tests and --json callers read `problems`). */
export class ConfigProblems extends ConfigError {
  readonly problems: readonly string[];
  constructor(problems: string[], hint: string) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} problems: ${problems.join('; ')}`, hint);
    this.problems = Object.freeze(problems);
  }
}

const INVALID = Symbol('invalid');

const BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));

const PARSE_OPTIONS = Object.fromEntries(
  FLAGS.map((f) => [f.name, f.short ? { type: toArgType(f), short: f.short } : { type: toArgType(f) }]),
) as Record<string, { type: 'string' | 'boolean'; short?: string }>;

function toArgType(f: FlagSpec): 'string' | 'boolean' {
  return f.kind === 'boolean' ? 'boolean' : 'string';
}

function convert(spec: FlagSpec, text: string): Checked<unknown> {
  switch (spec.kind) {
    case 'url':
      return checkUrl(text);
    case 'port':
      return parsePort(text);
    case 'size':
      return parseSize(text);
    case 'dbs':
      return parseDbs(text);
    case 'db-map':
      return parseDbMap(text);
    case 'log-level':
      return checkLogLevel(text);
    case 'conflict':
      return checkConflict(text);
    case 'choice':
      return checkChoice(text, spec.choices ?? []);
    case 'count':
      return parseCount(text);
    case 'duration':
      return parseDuration(text);
    case 'host-port':
      return checkHostPort(text);
    case 'boolean':
      return /^(1|true|yes|on)$/i.test(text)
        ? { ok: true, value: true }
        : /^(0|false|no|off|)$/i.test(text)
          ? { ok: true, value: false }
          : { ok: false, problem: `'${text}' is not a boolean (true/false)` };
    default:
      return text === '' ? { ok: false, problem: 'is empty' } : { ok: true, value: text };
  }
}

/**
 * Parse a command line. Throws {@link ConfigProblems} (exit code 2) listing every problem; otherwise
 * returns a frozen Config. `env` defaults to process.env (tests pass their own).
 */
export function parseConfig(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): Config {
  const problems: string[] = [];
  let command: CommandName = 'sync';
  let rest = argv;
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-')) {
    if ((COMMANDS as readonly string[]).includes(first)) {
      command = first as CommandName;
      rest = argv.slice(1);
    } else {
      const near = nearest(first, COMMANDS);
      throw new ConfigProblems(
        [`unknown command '${first}'${near ? ` (use ${near} instead)` : ''}`],
        `commands: ${COMMANDS.join(', ')}; run \`replicant --help\``,
      );
    }
  }

  const { tokens } = parseArgs({
    args: [...rest],
    options: PARSE_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });

  const raw = new Map<string, string | true>();
  const args: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      args.push(t.value);
      continue;
    }
    if (t.kind === 'option-terminator') continue;
    // parseArgs reports a known short flag under its long name.
    const spec = BY_NAME.get(t.name);
    if (spec === undefined) {
      problems.push(unknownFlag(t.rawName, t.name));
      continue;
    }
    if (!flagApplies(spec, command)) {
      problems.push(`--${spec.name} does not apply to '${command}'${wrongCommandHint(spec, command)}`);
      continue;
    }
    if (raw.has(spec.name)) {
      problems.push(`--${spec.name} is given more than once`);
      continue;
    }
    if (spec.kind === 'boolean') {
      raw.set(spec.name, t.value === undefined ? true : t.value);
    } else if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))) {
      problems.push(
        `--${spec.name} needs a value${spec.arg ? ` (${spec.arg})` : ''}${t.value ? `, got the flag ${t.value}` : ''}`,
      );
    } else {
      raw.set(spec.name, t.value);
    }
  }

  const out: Record<string, unknown> = { command, args };
  for (const spec of FLAGS) {
    let given = raw.get(spec.name);
    let from = `--${spec.name}`;
    if (given === undefined && spec.env && env[spec.env] !== undefined && flagApplies(spec, command)) {
      given = env[spec.env]!;
      from = `$${spec.env}`;
    }
    if (given === undefined) {
      out[spec.key] = spec.default ?? null;
      continue;
    }
    if (given === true) {
      out[spec.key] = true;
      continue;
    }
    // Known before anything can print them: no message or log line of this process shows them.
    if (spec.secret) registerSecret(given);
    if (spec.kind === 'url') registerUrlSecret(given);
    const r = convert(spec, given);
    if (r.ok) out[spec.key] = Array.isArray(r.value) ? Object.freeze(r.value) : r.value;
    else {
      // Marked so the "is required" check does not report the same flag a second time.
      out[spec.key] = INVALID;
      problems.push(`${from}: ${spec.secret ? 'invalid value' : r.problem}`);
    }
  }

  if (!out.help && !out.version) requireFor(command, out, args, problems);
  for (const spec of FLAGS) if (out[spec.key] === INVALID) out[spec.key] = spec.default ?? null;
  const merge = out.help || out.version ? null : refuseDbMerge(command, out);
  if (merge !== null) problems.push(merge);
  Object.freeze(args);
  if (problems.length > 0) {
    throw new ConfigProblems(
      problems,
      merge !== null && problems.length === 1
        ? 'pass --allow-db-merge to accept the merge (same-named keys collide; a FLUSHDB or SWAPDB of a merged DB then stops the run), or map the DBs to different target DBs, or leave some out with --dbs'
        : `run \`replicant ${command === 'sync' ? '' : `${command} `}--help\` for the flags`,
    );
  }
  return Object.freeze(out) as unknown as Config;
}

/** The password of a URL as typed (raw and percent-decoded), registered as a secret. */
function registerUrlSecret(url: string): void {
  const p = urlCredentials(url).password;
  if (p === null) return;
  registerSecret(p);
  try {
    registerSecret(decodeURIComponent(p));
  } catch {
    // Not valid percent-encoding: the raw form is the one that can be printed.
  }
}

/** TLS-looking flags (--tls, --ssl, --tls-cert, --cacert…): answered about TLS, not with a near name. */
const TLS_FLAG = /^(tls|ssl)(-|$)|^(ca-?cert|cert|key|insecure|sni)$/;

/**
 * A --db-map that writes several selected source DBs into one target DB is refused unless
 * --allow-db-merge: a FLUSHDB of one of them could then not be applied without deleting the others'
 * keys, and same-named keys collide (README, DB selection and mapping).
 */
function refuseDbMerge(command: CommandName, c: Record<string, unknown>): string | null {
  if (command !== 'sync' && command !== 'restore' && command !== 'precheck') return null;
  if (c.allowDbMerge === true || !Array.isArray(c.dbMap) || c.dbMap.length === 0) return null;
  const f = new DbFilter({
    dbs: Array.isArray(c.dbs) ? (c.dbs as number[]) : null,
    dbMap: c.dbMap as [number, number][],
  });
  const merges = f.merges();
  if (merges.length === 0) return null;
  const what = merges
    .map(
      ([t, s]) =>
        `source DBs ${s.length > 4 ? `${s.slice(0, 4).join(', ')}, …` : s.join(', ')} into target DB ${t}`,
    )
    .join('; ');
  return `--db-map merges ${what}${c.dbs === null || c.dbs === undefined ? ' (without --dbs every DB is selected; unmapped DBs keep their number)' : ''}`;
}

function unknownFlag(rawName: string, name: string): string {
  const renamed = RENAMED[name];
  if (renamed) return `unknown flag ${rawName} (use ${renamed} instead)`;
  if (TLS_FLAG.test(name))
    return `unknown flag ${rawName}: TLS is not supported yet (rediss:// URLs and TLS flags are planned; meanwhile connect through a TLS tunnel such as stunnel and give its local end as a plain redis:// URL)`;
  const near = nearest(name, BY_NAME.keys());
  return `unknown flag ${rawName}${near ? ` (use --${near} instead)` : ''}`;
}

function wrongCommandHint(spec: FlagSpec, command: CommandName): string {
  if (spec.name === 'json' && command !== 'rdb-inspect') return ' (use --json-logs for JSON logs)';
  if (spec.commands === 'all') return '';
  return ` (it is a flag of ${spec.commands.join(', ')})`;
}

/** What each command cannot run without; positional arguments are checked here too. */
function requireFor(
  command: CommandName,
  c: Record<string, unknown>,
  args: string[],
  problems: string[],
): void {
  const need = (key: string, flag: string, why: string) => {
    if (c[key] === null || c[key] === undefined) problems.push(`${flag} is required ${why}`);
  };
  const noArgs = () => {
    if (args.length > 0) problems.push(`unexpected argument '${args[0]}'`);
  };
  switch (command) {
    case 'sync':
    case 'precheck':
    case 'verify':
      if (c.sourceSentinel === null && !(command === 'precheck' && c.rdb !== null))
        need('source', '--source URL', `for ${command === 'sync' ? 'a live sync' : command}`);
      need('target', '--target URL', `for ${command === 'sync' ? 'a live sync' : command}`);
      if ((c.sourceSentinel === null) !== (c.sourceMasterName === null))
        problems.push('--source-sentinel and --source-master-name go together');
      // Two sources would be one too many: which one a run followed would depend on the code.
      if (c.sourceSentinel !== null && c.source !== null)
        problems.push(
          '--source and --source-sentinel are given together (one source: --source URL, or --source-sentinel with --source-master-name; check REPLICANT_SOURCE / REPLICANT_SOURCE_SENTINEL too)',
        );
      if (c.deleteExtra === true && c.repair !== true) problems.push('--delete-extra needs --repair');
      if (command === 'sync') checkStatusAccess(c, problems);
      noArgs();
      break;
    case 'restore':
      if (c.rdb === null && args.length === 1) c.rdb = args.shift();
      checkStatusAccess(c, problems);
      need('rdb', '--rdb FILE', 'for restore');
      need('target', '--target URL', 'for restore');
      noArgs();
      break;
    case 'rdb-inspect':
      if (args.length === 0) problems.push('rdb-inspect needs a FILE argument');
      else if (args.length > 1)
        problems.push(`unexpected argument '${args[1]}' (rdb-inspect takes one FILE)`);
      break;
  }
}

/**
 * /status and /metrics tell anyone who can reach them what is being migrated where: off loopback they
 * are served only to clients holding the token (Authorization: Bearer).
 */
function checkStatusAccess(c: Record<string, unknown>, problems: string[]): void {
  if (c.statusPort === null || c.statusPort === undefined) return;
  const host = String(c.statusHost);
  if (c.statusToken === null && !isLoopback(host))
    problems.push(
      `--status-host ${host} serves /status and /metrics beyond this machine, so it needs a token: set REPLICANT_STATUS_TOKEN (or --status-token TOKEN) and send Authorization: Bearer TOKEN, or keep the default --status-host 127.0.0.1`,
    );
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1'
  );
}
