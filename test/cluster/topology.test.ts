/**
 * The pure parts of cluster support: slot map parsing from each of the three topology commands (as a
 * 7.0 server formats them), the one redirect classifier, and where a command's keys are.
 */
import { describe, expect, it } from 'vitest';
import { ReplicantError, ServerReplyError } from '../../src/errors.js';
import {
  classifyRedirect,
  keySlot,
  parseNodes,
  parseShards,
  parseSlots,
  topologyOf,
  uncovered,
} from '../../src/net/cluster.js';
import { KS, keySpec } from '../../src/sinks/cluster-keys.js';

const B = (s: string) => Buffer.from(s);

describe('cluster topology parsing', () => {
  it('CLUSTER SHARDS: master, online replicas, ranges', () => {
    const reply = [
      [
        B('slots'),
        [0, 5460],
        B('nodes'),
        [
          [
            B('id'),
            B('a'),
            B('port'),
            7000,
            B('ip'),
            B('127.0.0.1'),
            B('endpoint'),
            B('127.0.0.1'),
            B('role'),
            B('master'),
            B('health'),
            B('online'),
          ],
          [
            B('id'),
            B('b'),
            B('port'),
            7003,
            B('ip'),
            B('127.0.0.1'),
            B('endpoint'),
            B('127.0.0.1'),
            B('role'),
            B('replica'),
            B('health'),
            B('online'),
          ],
          [
            B('id'),
            B('c'),
            B('port'),
            7006,
            B('ip'),
            B('127.0.0.1'),
            B('endpoint'),
            B('?'),
            B('role'),
            B('replica'),
            B('health'),
            B('loading'),
          ],
        ],
      ],
      [
        B('slots'),
        [5461, 16383],
        B('nodes'),
        [
          [
            B('id'),
            B('d'),
            B('port'),
            7001,
            B('ip'),
            B(''),
            B('endpoint'),
            B(''),
            B('role'),
            B('master'),
            B('health'),
            B('online'),
          ],
        ],
      ],
    ];
    const shards = parseShards(reply as never, '10.0.0.9');
    expect(shards).toHaveLength(2);
    expect(shards[0]!.master).toEqual({ id: 'a', host: '127.0.0.1', port: 7000 });
    expect(shards[0]!.replicas.map((r) => r.port)).toEqual([7003]);
    // An empty address means "the node you asked".
    expect(shards[1]!.master.host).toBe('10.0.0.9');
    const t = topologyOf(shards, 'shards');
    expect(t.slots[0]).toBe(0);
    expect(t.slots[16383]).toBe(1);
    expect(uncovered(t)).toBe('');
  });

  it('CLUSTER SLOTS: ranges grouped by master', () => {
    const reply = [
      [0, 99, [B('127.0.0.1'), 7000, B('a')], [B('127.0.0.1'), 7003, B('b')]],
      [200, 300, [B('127.0.0.1'), 7000, B('a')]],
      [100, 199, [B('127.0.0.1'), 7001, B('c')]],
    ];
    const shards = parseSlots(reply as never, 'x');
    expect(shards).toHaveLength(2);
    expect(shards[0]!.ranges).toEqual([
      [0, 99],
      [200, 300],
    ]);
    expect(uncovered(topologyOf(shards, 'slots'))).toBe('301-16383');
  });

  it('CLUSTER NODES: migrating/importing markers ignored, failed nodes left out', () => {
    const text = [
      'a 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-d]',
      'b 127.0.0.1:7003@17003 slave a 0 0 1 connected',
      'd 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-16383 [5461-<-a]',
      'e 127.0.0.1:7009@17009 master,fail - 0 0 3 disconnected',
    ].join('\n');
    const shards = parseNodes(text, 'x');
    expect(shards.map((s) => s.master.port)).toEqual([7000, 7001]);
    expect(shards[0]!.ranges).toEqual([[0, 5460]]);
    expect(shards[0]!.replicas.map((r) => r.port)).toEqual([7003]);
  });
});

describe('the redirect classifier', () => {
  it('sorts MOVED, ASK, TRYAGAIN, CLUSTERDOWN, lost connections and the rest', () => {
    expect(classifyRedirect(new ServerReplyError('MOVED 3999 127.0.0.1:6381'))).toEqual({
      kind: 'moved',
      slot: 3999,
      host: '127.0.0.1',
      port: 6381,
    });
    expect(classifyRedirect(new ServerReplyError('ASK 12 :7002'))).toEqual({
      kind: 'ask',
      slot: 12,
      host: '',
      port: 7002,
    });
    expect(
      classifyRedirect(new ServerReplyError('TRYAGAIN Multiple keys request during rehashing of slot')).kind,
    ).toBe('tryagain');
    expect(classifyRedirect(new ServerReplyError('CLUSTERDOWN The cluster is down')).kind).toBe(
      'clusterdown',
    );
    expect(classifyRedirect(new ReplicantError('ERR_TARGET_CONNECTION_LOST', 'x')).kind).toBe('connection');
    expect(classifyRedirect(new ServerReplyError('WRONGTYPE Operation against a key')).kind).toBe('none');
    expect(classifyRedirect(new ServerReplyError('OOM command not allowed')).kind).toBe('none');
  });

  it('slots: protocol.md check values, hash tags', () => {
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot(B('123456789'))).toBe(0x31c3 & 0x3fff);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
  });
});

describe('key positions', () => {
  const spec = (...a: string[]) => keySpec(a.map(B));
  it('finds the keys of the write commands a stream carries', () => {
    expect(spec('SET', 'k', 'v')).toEqual({ kind: KS.ONE, keys: [1] });
    expect(spec('XGROUP', 'CREATE', 'k', 'g', '$')).toEqual({ kind: KS.ONE, keys: [2] });
    expect(spec('DEL', 'a', 'b').kind).toBe(KS.EACH);
    expect(spec('MSET', 'a', '1', 'b', '2').kind).toBe(KS.PAIRS);
    expect(spec('RENAME', 'a', 'b')).toEqual({ kind: KS.FIXED, keys: [1, 2] });
    expect(spec('ZUNIONSTORE', 'd', '2', 'a', 'b', 'WEIGHTS', '1', '2')).toEqual({
      kind: KS.FIXED,
      keys: [1, 3, 4],
    });
    expect(spec('EVAL', 'return 1', '2', 'a', 'b', 'x')).toEqual({ kind: KS.FIXED, keys: [3, 4] });
    expect(spec('SORT', 'a', 'BY', 'w', 'STORE', 'd')).toEqual({ kind: KS.FIXED, keys: [1, 5] });
    expect(spec('FLUSHALL').kind).toBe(KS.NONE);
    expect(spec('FUNCTION', 'LOAD', 'x').kind).toBe(KS.NONE);
    expect(spec('PUBLISH', 'ch', 'm').kind).toBe(KS.ANY);
  });
});
