import { describe, expect, test } from 'vitest';
import { ReplicantError, ServerReplyError } from '../../src/errors.js';
import { classifyReplyError } from '../../src/net/index.js';

const c = (msg: string) => classifyReplyError(new ServerReplyError(msg));

describe('classifyReplyError', () => {
  test('cluster redirections refresh the slot map', () => {
    expect(c('MOVED 3999 127.0.0.1:6381').action).toBe('refresh-slots');
    expect(c('ASK 3999 127.0.0.1:6381').action).toBe('refresh-slots');
  });

  test('transient states back off', () => {
    for (const m of [
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'CLUSTERDOWN The cluster is down',
      'LOADING Redis is loading the dataset in memory',
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
      'ERR max number of clients reached',
    ]) {
      expect(c(m).action, m).toBe('backoff');
    }
  });

  test('fatal replies carry a code and a useful hint', () => {
    const oom = c("OOM command not allowed when used memory > 'maxmemory'.");
    expect(oom).toMatchObject({ action: 'fatal', code: 'ERR_TARGET_OOM' });
    expect(oom.hint).toMatch(/maxmemory/);
    expect(oom.hint).toMatch(/noeviction/);
    const ro = c("READONLY You can't write against a read only replica.");
    expect(ro).toMatchObject({ action: 'fatal', code: 'ERR_TARGET_READONLY' });
    expect(ro.hint).toMatch(/replica/);
    // One READONLY hint for every writer (it was "its master" here and "its primary" in the sinks).
    expect(ro.hint).toMatch(/point --target at its primary/);
    expect(ro.hint).toMatch(/REPLICAOF NO ONE/);
    const np = c("NOPERM User app has no permissions to run the 'restore' command");
    expect(np).toMatchObject({ action: 'fatal', code: 'ERR_TARGET_NOPERM' });
    expect(np.hint).toContain('+restore');
    expect(
      c('MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.')
        .hint,
    ).toMatch(/disk/);
    const bk = c('BUSYKEY Target key name already exists.');
    expect(bk).toMatchObject({ action: 'fatal', code: 'ERR_TARGET_BUSYKEY' });
    expect(bk.hint).toContain('--on-conflict');
    expect(c('WRONGTYPE Operation against a key holding the wrong kind of value').code).toBe(
      'ERR_TARGET_WRONGTYPE',
    );
    const unk = c("ERR unknown command 'HPEXPIREAT', with args beginning with: 'k' ");
    expect(unk).toMatchObject({ action: 'fatal', code: 'ERR_TARGET_UNSUPPORTED' });
    expect(unk.hint).toContain('does not support HPEXPIREAT');
    expect(c('ERR value is not an integer or out of range')).toMatchObject({
      action: 'fatal',
      code: 'ERR_TARGET_REPLY',
    });
  });

  test('connection errors reconnect; other errors are fatal', () => {
    expect(classifyReplyError(new ReplicantError('ERR_TARGET_CONNECTION_LOST', 'x')).action).toBe(
      'reconnect',
    );
    expect(classifyReplyError(new ReplicantError('ERR_PROTOCOL', 'x')).action).toBe('fatal');
    expect(classifyReplyError(new Error('boom')).code).toBe('ERR_INTERNAL');
  });
});
