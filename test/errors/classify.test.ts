/**
 * Every decision about an error reads its class from the catalogue (src/error-codes.ts): the reply
 * classifier (standalone target), the redirect classifier (cluster target), the handshake's transient
 * replies, the sync loops' reconnect decision and the sinks' default hints. No server needed.
 */
import { describe, expect, test } from 'vitest';
import {
  CODES,
  codeClass,
  type ErrorClass,
  isReconnectable,
  REPLIES,
  replyClass,
} from '../../src/error-codes.js';
import { ReplicantError, ServerReplyError } from '../../src/errors.js';
import { classifyRedirect } from '../../src/net/cluster.js';
import { classifyReplyError } from '../../src/net/index.js';
import { isTransient } from '../../src/replication/errors.js';
import { defaultHint } from '../../src/sinks/errors.js';

/** A reply of each prefix, as a server words it. */
const SAMPLES: Record<keyof typeof REPLIES, string> = {
  MOVED: 'MOVED 3999 127.0.0.1:6381',
  ASK: 'ASK 3999 127.0.0.1:6381',
  TRYAGAIN: 'TRYAGAIN Multiple keys request during rehashing of slot',
  CLUSTERDOWN: 'CLUSTERDOWN The cluster is down',
  LOADING: 'LOADING Redis is loading the dataset in memory',
  BUSY: 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
  MASTERDOWN: "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
  NOMASTERLINK: "NOMASTERLINK Can't SYNC while not connected with my master",
  READONLY: "READONLY You can't write against a read only replica.",
  OOM: "OOM command not allowed when used memory > 'maxmemory'.",
  MISCONF:
    'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
  NOPERM: "NOPERM User app has no permissions to run the 'restore' command",
  NOAUTH: 'NOAUTH Authentication required.',
  WRONGPASS: 'WRONGPASS invalid username-password pair or user is disabled.',
  BUSYKEY: 'BUSYKEY Target key name already exists.',
  WRONGTYPE: 'WRONGTYPE Operation against a key holding the wrong kind of value',
  EXECABORT: 'EXECABORT Transaction discarded because of previous errors.',
  NOREPLICAS: 'NOREPLICAS Not enough good replicas to write.',
};

/** The one answer per prefix: [standalone target / source, cluster target]. */
const EXPECTED: Record<keyof typeof REPLIES, [ErrorClass, ErrorClass]> = {
  MOVED: ['refresh-slots', 'refresh-slots'],
  ASK: ['refresh-slots', 'refresh-slots'],
  TRYAGAIN: ['backoff', 'backoff'],
  CLUSTERDOWN: ['backoff', 'backoff'],
  LOADING: ['backoff', 'backoff'],
  BUSY: ['backoff', 'backoff'],
  MASTERDOWN: ['backoff', 'backoff'],
  NOMASTERLINK: ['backoff', 'backoff'],
  // Standalone: the target is a replica, a human points --target at the primary. Cluster: a master
  // demoted by a failover; the slot map is stale.
  READONLY: ['stop', 'refresh-slots'],
  OOM: ['stop', 'stop'],
  MISCONF: ['stop', 'stop'],
  NOPERM: ['stop', 'stop'],
  NOAUTH: ['stop', 'stop'],
  WRONGPASS: ['stop', 'stop'],
  BUSYKEY: ['stop', 'stop'],
  WRONGTYPE: ['stop', 'stop'],
  EXECABORT: ['stop', 'stop'],
  NOREPLICAS: ['stop', 'stop'],
};

const reply = (p: keyof typeof REPLIES) => new ServerReplyError(SAMPLES[p]);
const prefixes = Object.keys(REPLIES) as (keyof typeof REPLIES)[];

