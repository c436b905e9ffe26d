import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestServer } from './helpers/server.js';

describe('test server helper', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startRedis({ 'list-max-listpack-size': '4' });
  });
  afterAll(async () => {
    await s?.stop();
  });
  it('starts a real redis-server with the given config', async () => {
    await s.client.set('k', 'v');
    expect(await s.client.get('k')).toBe('v');
    expect(await s.client.config('GET', 'list-max-listpack-size')).toEqual(['list-max-listpack-size', '4']);
  });
});
