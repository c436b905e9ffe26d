/**
 * SkippedKeys (--hash-field-ttl skip-key in the stream phase): which stream commands touching a key the
 * snapshot skipped are dropped, sent, or turned into a DEL of the destination, and which stop the run.
 * The live path (7.4 source → 7.0 target) is in test/matrix/field-ttl.matrix.ts.
 */
import { describe, expect, it } from 'vitest';
import { SkippedKeys } from '../../src/sinks/skipped-keys.js';

const B = (...a: string[]) => a.map((s) => Buffer.from(s));
const kinds = (s: SkippedKeys, db: number, ...argv: string[]) => s.decide(db, B(...argv)).kind;

function withSkipped(...keys: string[]): SkippedKeys {
  const s = new SkippedKeys();
  for (const k of keys) s.add(0, Buffer.from(k));
  return s;
}

describe('SkippedKeys', () => {
  it('drops writes to a skipped key and sends everything else', () => {
    const s = withSkipped('h');
    expect(kinds(s, 0, 'HSET', 'h', 'f', 'v')).toBe('drop');
    expect(kinds(s, 0, 'HPEXPIRE', 'h', '100', 'FIELDS', '1', 'f')).toBe('drop');
    expect(kinds(s, 0, 'PEXPIREAT', 'h', '1')).toBe('drop');
    expect(kinds(s, 0, 'HSET', 'other', 'f', 'v')).toBe('send');
    expect(kinds(s, 1, 'HSET', 'h', 'f', 'v')).toBe('send'); // another DB's h
    expect(s.dropped).toBe(3);
  });

  it('a DEL, or a command that replaces the whole value, ends the skip', () => {
    const s = withSkipped('h', 'g', 'm');
    expect(kinds(s, 0, 'DEL', 'x', 'h')).toBe('send');
    expect(kinds(s, 0, 'HSET', 'h', 'f', 'v')).toBe('send'); // a new hash, written from its start
    expect(kinds(s, 0, 'SET', 'g', 'v')).toBe('send');
    expect(kinds(s, 0, 'APPEND', 'g', 'w')).toBe('send');
    expect(kinds(s, 0, 'MSET', 'a', '1', 'm', '2')).toBe('send');
    expect(s.size).toBe(0);
  });

  it('RENAME/COPY/MOVE carry the skip to the destination and delete it on the target', () => {
    const s = withSkipped('h');
    expect(s.decide(0, B('RENAME', 'h', 'h2'))).toEqual({ kind: 'replace', db: 0, del: Buffer.from('h2') });
    expect(s.has(0, Buffer.from('h'))).toBe(false);
    expect(s.has(0, Buffer.from('h2'))).toBe(true);
    expect(s.decide(0, B('COPY', 'h2', 'c', 'DB', '3', 'REPLACE'))).toEqual({
      kind: 'replace',
      db: 3,
      del: Buffer.from('c'),
    });
    expect(s.has(0, Buffer.from('h2'))).toBe(true); // COPY keeps the source
    expect(s.has(3, Buffer.from('c'))).toBe(true);
    expect(kinds(s, 0, 'MOVE', 'h2', '5')).toBe('drop');
    expect(s.has(5, Buffer.from('h2'))).toBe(true);
    // An ordinary key renamed over a skipped one: the destination is ordinary again.
    expect(kinds(s, 5, 'RENAME', 'plain', 'h2')).toBe('send');
    expect(s.has(5, Buffer.from('h2'))).toBe(false);
  });

  it('FLUSHDB, FLUSHALL and SWAPDB update the set', () => {
    const s = withSkipped('h');
    s.add(2, Buffer.from('k'));
    expect(kinds(s, 0, 'SWAPDB', '0', '2')).toBe('send');
    expect(s.has(2, Buffer.from('h'))).toBe(true);
    expect(s.has(0, Buffer.from('k'))).toBe(true);
    expect(kinds(s, 2, 'FLUSHDB')).toBe('send');
    expect(s.has(2, Buffer.from('h'))).toBe(false);
    expect(kinds(s, 0, 'FLUSHALL')).toBe('send');
    expect(s.size).toBe(0);
  });

  it('a command that reads a skipped key to write another stops with ERR_SKIPPED_KEY_READ', () => {
    const s = withSkipped('h');
    expect(() => s.decide(0, B('SUNIONSTORE', 'dst', 'a', 'h'))).toThrow(
      expect.objectContaining({ code: 'ERR_SKIPPED_KEY_READ', message: expect.stringContaining("'h'") }),
    );
    expect(() => s.decide(0, B('EVAL', 'return 1', '2', 'h', 'x'))).toThrow(/--hash-field-ttl skip-key/);
    // Only the destination skipped: it is replaced, so the command goes and the skip ends.
    expect(kinds(s, 0, 'SUNIONSTORE', 'h', 'a', 'b')).toBe('send');
    expect(s.size).toBe(0);
  });
});
