import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { describeEndpoint, parseRedisUrl } from '../../src/net/index.js';

function configError(url: string): ConfigError {
  try {
    parseRedisUrl(url);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`accepted ${url}`);
}

describe('parseRedisUrl', () => {
  test('accepted forms', () => {
    expect(parseRedisUrl('redis://localhost:6380')).toEqual({ host: 'localhost', port: 6380 });
    expect(parseRedisUrl('redis://10.0.0.5')).toEqual({ host: '10.0.0.5', port: 6379 });
    expect(parseRedisUrl('redis://u:p@h:1/3')).toEqual({
      host: 'h',
      port: 1,
      username: 'u',
      password: 'p',
      db: 3,
    });
    expect(parseRedisUrl('redis://:secret@h:2')).toEqual({ host: 'h', port: 2, password: 'secret' });
    expect(parseRedisUrl('REDIS://h:2/')).toEqual({ host: 'h', port: 2 });
    expect(parseRedisUrl('redis://[::1]:7000/0')).toEqual({ host: '::1', port: 7000, db: 0 });
  });

  test('percent-decoding of user and password (and @ or : inside them)', () => {
    const o = parseRedisUrl('redis://app%40corp:p%3Aa%40ss%2F%25@h:6379');
    expect(o.username).toBe('app@corp');
    expect(o.password).toBe('p:a@ss/%');
  });

  test('rediss:// says TLS is not supported yet', () => {
    const e = configError('rediss://u:hunter2@h:6380');
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toContain('TLS is not supported yet');
    expect(e.message).not.toContain('hunter2');
  });

  test('bad input gives a hint with the expected form, never the password', () => {
    for (const url of [
      'localhost:6379',
      'http://h:1',
      'redis://',
      'redis://h:0',
      'redis://h:65536',
      'redis://h:port',
      'redis://h:1/x',
      'redis://h:1?db=2',
      'redis://u:%zz@h:1',
      'redis://[::1',
      'redis://bad host:1',
    ]) {
      const e = configError(url);
      expect(e.hint).toContain('redis://[user:password@]host:port[/db]');
    }
    const e = configError('redis://user:topsecret@h:99999');
    expect(e.message).not.toContain('topsecret');
  });

  test('describeEndpoint never shows the password', () => {
    const o = parseRedisUrl('redis://admin:topsecret@db.example:6379/1');
    expect(describeEndpoint(o)).toBe('admin@db.example:6379');
    expect(describeEndpoint({ host: '::1', port: 1 })).toBe('[::1]:1');
  });
});