describe('reply prefix → class', () => {
  test('the catalogue gives each prefix its class, standalone and cluster', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...prefixes].sort());
    for (const p of prefixes) {
      const e = reply(p);
      expect([replyClass(e.prefix, e.message, false), replyClass(e.prefix, e.message, true)], p).toEqual(
        EXPECTED[p],
      );
    }
    // -ERR replies by their text; anything else stops.
    expect(replyClass('ERR', 'ERR max number of clients reached', false)).toBe('backoff');
    expect(replyClass('ERR', "ERR unknown command 'HPEXPIREAT'", false)).toBe('stop');
    expect(replyClass('ERR', 'ERR value is not an integer or out of range', true)).toBe('stop');
    expect(replyClass('NOSCRIPT', 'NOSCRIPT No matching script.', true)).toBe('stop');
  });

  test('classifyReplyError (standalone target) reads it: action, code and hint', () => {
    for (const p of prefixes) {
      const c = classifyReplyError(reply(p));
      const want = EXPECTED[p][0];
      expect(c.action, p).toBe(want === 'stop' ? 'fatal' : want);
      expect(c.code, p).toBe(REPLIES[p].code);
      if (p !== 'NOPERM') expect(c.hint, p).toBe(REPLIES[p].hint);
    }
    expect(classifyReplyError(reply('NOPERM')).hint).toContain("may not run 'restore'");
    expect(classifyReplyError(reply('NOPERM')).hint).toContain('+restore');
  });

  test('classifyRedirect (cluster target) reads it: retried for backoff and refresh-slots, else none', () => {
    for (const p of prefixes) {
      const kind = classifyRedirect(reply(p)).kind;
      const want = EXPECTED[p][1];
      if (want === 'stop') expect(kind, p).toBe('none');
      else expect(kind, p).not.toBe('none');
    }
    expect(classifyRedirect(reply('MOVED'))).toEqual({
      kind: 'moved',
      slot: 3999,
      host: '127.0.0.1',
      port: 6381,
    });
    expect(classifyRedirect(reply('TRYAGAIN')).kind).toBe('tryagain');
    expect(classifyRedirect(reply('CLUSTERDOWN')).kind).toBe('clusterdown');
    expect(classifyRedirect(reply('READONLY')).kind).toBe('clusterdown'); // back off, re-read the map
    expect(classifyRedirect(reply('BUSY')).kind).toBe('loading');
    expect(classifyRedirect(new ServerReplyError('ERR max number of clients reached')).kind).toBe('loading');
    expect(classifyRedirect(new ServerReplyError('ERR value is not an integer')).kind).toBe('none');
  });

  test('isTransient (source handshake) is the backoff class, by prefix only', () => {
    for (const p of prefixes) expect(isTransient(`-${SAMPLES[p]}`), p).toBe(EXPECTED[p][0] === 'backoff');
    expect(isTransient('-LOADING')).toBe(true);
    expect(isTransient('-BUSYKEY Target key name already exists.')).toBe(false);
    expect(isTransient('+LOADING')).toBe(false);
    expect(isTransient('-ERR max number of clients reached')).toBe(false);
  });

  test("the sinks' default hint is the catalogue's for every known prefix", () => {
    for (const p of prefixes) expect(defaultHint(reply(p)), p).toBe(REPLIES[p].hint);
    expect(defaultHint(new ServerReplyError('ERR DUMP payload version or checksum are wrong'))).toMatch(
      /--no-restore/,
    );
    expect(defaultHint(reply('READONLY'))).toMatch(/point --target at its primary/);
  });
});

describe('code → class', () => {
  /** The codes a reconnect cures, by which connection. */
  const SOURCE = [
    'ERR_SENTINEL_UNREACHABLE',
    'ERR_SOURCE_BUSY',
    'ERR_SOURCE_CONNECT',
    'ERR_SOURCE_CONNECTION_LOST',
    'ERR_SOURCE_LOST',
    'ERR_SOURCE_TIMEOUT',
  ];
  const TARGET = ['ERR_CONNECT', 'ERR_TARGET_CONNECTION_LOST'];

  test('each code has the class the decisions expect', () => {
    const byClass: Record<ErrorClass, string[]> = {
      retry: [],
      backoff: [],
      reconnect: [],
      'refresh-slots': [],
      stop: [],
    };
    for (const c of Object.keys(CODES)) byClass[codeClass(c)].push(c);
    expect(byClass.reconnect.sort()).toEqual([...SOURCE, ...TARGET].sort());
    expect(byClass['refresh-slots'].sort()).toEqual(['ERR_TARGET_ASK', 'ERR_TARGET_MOVED']);
    expect(byClass.backoff.sort()).toEqual([
      'ERR_TARGET_BUSY',
      'ERR_TARGET_CLUSTERDOWN',
      'ERR_TARGET_LOADING',
      'ERR_TARGET_MASTERDOWN',
      'ERR_TARGET_MAXCLIENTS',
      'ERR_TARGET_TRYAGAIN',
    ]);
    expect(byClass.retry).toEqual([]);
    for (const c of [
      'ERR_CONFIG',
      'ERR_TARGET_READONLY',
      'ERR_TARGET_OOM',
      'ERR_TARGET_TIMEOUT',
      'ERR_INTERNAL',
    ])
      expect(codeClass(c), c).toBe('stop');
    expect(codeClass('ERR_NOT_OURS')).toBe('stop');
  });

  test('one reconnect list for both sync loops (source link), another for target connections', () => {
    const all = Object.keys(CODES);
    expect(all.filter((c) => isReconnectable(c, 'source')).sort()).toEqual(SOURCE);
    expect(all.filter((c) => isReconnectable(c, 'target')).sort()).toEqual(TARGET);
    expect(isReconnectable('ERR_NOT_OURS', 'source')).toBe(false);
  });

  test('classifyReplyError and classifyRedirect read the code class of connection errors', () => {
    expect(classifyReplyError(new ReplicantError('ERR_TARGET_CONNECTION_LOST', 'x')).action).toBe(
      'reconnect',
    );
    expect(classifyReplyError(new ReplicantError('ERR_CONNECT', 'x')).action).toBe('reconnect');
    expect(classifyReplyError(new ReplicantError('ERR_TARGET_TIMEOUT', 'x')).action).toBe('fatal');
    expect(classifyRedirect(new ReplicantError('ERR_CONNECT', 'x')).kind).toBe('connection');
    expect(classifyRedirect(new ReplicantError('ERR_TARGET_CONNECTION_LOST', 'x')).kind).toBe('connection');
    expect(classifyRedirect(new ReplicantError('ERR_TARGET_TIMEOUT', 'x')).kind).toBe('none');
    expect(classifyRedirect(new ReplicantError('ERR_PROTOCOL', 'x')).kind).toBe('none');
  });
});
