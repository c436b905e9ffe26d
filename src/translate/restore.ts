/**
 * A replicated `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]` (issue #13 §1).
 * The payload carries the SOURCE's RDB version (and family): a target that cannot load it answers
 * "DUMP payload version or checksum are wrong". Such a RESTORE takes the snapshot's path instead:
 * the payload is decoded (the DUMP decoder) and written as ordinary commands by the snapshot's
 * Rewriter, in bounded chunks, inside one MULTI group so the key appears whole as it did on the
 * source: `DEL key` first under REPLACE (without it the source refused an existing key, so nothing
 * was replicated), the value, then `PEXPIREAT` (a relative TTL counted from receipt, ABSTTL as is,
 * 0 = none). IDLETIME/FREQ are LRU/LFU hints that no ordinary command can set: the rewrite leaves
 * them out, as the snapshot's rewrite does.
 *
 * A payload the target accepts still goes as RESTORE, with a relative TTL made absolute at receipt
 * (sources before 7.0 replicate it relative; 7.0+ send ABSTTL themselves).
 */
import { ReplicantError } from '../errors.js';
import { decodeDumpPayload, RdbError } from '../rdb/index.js';
import { MIN_VALKEY_VERSION } from '../rdb/types.js';
import type { KeyMeta, KeyVisitor, ValueChunk } from '../records.js';
import { restoreRefusal } from '../sinks/restore.js';
import { Rewriter } from '../sinks/rewrite.js';
import { newSinkStats } from '../sinks/types.js';
import { type TranslateContext, versionText } from './commands.js';

const B = (s: string) => Buffer.from(s);
const up = (b: Buffer | undefined) => (b === undefined ? '' : b.toString('latin1').toUpperCase());

/** Same budgets as the snapshot's rewrite (StandaloneSink defaults). */
const CHUNK_ELEMENTS = 512;
const CHUNK_BYTES = 8 * 1024 * 1024;

export function translateRestore(argv: Buffer[], c: TranslateContext): Buffer[][] {
  const t = c.target;
  const key = argv[1];
  const payload = argv[3];
  if (key === undefined || payload === undefined || payload.length < 11) return [argv];
  let replace = false;
  let abs = false;
  for (let i = 4; i < argv.length; i++) {
    const o = up(argv[i]);
    if (o === 'REPLACE') replace = true;
    else if (o === 'ABSTTL') abs = true;
    else if (o === 'IDLETIME' || o === 'FREQ') i++;
  }
  const ttl = Number(argv[2]!.toString('latin1'));
  const version = payload.readUInt16LE(payload.length - 10);
  const meta = {
    family: version >= MIN_VALKEY_VERSION ? 'valkey' : 'redis',
    rdbVersion: version,
    rdbType: payload[0]!,
  } as KeyMeta;
  const refused = restoreRefusal(meta, t) ?? (payload.length > t.protoMaxBulkLen ? 'size' : null);
  if (refused === null) {
    if (t.versionNum < 50000 && argv.length > 4) {
      // Before 5.0 RESTORE has REPLACE only (no ABSTTL, IDLETIME, FREQ): the time left, counted now.
      const left = ttl > 0 && abs ? Math.max(1, ttl - c.now()) : ttl;
      return [[argv[0]!, key, B(String(left)), payload, ...(replace ? [B('REPLACE')] : [])]];
    }
    if (ttl <= 0 || abs || t.versionNum < 50000) return [argv];
    // Relative (pre-7.0 source): absolute from now, like every other relative expiry.
    return [[argv[0]!, key, B(String(c.now() + ttl)), payload, ...argv.slice(4), B('ABSTTL')]];
  }
  // skip-key: the sink drops every write to a key the snapshot skipped; let it see this one as is.
  if (c.skippedKey?.(c.db ?? 0, key)) return [argv];
  const at = ttl > 0 ? (abs ? ttl : c.now() + ttl) : null;
  return rewritePayload(key, payload, at, replace, refused, c);
}

function rewritePayload(
  key: Buffer,
  payload: Buffer,
  at: number | null,
  replace: boolean,
  refused: string,
  c: TranslateContext,
): Buffer[][] {
  const t = c.target;
  const out: Buffer[][] = replace ? [[B('DEL'), key]] : [];
  // Every argument is copied: the Rewriter hands out views into the decoder's input.
  const rw = new Rewriter(
    (a) =>
      out.push(
        a.map((x) => (typeof x === 'number' || typeof x === 'string' ? B(String(x)) : Buffer.from(x))),
      ),
    {
      chunkElements: CHUNK_ELEMENTS,
      chunkBytes: Math.max(1024, Math.min(CHUNK_BYTES, t.protoMaxBulkLen >>> 1)),
      // As the snapshot's sink decides it: the command table may answer yes when unreadable (ACL).
      fieldTtl: t.hasCommand('hpexpireat') && t.versionNum >= (t.family === 'valkey' ? 90000 : 70400),
      // skip-key decides per key in the snapshot only; here (as for HPEXPIRE) it stops like 'error'.
      hashFieldTtl: c.hashFieldTtl === 'skip-key' ? 'error' : (c.hashFieldTtl ?? 'error'),
      streamV2: t.versionNum >= 70000,
      createConsumer: t.versionNum >= 60200,
    },
    newSinkStats(),
    c.now,
  );
  let meta: KeyMeta | null = null;
  const visitor: KeyVisitor = {
    keyStart(m: KeyMeta) {
      meta = m;
      if (m.type === 'module')
        throw new ReplicantError(
          'ERR_TARGET_UNSUPPORTED',
          `the source replicated RESTORE of a module value (${m.module?.name ?? 'unknown module'}) in a payload the target ${t.family} ${versionText(t.versionNum)} cannot load (${refused}); a module value cannot be rewritten as commands`,
          { hint: 'migrate into a target of the same family and version or newer, with the module loaded' },
        );
      // Streams need XADD (5.0+); the snapshot's precheck refuses them the same way.
      if (m.type === 'stream' && (t.versionNum < 50000 || !t.hasCommand('xadd')))
        throw new ReplicantError(
          'ERR_TARGET_UNSUPPORTED',
          `the source replicated RESTORE of a stream; the target ${t.family} ${versionText(t.versionNum)} has no streams`,
          { hint: 'migrate into Redis 5.0+ or Valkey' },
        );
      rw.begin(key);
    },
    keyRaw() {},
    keyElements(chunk: ValueChunk) {
      rw.chunk(chunk);
    },
    keyEnd() {},
    functionLibrary() {},
  };
  try {
    decodeDumpPayload(payload, visitor, { db: c.db ?? 0, key });
  } catch (e) {
    // The Rewriter's refusal (a field-TTL hash per --hash-field-ttl) names the key, not the command.
    if (e instanceof ReplicantError && !(e instanceof RdbError))
      throw e.message.startsWith('the source replicated')
        ? e
        : new ReplicantError(e.code, `the source replicated RESTORE of ${e.message}`, {
            ...(e.hint !== undefined ? { hint: e.hint } : {}),
            cause: e,
          });
    throw new ReplicantError(
      'ERR_TARGET_UNSUPPORTED',
      `the source replicated RESTORE with a payload the target ${t.family} ${versionText(t.versionNum)} cannot load (${refused}) and replicant cannot decode it: ${(e as Error).message}`,
      { hint: 'migrate into a target of the same family and version or newer', cause: e },
    );
  }
  rw.finish(meta!);
  if (at !== null) out.push([B('PEXPIREAT'), key, B(String(at))]);
  return out;
}
