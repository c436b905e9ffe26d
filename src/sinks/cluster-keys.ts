/**
 * Where the keys of a write command are (for slot routing on a cluster target), and whether a
 * command whose keys span slots can be split into one command per slot without changing its meaning.
 * A static table of the write commands a replication stream carries (protocol.md §1.5, §4); anything
 * not listed has its one key at argv[1] (every other write command does).
 */
import type { CommandArg } from '../resp/index.js';

/** How a command's keys are laid out. */
export const KS = {
  /** No key: FLUSHALL, FUNCTION, SCRIPT … — run on every master. */
  NONE: 0,
  /** One key at argv[1]. */
  ONE: 1,
  /** Every argument from 1 is a key; splittable by slot, the replies (integers) add up: DEL, UNLINK, TOUCH, EXISTS. */
  EACH: 2,
  /** key value pairs from 1; splittable, reply +OK: MSET. */
  PAIRS: 3,
  /** Several keys that must share a slot (RENAME, SMOVE, *STORE, LMOVE, COPY, EVAL …): not splittable. */
  FIXED: 4,
  /** Published to any one node (cluster PUBLISH reaches every node). */
  ANY: 5,
} as const;

export interface KeySpec {
  kind: number;
  /** Indices of the key arguments (ONE, FIXED); for EACH/PAIRS computed from the length. */
  keys: number[];
}

const name = (a: CommandArg | undefined): string =>
  a === undefined ? '' : (Buffer.isBuffer(a) ? a.toString('latin1') : String(a)).toLowerCase();
const int = (a: CommandArg | undefined): number => Number(name(a));
const range = (from: number, to: number): number[] => {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
};

const KEYLESS = new Set([
  'flushall',
  'flushdb',
  'function',
  'script',
  'swapdb',
  'ping',
  'multi',
  'exec',
  'select',
]);
const EACH = new Set(['del', 'unlink', 'touch', 'exists']);
/** Two keys at 1 and 2. */
const TWO = new Set([
  'rename',
  'renamenx',
  'smove',
  'lmove',
  'blmove',
  'rpoplpush',
  'brpoplpush',
  'copy',
  'zrangestore',
  'geosearchstore',
]);
/** Keys from 1 to the end. */
const FROM1 = new Set(['sinterstore', 'sunionstore', 'sdiffstore', 'pfmerge']);

export function keySpec(argv: CommandArg[]): KeySpec {
  const n = name(argv[0]);
  if (KEYLESS.has(n)) return { kind: KS.NONE, keys: [] };
  if (n === 'publish') return { kind: KS.ANY, keys: [] };
  // A sharded channel lives in its slot: the node that owns it answers MOVED to any other.
  if (n === 'spublish') return argv.length > 1 ? { kind: KS.ONE, keys: [1] } : { kind: KS.NONE, keys: [] };
  if (argv.length < 2) return { kind: KS.NONE, keys: [] };
  if (EACH.has(n))
    return argv.length === 2 ? { kind: KS.ONE, keys: [1] } : { kind: KS.EACH, keys: range(1, argv.length) };
  if (n === 'mset') return argv.length === 3 ? { kind: KS.ONE, keys: [1] } : { kind: KS.PAIRS, keys: [] };
  if (n === 'msetnx') {
    const keys: number[] = [];
    for (let i = 1; i < argv.length; i += 2) keys.push(i);
    return { kind: KS.FIXED, keys };
  }
  // Container commands: the key follows the subcommand.
  if (n === 'xgroup' || n === 'object' || n === 'xinfo' || n === 'memory')
    return argv.length > 2 ? { kind: KS.ONE, keys: [2] } : { kind: KS.NONE, keys: [] };
  if (TWO.has(n)) return { kind: KS.FIXED, keys: [1, 2] };
  if (FROM1.has(n)) return { kind: KS.FIXED, keys: range(1, argv.length) };
  if (n === 'bitop') return { kind: KS.FIXED, keys: range(2, argv.length) };
  if (n === 'zunionstore' || n === 'zinterstore' || n === 'zdiffstore')
    return { kind: KS.FIXED, keys: [1, ...range(3, 3 + int(argv[2]))] };
  if (
    n === 'eval' ||
    n === 'evalsha' ||
    n === 'eval_ro' ||
    n === 'evalsha_ro' ||
    n === 'fcall' ||
    n === 'fcall_ro'
  ) {
    const k = int(argv[2]);
    return k > 0 ? { kind: KS.FIXED, keys: range(3, 3 + k) } : { kind: KS.ANY, keys: [] };
  }
  if (n === 'lmpop' || n === 'zmpop' || n === 'sintercard')
    return { kind: KS.FIXED, keys: range(2, 2 + int(argv[1])) };
  if (n === 'blmpop' || n === 'bzmpop') return { kind: KS.FIXED, keys: range(3, 3 + int(argv[2])) };
  if (n === 'sort' || n === 'sort_ro') {
    for (let i = 2; i + 1 < argv.length; i++)
      if (name(argv[i]) === 'store') return { kind: KS.FIXED, keys: [1, i + 1] };
    return { kind: KS.ONE, keys: [1] };
  }
  return { kind: KS.ONE, keys: [1] };
}

export function keyArg(argv: CommandArg[], i: number): Buffer {
  const a = argv[i];
  return Buffer.isBuffer(a) ? a : Buffer.from(String(a));
}

export const commandName = name;
