/**
 * The server builds of the version matrix, as listed by scripts/fetch-servers.mjs in
 * $REPLICANT_SERVER_CACHE/servers.json (default ~/.cache/replicant-servers).
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ServerBuild {
  name: string;
  family: 'redis' | 'valkey';
  version: string;
  path: string;
}

export const SERVER_CACHE =
  process.env.REPLICANT_SERVER_CACHE ?? path.join(os.homedir(), '.cache', 'replicant-servers');

export function serverBuilds(): ServerBuild[] {
  const f = path.join(SERVER_CACHE, 'servers.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as ServerBuild[]) : [];
}

/** 5.0.7 → 50007. */
export function versionNum(v: string): number {
  const [a = 0, b = 0, c = 0] = v.split('.').map(Number);
  return a * 10000 + b * 100 + c;
}
